#!/usr/bin/env bash
# Release a snip image to Kubernetes: render, validate, database first, roll out, check.
#
# Order matters and is the point of this script. In this order (docs/kubernetes.md,
# "First install", lists the same steps; a test keeps them equal):
#   1. render the kustomize tree with the new image tag and refuse placeholder secrets;
#      cluster-scoped objects (Namespace, ClusterRoles) are left to a cluster admin;
#   2. validate the rendered manifests against the cluster (server-side dry run);
#   3. apply everything that does not run the snip image (configuration, policies,
#      PostgreSQL, Redis, monitoring) and WAIT for PostgreSQL to be ready: if it never
#      is, stop here, no snip workload was touched;
#   4. apply the snip workloads and wait for each rollout. Each new pod's `migrate`
#      init container brings the schema to this release first (advisory lock, one pod
#      at a time) and /readyz keeps the pod out of the Service until the schema
#      matches, so a failed migration stalls the rollout while the old pods serve;
#   5. health-check; with --auto-rollback a failed rollout or check is undone for every
#      snip workload (scripts/lib/kube.sh, kube_undo_release).
# Migrations are expand/contract: the previous release still runs on the new schema,
# which is what makes step 5's rollback safe (see Runbook.md, "Rollback").
set -euo pipefail

SCRIPT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=scripts/lib/common.sh
source "${SCRIPT_DIR}/../lib/common.sh"
# shellcheck source=scripts/lib/kube.sh
source "${SCRIPT_DIR}/../lib/kube.sh"

readonly EX_RENDER=3 EX_PLACEHOLDER=4 EX_DATABASE=5 EX_ROLLOUT=6 EX_HEALTH=7

usage() {
  cat <<'EOF'
Usage: scripts/deployment/deploy.sh --tag TAG [options]

Deploy image ghcr.io/snip-project/snip:TAG: apply everything but the snip workloads,
wait for PostgreSQL, apply the snip workloads (their `migrate` init container migrates
the schema first), wait for every rollout, health check.

Options:
  -t, --tag TAG               image tag to deploy, e.g. 0.2.0 (default: $IMAGE_TAG); never "latest"
  -k, --kustomize DIR         kustomize directory to render (default: $SNIP_KUSTOMIZE_DIR, else k8s)
      --timeout DURATION      rollout status timeout (default 300s)
      --database-timeout D    how long PostgreSQL may take to be ready (default 600s)
      --health-url URL        also check this URL after the rollout (else cluster checks only)
      --auto-rollback         undo the rollout when it or the health check fails
      --change-cause TEXT     recorded as kubernetes.io/change-cause (default: "deploy TAG by USER")
      --allow-placeholder-secrets  apply even if the rendered manifests contain CHANGE_ME
                              (a throwaway test cluster only)
  -y, --yes                   do not ask to confirm the kube context
      --dry-run               render, check and validate (server-side dry run); change nothing
  -h, --help                  show this help

Environment:
  IMAGE_TAG, SNIP_KUSTOMIZE_DIR   defaults for --tag and --kustomize
  SNIP_IMAGE                      the API image (default ghcr.io/snip-project/snip)
  SNIP_OPS_IMAGE                  the backup image built from the same release
                                  (default ghcr.io/snip-project/snip-ops; "" leaves it alone)
  SNIP_NAMESPACE (default snip), SNIP_DEPLOYMENT (default snip-api)
  SNIP_DEPLOYMENTS, SNIP_CRONJOBS the snip workloads (scripts/lib/kube.sh)
  SNIP_DATABASE                   PostgreSQL StatefulSet waited for (default snip-postgres;
                                  absent from the rendering = a managed database, not waited)

Exit codes:
  0   deployed and healthy (or degraded: a warning is printed)
  1   other failure (including: context not confirmed)
  3   the manifests do not render or validate
  4   rendered manifests contain CHANGE_ME placeholders
  5   PostgreSQL did not become ready: no snip workload was changed
  6   the rollout did not complete in time (rolled back with --auto-rollback)
  7   the health check says down after the rollout (rolled back with --auto-rollback)
  64  bad command line
  69  kubectl (or another tool) is missing, or no kube context
EOF
}

