#!/usr/bin/env bash
# Roll every snip workload back to the previous release (or the API's chosen revision),
# wait, health-check. Every workload that runs a snip image goes back together: the API
# and flusher Deployments by `rollout undo` (their templates name their release's
# hash-suffixed snip-config, so the configuration goes back too), the CronJobs by a
# patch to the API's image tag and configuration (scripts/lib/kube.sh).
#
# What happens to the database: nothing. A rollback changes the code, never the schema.
# snip's migrations are expand/contract: a release only ADDS (columns, tables, indexes)
# in a way the previous release ignores, and drops what is no longer used one release
# later. So release N-1 runs on release N's schema, and rolling back one release is
# always safe. Rolling back further than one release, or undoing a migration
# (`snip db downgrade`), is a deliberate, separate act: see Runbook.md, "Rollback".
set -euo pipefail

SCRIPT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=scripts/lib/common.sh
source "${SCRIPT_DIR}/../lib/common.sh"
# shellcheck source=scripts/lib/kube.sh
source "${SCRIPT_DIR}/../lib/kube.sh"

readonly EX_ROLLOUT=6 EX_HEALTH=7

usage() {
  cat <<'EOF'
Usage: scripts/deployment/rollback.sh [options]

Show the rollout history of deployment/snip-api, roll every snip workload back to the
previous release (the API to --to-revision N, the others to the image and configuration
it then runs): Deployments snip-api and snip-flusher, CronJobs snip-purge-expired,
snip-backup and snip-backup-drill (those present), with their configuration
(snip-config). Wait for the rollouts, health-check.

The database schema is NOT rolled back: migrations are written so that the previous
release still runs on the newer schema (expand/contract), so one step back is safe.

Options:
  -r, --to-revision N     roll back to revision N (see --history); default: the previous one
      --history           only print the rollout history and exit
      --timeout DURATION  rollout status timeout (default 300s)
      --health-url URL    also check this URL afterwards (else cluster checks only)
  -y, --yes               do not ask to confirm
      --dry-run           show the history and what would be done; change nothing
  -h, --help              show this help

Environment:
  SNIP_NAMESPACE (default snip), SNIP_DEPLOYMENT (default snip-api)
  SNIP_DEPLOYMENTS, SNIP_CRONJOBS  the snip workloads (default: see above)

Exit codes:
  0   rolled back and healthy (or degraded: a warning is printed)
  1   failure (including: not confirmed, no such revision)
  6   the rollout back did not complete in time
  7   the health check says down after the rollback
  64  bad command line
  69  kubectl is missing, or no kube context
EOF
}

REVISION=""
HISTORY_ONLY=0
TIMEOUT=300s
HEALTH_URL=""

while [[ $# -gt 0 ]]; do
  case "$1" in
    -r | --to-revision) need_value "$@"; REVISION="$2"; shift 2 ;;
    --history) HISTORY_ONLY=1; shift ;;
    --timeout) need_value "$@"; TIMEOUT="$2"; shift 2 ;;
    --health-url) need_value "$@"; HEALTH_URL="$2"; shift 2 ;;
    -y | --yes) ASSUME_YES=1; shift ;;
    --dry-run) DRY_RUN=1; shift ;;
    -h | --help) usage; exit 0 ;;
    *) usage_error "unknown option: $1" ;;
  esac
done
[[ -z "${REVISION}" || "${REVISION}" =~ ^[1-9][0-9]*$ ]] || usage_error "--to-revision must be a revision number"

require_tools kubectl
kube_show_context

info "rollout history of deployment/${SNIP_DEPLOYMENT}:"
k rollout history "deployment/${SNIP_DEPLOYMENT}" >&2 ||
  die "cannot read the rollout history of deployment/${SNIP_DEPLOYMENT}"
[[ "${HISTORY_ONLY}" == 0 ]] || exit 0

CURRENT="$(k get "deployment/${SNIP_DEPLOYMENT}" -o jsonpath='{.metadata.annotations.deployment\.kubernetes\.io/revision}' 2>/dev/null || true)"
TARGET_DESC="the previous revision"
[[ -z "${REVISION}" ]] || TARGET_DESC="revision ${REVISION}"
info "current revision: ${CURRENT:-unknown}; rolling back to ${TARGET_DESC}"
if [[ -n "${REVISION}" && "${REVISION}" == "${CURRENT}" ]]; then
  die "revision ${REVISION} is the one running; nothing to roll back"
fi
if [[ "${DRY_RUN}" == 1 ]]; then
  # The API server renders the rolled-back templates without applying them.
  kube_undo_release "${REVISION}" --dry-run=server >&2 || die "the cluster refuses this rollback (dry run)"
  info "[dry-run] would roll back deployments (${SNIP_DEPLOYMENTS}) and cronjobs (${SNIP_CRONJOBS}), then wait ${TIMEOUT} and health-check"
  exit 0
fi

confirm "Roll deployment/${SNIP_DEPLOYMENT} back to ${TARGET_DESC} in context '$(kube_context)'?" ||
  die "not confirmed; nothing changed"

kube_undo_release "${REVISION}" || die "the rollback failed part way: see the kubectl error above and Runbook.md, 'Rollback'"
if ! kube_wait_rollouts "${TIMEOUT}"; then
  k get pods -l app.kubernetes.io/name=snip >&2 || true
  die "${EX_ROLLOUT}" "the rollback did not complete within ${TIMEOUT}; see Runbook.md, 'Troubleshooting'"
fi
# No change-cause annotation here: `rollout undo` brings back the cause recorded when
# that revision was deployed, which is the more useful line in the history.

health_rc=0
post_rollout_health "${HEALTH_URL}" || health_rc=$?
case "${health_rc}" in
  0) info "rolled back to ${TARGET_DESC}: healthy" ;;
  1) warn "rolled back to ${TARGET_DESC}, but the service is DEGRADED (see above)" ;;
  *) die "${EX_HEALTH}" "rolled back, but the health check says DOWN: the problem is not the release (database? Redis? see Runbook.md)" ;;
esac
