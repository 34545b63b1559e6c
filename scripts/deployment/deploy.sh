#!/usr/bin/env bash
# Release a snip image to Kubernetes: render, validate, migrate, roll out, check.
#
# Order matters and is the point of this script:
#   1. render the kustomize tree with the new image tag and refuse placeholder secrets;
#   2. validate the rendered manifests against the cluster (server-side dry run);
#   3. run the migration Job with the new image and WAIT for it: if it fails, stop here,
#      the Deployment is never touched (the old pods keep serving the old code);
#   4. apply everything, record the change cause, wait for the rollout;
#   5. health-check; with --auto-rollback a failed rollout or check is undone.
# Migrations are expand/contract: the previous release still runs on the new schema,
# which is what makes step 5's rollback safe (see Runbook.md, "Rollback").
set -euo pipefail

SCRIPT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=scripts/lib/common.sh
source "${SCRIPT_DIR}/../lib/common.sh"
# shellcheck source=scripts/lib/kube.sh
source "${SCRIPT_DIR}/../lib/kube.sh"

readonly EX_RENDER=3 EX_PLACEHOLDER=4 EX_MIGRATION=5 EX_ROLLOUT=6 EX_HEALTH=7

usage() {
  cat <<'EOF'
Usage: scripts/deployment/deploy.sh --tag TAG [options]

Deploy image ghcr.io/snip-project/snip:TAG: migration Job first (waited for), then
`kubectl apply` of the rendered kustomize tree, `rollout status`, health check.

Options:
  -t, --tag TAG               image tag to deploy, e.g. 0.2.0 (default: $IMAGE_TAG); never "latest"
  -k, --kustomize DIR         kustomize directory to render (default: $SNIP_KUSTOMIZE_DIR, else k8s)
      --timeout DURATION      rollout status timeout (default 300s)
      --migration-timeout D   how long the migration Job may take (default 600s)
      --health-url URL        also check this URL after the rollout (else cluster checks only)
      --auto-rollback         undo the rollout when it or the health check fails
      --change-cause TEXT     recorded as kubernetes.io/change-cause (default: "deploy TAG by USER")
      --skip-migration        do not run the migration Job (only for a release without
                              schema changes; the Job is idempotent, so prefer running it)
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
  SNIP_MIGRATION_JOB              migration Job name (default snip-migrate)

Exit codes:
  0   deployed and healthy (or degraded: a warning is printed)
  1   other failure (including: context not confirmed)
  3   the manifests do not render or validate
  4   rendered manifests contain CHANGE_ME placeholders
  5   the migration Job failed: nothing else was changed
  6   the rollout did not complete in time (rolled back with --auto-rollback)
  7   the health check says down after the rollout (rolled back with --auto-rollback)
  64  bad command line
  69  kubectl (or another tool) is missing, or no kube context
EOF
}

TAG="${IMAGE_TAG:-}"
KUSTOMIZE_DIR="${SNIP_KUSTOMIZE_DIR:-k8s}"
TIMEOUT=300s
MIGRATION_TIMEOUT=600s
HEALTH_URL=""
AUTO_ROLLBACK=0
CHANGE_CAUSE=""
SKIP_MIGRATION=0
ALLOW_PLACEHOLDERS=0
SNIP_IMAGE="${SNIP_IMAGE:-ghcr.io/snip-project/snip}"
SNIP_OPS_IMAGE="${SNIP_OPS_IMAGE-ghcr.io/snip-project/snip-ops}"
MIGRATION_JOB="${SNIP_MIGRATION_JOB:-snip-migrate}"

while [[ $# -gt 0 ]]; do
  case "$1" in
    -t | --tag) need_value "$@"; TAG="$2"; shift 2 ;;
    -k | --kustomize) need_value "$@"; KUSTOMIZE_DIR="$2"; shift 2 ;;
    --timeout) need_value "$@"; TIMEOUT="$2"; shift 2 ;;
    --migration-timeout) need_value "$@"; MIGRATION_TIMEOUT="$2"; shift 2 ;;
    --health-url) need_value "$@"; HEALTH_URL="$2"; shift 2 ;;
    --auto-rollback) AUTO_ROLLBACK=1; shift ;;
    --change-cause) need_value "$@"; CHANGE_CAUSE="$2"; shift 2 ;;
    --skip-migration) SKIP_MIGRATION=1; shift ;;
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