TAG="${IMAGE_TAG:-}"
KUSTOMIZE_DIR="${SNIP_KUSTOMIZE_DIR:-k8s}"
TIMEOUT=300s
DATABASE_TIMEOUT=600s
HEALTH_URL=""
AUTO_ROLLBACK=0
CHANGE_CAUSE=""
ALLOW_PLACEHOLDERS=0
SNIP_IMAGE="${SNIP_IMAGE:-ghcr.io/snip-project/snip}"
SNIP_OPS_IMAGE="${SNIP_OPS_IMAGE-ghcr.io/snip-project/snip-ops}"
DATABASE="${SNIP_DATABASE:-snip-postgres}"

while [[ $# -gt 0 ]]; do
  case "$1" in
    -t | --tag) need_value "$@"; TAG="$2"; shift 2 ;;
    -k | --kustomize) need_value "$@"; KUSTOMIZE_DIR="$2"; shift 2 ;;
    --timeout) need_value "$@"; TIMEOUT="$2"; shift 2 ;;
    --database-timeout) need_value "$@"; DATABASE_TIMEOUT="$2"; shift 2 ;;
    --health-url) need_value "$@"; HEALTH_URL="$2"; shift 2 ;;
    --auto-rollback) AUTO_ROLLBACK=1; shift ;;
    --change-cause) need_value "$@"; CHANGE_CAUSE="$2"; shift 2 ;;
    --allow-placeholder-secrets) ALLOW_PLACEHOLDERS=1; shift ;;
    -y | --yes) ASSUME_YES=1; shift ;;
    --dry-run) DRY_RUN=1; shift ;;
    -h | --help) usage; exit 0 ;;
    *) usage_error "unknown option: $1" ;;
  esac
done
[[ -n "${TAG}" ]] || usage_error "--tag TAG is required (e.g. --tag 0.2.0)"
[[ "${TAG}" =~ ^[A-Za-z0-9_][A-Za-z0-9._-]{0,127}$ ]] || usage_error "invalid image tag '${TAG}'"
[[ "${TAG}" != latest ]] || usage_error "refusing tag 'latest': deploy a pinned release version"
[[ -d "${KUSTOMIZE_DIR}" ]] || usage_error "kustomize directory not found: ${KUSTOMIZE_DIR}"

require_tools kubectl sed grep awk
[[ -n "${CHANGE_CAUSE}" ]] || CHANGE_CAUSE="deploy ${TAG} by ${USER:-$(id -un)} at $(date -u +%Y-%m-%dT%H:%M:%SZ)"

# ----------------------------------------------------------------- 1. render
WORK="$(mktemp -d)"
trap 'rm -rf -- "${WORK}"' EXIT
RENDERED="${WORK}/rendered.yaml"

info "rendering ${KUSTOMIZE_DIR} with image ${SNIP_IMAGE}:${TAG}"
kubectl kustomize "${KUSTOMIZE_DIR}" >"${WORK}/base.yaml" ||
  die "${EX_RENDER}" "kubectl kustomize ${KUSTOMIZE_DIR} failed"
# Both images of a release (Dockerfile targets runtime and ops) get the new tag; other
# images (postgres, redis, exporters) keep theirs. The match is on the whole image name,
# so "snip" never matches "snip-ops".
retag() { # retag IMAGE FILE_IN FILE_OUT
  local re
  re="$(printf '%s' "$1" | sed 's/[.[\*^$/]/\\&/g')"
  sed -E "s#(image:[[:space:]]*\"?)${re}(:[A-Za-z0-9._-]+|@sha256:[0-9a-f]+)?(\"?[[:space:]]*)\$#\\1$1:${TAG}\\3#" "$2" >"$3"
}
retag "${SNIP_IMAGE}" "${WORK}/base.yaml" "${RENDERED}"
if [[ -n "${SNIP_OPS_IMAGE}" ]]; then
  retag "${SNIP_OPS_IMAGE}" "${RENDERED}" "${WORK}/ops.yaml"
  mv -- "${WORK}/ops.yaml" "${RENDERED}"
fi
grep -qF "${SNIP_IMAGE}:${TAG}" "${RENDERED}" ||
  die "${EX_RENDER}" "no container uses ${SNIP_IMAGE} in ${KUSTOMIZE_DIR}; nothing to deploy"

