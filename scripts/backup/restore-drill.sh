#!/usr/bin/env bash
# Restore drill: prove the newest backup restores. Recover the whole archive (latest
# base backup + every archived WAL segment) into a scratch data directory, verify
# it, delete it, and report to the Pushgateway. The CronJob snip-backup-drill runs
# this daily; `make backup-drill` runs a whole drill on one machine.
set -euo pipefail

SCRIPT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=scripts/lib/common.sh
source "${SCRIPT_DIR}/../lib/common.sh"
# shellcheck source=scripts/lib/pgbackrest.sh
source "${SCRIPT_DIR}/../lib/pgbackrest.sh"

usage() {
  cat <<'EOF'
Usage: scripts/backup/restore-drill.sh [options]

Run `dr-restore.sh --to-latest --scratch` (see scripts/backup/pitr-restore.sh --help):
restore the newest base backup and replay every archived WAL segment into a scratch
data directory, verify it (every table of every database read end to end, no WAL gap),
then delete it. Nothing live is touched. Pushes (job="snip-backup-drill"):
  snip_backup_drill_last_success_timestamp_seconds   when the last good drill ended
  snip_backup_drill_duration_seconds                 how long the restore took (RTO)
  snip_backup_drill_data_age_seconds                 drill start minus the newest
                                                     transaction restored (how fresh
                                                     the archive is: the RPO seen now)
  snip_backup_drill_last_failure_timestamp_seconds   on failure

Options:
      --data-dir DIR    scratch data directory (default: $TMPDIR/snip-drill-<time>)
      --port N          port of the scratch server (default 15434)
      --dry-run         check the repository; restore nothing
  -h, --help            show this help

Environment:
  PGBACKREST_CONFIG, PGBACKREST_STANZA, PGBACKREST_REPO1_*   the repository (pgBackRest's own)
  PG_BINDIR               PostgreSQL server binaries (see pitr-restore.sh --help)
  PUSHGATEWAY_URL         e.g. http://snip-pushgateway:9091: where the metrics go

Exit codes:
  0   the newest backup restored and verified
  1   the drill failed (object store unreachable, recovery failed, ...)
  3   the backup cannot be trusted (wrong key, corrupted object, missing WAL segment)
  64  bad command line
  69  a required tool is missing
EOF
}

ARGS=(--to-latest --scratch --port 15434)
while [[ $# -gt 0 ]]; do
  case "$1" in
    --data-dir | --port) need_value "$@"; ARGS+=("$1" "$2"); shift 2 ;;
    --dry-run) DRY_RUN=1; ARGS+=(--dry-run); shift ;;
    -h | --help) usage; exit 0 ;;
    *) usage_error "unknown option: $1" ;;
  esac
done

STARTED="$(date +%s)"
rc=0
out="$("${SCRIPT_DIR}/pitr-restore.sh" "${ARGS[@]}")" || rc=$?
if ((rc != 0)); then
  pgbr_push_metrics snip-backup-drill "# TYPE snip_backup_drill_last_failure_timestamp_seconds gauge
snip_backup_drill_last_failure_timestamp_seconds $(date +%s)"
  die "${rc}" "restore drill FAILED (exit ${rc}): the newest backup did not restore; see above"
fi
[[ "${DRY_RUN}" != 1 ]] || exit 0

line="$(tail -n 1 <<<"${out}")"
ELAPSED="$(grep -oE 'elapsed_seconds=[0-9.]+' <<<"${line}" | cut -d= -f2)"
LAST_COMMIT="$(grep -oE 'last_commit=[^ ]+' <<<"${line}" | cut -d= -f2)"
AGE=""
if [[ "${LAST_COMMIT}" != none ]] && last_epoch="$(date -u -d "${LAST_COMMIT/T/ }" +%s 2>/dev/null)"; then
  AGE=$((STARTED - last_epoch))
fi
info "restore drill passed: restored and verified in ${ELAPSED}s; newest transaction restored: ${LAST_COMMIT}${AGE:+ (${AGE}s before the drill)}"
pgbr_push_metrics snip-backup-drill "# TYPE snip_backup_drill_last_success_timestamp_seconds gauge
snip_backup_drill_last_success_timestamp_seconds $(date +%s)
# TYPE snip_backup_drill_duration_seconds gauge
snip_backup_drill_duration_seconds ${ELAPSED}${AGE:+
# TYPE snip_backup_drill_data_age_seconds gauge
snip_backup_drill_data_age_seconds ${AGE}}"
printf '%s\n' "${line}"