# split_manifests : the rendered stream in two files. migration.yaml = the migration Job and its
# ServiceAccount (applied first, alone); rest.yaml = everything but that Job. The Job stays
# out of rest.yaml because a Job's pod template is immutable: re-applying it with a new
# image (or validating that) fails while the previous release's Job still exists.
split_manifests() {
  awk -v job="${MIGRATION_JOB}" -v mig="${WORK}/migration.yaml" -v rest="${WORK}/rest.yaml" '
    function flush() {
      if (doc == "") return
      is_job = (doc ~ /(^|\n)kind: Job\n/ && doc ~ ("\n  name: " job "\n"))
      is_sa = (doc ~ /(^|\n)kind: ServiceAccount\n/ && doc ~ /app.kubernetes.io\/component: migration/)
      if (is_job || is_sa) printf "---\n%s", doc > mig
      if (!is_job) printf "---\n%s", doc > rest
      doc = ""
    }
    /^---$/ { flush(); next }
    { doc = doc $0 "\n" }
    END { flush() }
  ' "${RENDERED}"
  touch "${WORK}/migration.yaml" "${WORK}/rest.yaml"
}
split_manifests
if [[ "${SKIP_MIGRATION}" == 0 ]] && ! grep -q '^kind: Job' "${WORK}/migration.yaml"; then
  die "${EX_RENDER}" "the rendered manifests have no Job '${MIGRATION_JOB}'; use --skip-migration only if that is intended"
fi

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
kubectl apply --dry-run=server -f "${WORK}/rest.yaml" >"${WORK}/validate.log" 2>&1 || {
  cat "${WORK}/validate.log" >&2
  die "${EX_RENDER}" "the cluster rejects the rendered manifests (server-side dry run)"
}
info "manifests validated by the API server (dry run)"

if [[ "${DRY_RUN}" == 1 ]]; then
  info "[dry-run] would run job/${MIGRATION_JOB} with ${SNIP_IMAGE}:${TAG} and wait ${MIGRATION_TIMEOUT}"
  info "[dry-run] would apply $(grep -c '^kind:' "${WORK}/rest.yaml") objects, annotate change-cause '${CHANGE_CAUSE}'"
  info "[dry-run] would wait for deployment/${SNIP_DEPLOYMENT} (${TIMEOUT}) and health-check"
  exit 0
fi

# ------------------------------------------------------------ 3. migration
if [[ "${SKIP_MIGRATION}" == 0 ]]; then
  # Jobs are immutable and run once: the previous release's Job must go first.
  k delete job "${MIGRATION_JOB}" --ignore-not-found --wait=true
  k apply -f "${WORK}/migration.yaml"
  info "waiting for job/${MIGRATION_JOB} (timeout ${MIGRATION_TIMEOUT})"
  if ! k wait --for=condition=complete "job/${MIGRATION_JOB}" --timeout="${MIGRATION_TIMEOUT}"; then
    error "migration failed or timed out; its logs:"
    k logs "job/${MIGRATION_JOB}" --tail=50 >&2 || true
    die "${EX_MIGRATION}" "migration failed: deployment/${SNIP_DEPLOYMENT} was NOT changed (still ${CURRENT_IMAGE:-absent})"
  fi
  info "migration complete"
fi

# ------------------------------------------------------------ 4. roll out
rollback() {
  if [[ "${AUTO_ROLLBACK}" == 1 && -n "${CURRENT_IMAGE}" ]]; then
    warn "--auto-rollback: undoing the rollout of ${TAG}"
    if k rollout undo "deployment/${SNIP_DEPLOYMENT}" &&
      k rollout status "deployment/${SNIP_DEPLOYMENT}" --timeout="${TIMEOUT}"; then
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

# Annotate before applying: apply leaves annotations it did not set alone, and the
# controller copies the Deployment's change-cause to the new ReplicaSet, which is what
# `kubectl rollout history` shows.
if [[ -n "${CURRENT_IMAGE}" ]]; then
  k annotate "deployment/${SNIP_DEPLOYMENT}" "kubernetes.io/change-cause=${CHANGE_CAUSE}" --overwrite
fi
k apply -f "${WORK}/rest.yaml"
if [[ -z "${CURRENT_IMAGE}" ]]; then
  k annotate "deployment/${SNIP_DEPLOYMENT}" "kubernetes.io/change-cause=${CHANGE_CAUSE}" --overwrite
fi

info "waiting for deployment/${SNIP_DEPLOYMENT} (timeout ${TIMEOUT})"
if ! k rollout status "deployment/${SNIP_DEPLOYMENT}" --timeout="${TIMEOUT}"; then
  error "rollout of ${TAG} did not complete within ${TIMEOUT}"
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