if grep -n 'CHANGE_ME' "${RENDERED}" >"${WORK}/placeholders"; then
  if [[ "${ALLOW_PLACEHOLDERS}" == 1 ]]; then
    warn "rendered manifests contain CHANGE_ME placeholders; applying anyway (--allow-placeholder-secrets)"
  else
    error "rendered manifests still contain CHANGE_ME placeholders (no real secret may ship):"
    sed 's/^/    /' "${WORK}/placeholders" >&2
    die "${EX_PLACEHOLDER}" "create the real Secret out of band (Runbook.md, 'Secrets') and deploy an overlay without it, e.g. --kustomize k8s/overlays/production"
  fi
fi

# split_manifests : the rendered stream in three files.
#   cluster.yaml  cluster-scoped objects (Namespace, ClusterRole, ...): never applied here.
#                 The deployer's Role is namespaced (k8s/security/rbac.yaml); a cluster
#                 admin applies these once (docs/kubernetes.md, "First install").
#   app.yaml      the snip workloads (objects whose containers run the snip images);
#   secrets.yaml  Secrets (the plain base's placeholders, with --allow-placeholder-secrets):
#                 applied server-side, so no last-applied-configuration annotation keeps
#                 their values in plain text;
#   infra.yaml    everything else, applied first.
split_manifests() {
  awk -v images="${SNIP_IMAGE}:${TAG}|${SNIP_OPS_IMAGE:-none}:" -v secrets="${WORK}/secrets.yaml" \
    -v cluster="${WORK}/cluster.yaml" -v app="${WORK}/app.yaml" -v infra="${WORK}/infra.yaml" '
    function flush() {
      if (doc == "") return
      if (doc ~ /(^|\n)kind: (Namespace|ClusterRole|ClusterRoleBinding|PersistentVolume|StorageClass|CustomResourceDefinition|PriorityClass)\n/) out = cluster
      else if (doc ~ /(^|\n)kind: Secret\n/) out = secrets
      else if (doc ~ ("\n *(- )?image: \"?(" images ")")) out = app
      else out = infra
      printf "---\n%s", doc > out
      doc = ""
    }
    BEGIN { gsub(/\./, "\\.", images) }
    /^---$/ { flush(); next }
    { doc = doc $0 "\n" }
    END { flush() }
  ' "${RENDERED}"
  touch "${WORK}/cluster.yaml" "${WORK}/secrets.yaml" "${WORK}/app.yaml" "${WORK}/infra.yaml"
}
split_manifests
cat "${WORK}/infra.yaml" "${WORK}/app.yaml" >"${WORK}/namespaced.yaml"
HAS_SECRETS=0
grep -q '^kind: Secret' "${WORK}/secrets.yaml" && HAS_SECRETS=1
if grep -q '^kind:' "${WORK}/cluster.yaml"; then
  info "not applied (cluster-scoped, for a cluster admin, once): $(grep -A2 '^kind:' "${WORK}/cluster.yaml" | awk '/^kind:/ {k=$2} /^  name:/ {printf "%s/%s ", k, $2}')"
fi

# apply_secrets [ARGS] : server-side apply of the Secrets (no plain-text copy in an
# annotation, as client-side apply's last-applied-configuration would keep).
apply_secrets() {
  k apply --server-side --field-manager=snip-deploy "$@" -f "${WORK}/secrets.yaml"
}

# ------------------------------------------------------------- 2. preflight
kube_show_context
if [[ "${DRY_RUN}" != 1 ]]; then
  confirm "Deploy ${SNIP_IMAGE}:${TAG} to context '$(kube_context)', namespace '${SNIP_NAMESPACE}'?" ||
    die "${EX_FAIL}" "not confirmed; nothing changed"
fi
CURRENT_IMAGE="$(k get "deployment/${SNIP_DEPLOYMENT}" -o jsonpath='{.spec.template.spec.containers[0].image}' 2>/dev/null || true)"
info "currently running: ${CURRENT_IMAGE:-<no deployment yet>}"

# Server-side dry run: admission, schemas and immutability as the real apply would see
# them, without persisting anything. Always run, also with --dry-run.
{
  k apply --dry-run=server -f "${WORK}/namespaced.yaml" &&
    if [[ "${HAS_SECRETS}" == 1 ]]; then apply_secrets --dry-run=server; fi
} >"${WORK}/validate.log" 2>&1 || {
  cat "${WORK}/validate.log" >&2
  die "${EX_RENDER}" "the cluster rejects the rendered manifests (server-side dry run)"
}
info "manifests validated by the API server (dry run)"

