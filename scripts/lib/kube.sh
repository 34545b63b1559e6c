# shellcheck shell=bash
# Kubernetes helpers: where we are about to act, and the names we act on.
# The names match k8s/ and docs/interfaces.md; override them for another install.

SNIP_NAMESPACE="${SNIP_NAMESPACE:-snip}"
SNIP_DEPLOYMENT="${SNIP_DEPLOYMENT:-snip-api}"
SNIP_SECRET_NAME="${SNIP_SECRET_NAME:-snip-secrets}"

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
