# shellcheck shell=bash
# Kubernetes helpers: where we are about to act, and the names we act on.
# The names match k8s/ and docs/interfaces.md; override them for another install.

SNIP_NAMESPACE="${SNIP_NAMESPACE:-snip}"
SNIP_DEPLOYMENT="${SNIP_DEPLOYMENT:-snip-api}"
SNIP_SECRET_NAME="${SNIP_SECRET_NAME:-snip-secrets}"
# Every workload running a snip image (tests/k8s checks these lists against k8s/): a
# release changes them all, so a rollback must take them all back.
SNIP_DEPLOYMENTS="${SNIP_DEPLOYMENTS:-snip-api snip-flusher}"
SNIP_CRONJOBS="${SNIP_CRONJOBS:-snip-purge-expired snip-backup snip-backup-drill}"

# kube_context : the current kubectl context name ("" when none is configured).
kube_context() {
  kubectl config current-context 2>/dev/null || true
}

# kube_show_context : log the context, cluster and namespace before changing anything,
# so a wrong-cluster mistake is visible in the first lines of output.
kube_show_context() {
  local ctx
  ctx="$(kube_context)"
  [[ -n "${ctx}" ]] || die "${EX_PREFLIGHT}" "kubectl has no current context; run 'kubectl config use-context NAME'"
  info "kube context: ${ctx}  (namespace: ${SNIP_NAMESPACE})"
}

# k CMD... : kubectl in snip's namespace.
k() {
  kubectl --namespace "${SNIP_NAMESPACE}" "$@"
}

# post_rollout_health [URL] : run scripts/health-check.sh on the cluster (and URL, if
# given) after a rollout or a rollback; returns its exit code (0 healthy, 1 degraded, 2 down).
post_rollout_health() {
  local url="${1:-}" args=(--cluster)
  [[ -z "${url}" ]] || args+=(--url "${url}")
  "$(dirname "${BASH_SOURCE[0]}")/../health-check.sh" "${args[@]}" >&2
}

# kube_wait_rollouts TIMEOUT : wait for every snip Deployment's rollout; fails on the first
# that does not complete in time.
kube_wait_rollouts() {
  local d
  for d in ${SNIP_DEPLOYMENTS}; do
    info "waiting for deployment/${d} (timeout $1)"
    k rollout status "deployment/${d}" --timeout="$1" || return 1
  done
}

# kube_undo_release [REVISION] [--dry-run=server] : take every snip workload back one
# release (or the API to REVISION, the others to the revisions that ran its image).
#  - Deployments (API, flusher): `rollout undo`. Their pod templates name the
#    hash-suffixed snip-config of their release, which kubectl apply leaves in place,
#    so the configuration goes back with the code.
#  - CronJobs have no rollout history: they get the image tag and the snip-config name
#    the API runs after its undo.
kube_undo_release() {
  local revision="${1:-}" dry="${2:-}" d args image tag config c cimage patch
  args=(rollout undo "deployment/${SNIP_DEPLOYMENT}")
  [[ -z "${revision}" ]] || args+=("--to-revision=${revision}")
  [[ -z "${dry}" ]] || args+=("${dry}")
  k "${args[@]}" || return 1
  if [[ -z "${revision}" ]]; then
    # Each release changes every snip Deployment once, so "previous" is the same
    # release for all of them.
    for d in ${SNIP_DEPLOYMENTS}; do
      [[ "${d}" == "${SNIP_DEPLOYMENT}" ]] || k rollout undo "deployment/${d}" ${dry:+"${dry}"} || return 1
    done
  fi
  [[ -z "${dry}" ]] || return 0
  image="$(k get "deployment/${SNIP_DEPLOYMENT}" -o jsonpath='{.spec.template.spec.containers[0].image}')"
  config="$(k get "deployment/${SNIP_DEPLOYMENT}" -o jsonpath='{.spec.template.spec.containers[0].envFrom[0].configMapRef.name}')"
  tag="${image##*:}"
  if [[ -n "${revision}" ]]; then
    # Revision numbers are the API's own: the other Deployments follow its image and
    # configuration (main and init container).
    for d in ${SNIP_DEPLOYMENTS}; do
      [[ "${d}" != "${SNIP_DEPLOYMENT}" ]] || continue
      patch="[{\"op\":\"replace\",\"path\":\"/spec/template/spec/containers/0/image\",\"value\":\"${image}\"},{\"op\":\"replace\",\"path\":\"/spec/template/spec/initContainers/0/image\",\"value\":\"${image}\"}"
      [[ -z "${config}" ]] || patch+=",{\"op\":\"replace\",\"path\":\"/spec/template/spec/containers/0/envFrom/0/configMapRef/name\",\"value\":\"${config}\"},{\"op\":\"replace\",\"path\":\"/spec/template/spec/initContainers/0/envFrom/0/configMapRef/name\",\"value\":\"${config}\"}"
      k patch "deployment/${d}" --type=json -p "${patch}]" || return 1
    done
  fi
  for c in ${SNIP_CRONJOBS}; do
    cimage="$(k get "cronjob/${c}" -o jsonpath='{.spec.jobTemplate.spec.template.spec.containers[0].image}' 2>/dev/null)" || continue
    patch="[{\"op\":\"replace\",\"path\":\"/spec/jobTemplate/spec/template/spec/containers/0/image\",\"value\":\"${cimage%:*}:${tag}\"}"
    if [[ -n "${config}" ]] && [[ "$(k get "cronjob/${c}" -o jsonpath='{.spec.jobTemplate.spec.template.spec.containers[0].envFrom[0].configMapRef.name}' 2>/dev/null)" == snip-config* ]]; then
      patch+=",{\"op\":\"replace\",\"path\":\"/spec/jobTemplate/spec/template/spec/containers/0/envFrom/0/configMapRef/name\",\"value\":\"${config}\"}"
    fi
    k patch "cronjob/${c}" --type=json -p "${patch}]" || return 1
  done
}