WAIT_DATABASE=0
grep -q "^kind: StatefulSet" "${WORK}/infra.yaml" && grep -q "^  name: ${DATABASE}\$" "${WORK}/infra.yaml" && WAIT_DATABASE=1
if [[ "${DRY_RUN}" == 1 ]]; then
  info "[dry-run] would apply $(grep -c '^kind:' "${WORK}/infra.yaml") objects (configuration, database, policies, monitoring)"
  [[ "${WAIT_DATABASE}" == 0 ]] || info "[dry-run] would wait for statefulset/${DATABASE} (${DATABASE_TIMEOUT})"
  info "[dry-run] would apply $(grep -c '^kind:' "${WORK}/app.yaml") snip workloads with ${SNIP_IMAGE}:${TAG}, annotate change-cause '${CHANGE_CAUSE}'"
  info "[dry-run] would wait for the rollouts (${TIMEOUT}) and health-check"
  exit 0
fi

# ---------------------------------------------------- 3. configuration and database
[[ "${HAS_SECRETS}" == 0 ]] || apply_secrets
k apply -f "${WORK}/infra.yaml"
if [[ "${WAIT_DATABASE}" == 1 ]]; then
  info "waiting for statefulset/${DATABASE} (timeout ${DATABASE_TIMEOUT})"
  if ! k rollout status "statefulset/${DATABASE}" --timeout="${DATABASE_TIMEOUT}"; then
    k get pods -l app.kubernetes.io/component=postgres >&2 || true
    die "${EX_DATABASE}" "PostgreSQL is not ready: no snip workload was changed (still ${CURRENT_IMAGE:-absent})"
  fi
else
  info "no statefulset/${DATABASE} in the manifests (managed database): not waited for"
fi

# ------------------------------------------------------------ 4. roll out
rollback() {
  if [[ "${AUTO_ROLLBACK}" == 1 && -n "${CURRENT_IMAGE}" ]]; then
    warn "--auto-rollback: undoing the release of ${TAG} on every snip workload"
    if kube_undo_release "" && kube_wait_rollouts "${TIMEOUT}"; then
      warn "rolled back to the previous revision"
    else
      error "automatic rollback failed too: act by hand (Runbook.md, 'Rollback')"
    fi
  elif [[ "${AUTO_ROLLBACK}" == 1 ]]; then
    warn "first deployment: there is no previous revision to roll back to"
  else
    warn "to undo: scripts/deployment/rollback.sh (or re-run with --auto-rollback)"
  fi
}

# Annotate before applying: the controller copies the Deployment's change-cause to the
# new ReplicaSet, which is what `kubectl rollout history` shows.
if [[ -n "${CURRENT_IMAGE}" ]]; then
  for d in ${SNIP_DEPLOYMENTS}; do
    k annotate "deployment/${d}" "kubernetes.io/change-cause=${CHANGE_CAUSE}" --overwrite
  done
fi
k apply -f "${WORK}/app.yaml"
if [[ -z "${CURRENT_IMAGE}" ]]; then
  for d in ${SNIP_DEPLOYMENTS}; do
    k annotate "deployment/${d}" "kubernetes.io/change-cause=${CHANGE_CAUSE}" --overwrite
  done
fi

if ! kube_wait_rollouts "${TIMEOUT}"; then
  error "rollout of ${TAG} did not complete within ${TIMEOUT}; the schema step of the new pods:"
  k logs -l app.kubernetes.io/name=snip -c migrate --prefix --tail=20 >&2 || true
  k get pods -l app.kubernetes.io/name=snip >&2 || true
  rollback
  exit "${EX_ROLLOUT}"
fi

# ------------------------------------------------------------ 5. health
health_rc=0
post_rollout_health "${HEALTH_URL}" || health_rc=$?
case "${health_rc}" in
  0) info "deployed ${SNIP_IMAGE}:${TAG}: healthy" ;;
  1) warn "deployed ${SNIP_IMAGE}:${TAG}, but the service is DEGRADED (see above)" ;;
  *)
    error "health check after the rollout says DOWN (exit ${health_rc})"
    rollback
    exit "${EX_HEALTH}"
    ;;
esac
