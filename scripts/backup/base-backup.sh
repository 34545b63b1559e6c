#!/usr/bin/env bash
# Physical base backup of snip's PostgreSQL with pgBackRest, into the repository the
# WAL archive also goes to (S3-compatible object storage, or a local directory).
# Together with continuous WAL archiving (archive_command = pgbackrest archive-push)
# it makes point-in-time recovery possible: scripts/backup/dr-restore.sh --to-time.
set -euo pipefail

SCRIPT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=scripts/lib/common.sh
source "${SCRIPT_DIR}/../lib/common.sh"
# shellcheck source=scripts/lib/pgbackrest.sh
source "${SCRIPT_DIR}/../lib/pgbackrest.sh"

usage() {
  cat <<'EOF'
Usage: scripts/backup/base-backup.sh [options]

Take a pgBackRest base backup of the PostgreSQL cluster into the repository:
  1. create the stanza if the repository has none yet (first run);
  2. `pgbackrest check`: WAL archiving works end to end (a WAL segment is switched,
     archived and found in the repository), otherwise no backup is worth taking;
  3. `pgbackrest backup --type TYPE`; files are compressed, encrypted client-side
     (repo1-cipher-type aes-256-cbc, the key is PGBACKREST_REPO1_CIPHER_PASS) and
     checksummed; pgBackRest then expires what repo1-retention-full no longer keeps;
  4. push snip_backup_* metrics (job="snip-backup") to the Pushgateway.

Options:
      --type TYPE     full, diff or incr (default: full)
      --dry-run       show the configuration and the repository's state; change nothing
  -h, --help          show this help

Environment:
  PGBACKREST_CONFIG, PGBACKREST_STANZA, PGBACKREST_REPO1_*, PGBACKREST_PG1_*
                      pgBackRest's own settings (docs/backup-and-restore.md)
  PUSHGATEWAY_URL     e.g. http://snip-pushgateway:9091; when set, pushes
                      snip_backup_last_success_timestamp_seconds, snip_backup_duration_seconds,
                      snip_backup_size_bytes (repository size of the backup) on success and
                      snip_backup_last_failure_timestamp_seconds on failure

Exit codes:
  0   base backup taken and recorded in the repository
  1   failed (database or object store unreachable, archiving broken, ...)
  3   the repository cannot be trusted (wrong encryption key, corrupted object)
  64  bad command line
  69  pgbackrest missing, or no pgBackRest configuration
  75  another pgBackRest backup holds the lock
EOF
}

TYPE=full
while [[ $# -gt 0 ]]; do
  case "$1" in
    --type) need_value "$@"; TYPE="$2"; shift 2 ;;
    --dry-run) DRY_RUN=1; shift ;;
    -h | --help) usage; exit 0 ;;
    *) usage_error "unknown option: $1" ;;
  esac
done
[[ "${TYPE}" =~ ^(full|diff|incr)$ ]] || usage_error "--type must be full, diff or incr, got '${TYPE}'"
pgbr_preflight

SUCCESS=0
on_exit() {
  local rc=$?
  if [[ "${SUCCESS}" != 1 && ${rc} -ne 0 && ${rc} -ne ${EX_USAGE} && ${rc} -ne ${EX_LOCKED} ]]; then
    pgbr_push_metrics snip-backup "# TYPE snip_backup_last_failure_timestamp_seconds gauge
snip_backup_last_failure_timestamp_seconds $(date +%s)"
  fi
}
trap on_exit EXIT

if [[ "${DRY_RUN}" == 1 ]]; then
  info "[dry-run] repository state (pgbackrest info):"
  pgbackrest info >&2 || true
  info "[dry-run] would run: pgbackrest check, then pgbackrest backup --type=${TYPE}"
  exit 0
fi

START_NS="$(date +%s%N)"
# `info` reports "missing stanza path" on a fresh repository; stanza-create is
# idempotent but refuses a repository made for another cluster, which is right.
if pgbackrest info --output=json 2>/dev/null | grep -q '"missing stanza path"'; then
  info "first backup into this repository: creating the stanza"
  pgbr stanza-create >/dev/null
fi
info "checking WAL archiving (pgbackrest check)"
pgbr check >/dev/null
info "taking a ${TYPE} base backup"
pgbr backup --type="${TYPE}" >/dev/null

# The newest backup's label and repository size (after compression and encryption).
read -r LABEL SIZE STOP < <(pgbackrest info --output=json | python3 -c 'import json, sys
backup = json.load(sys.stdin)[0]["backup"][-1]
print(backup["label"], backup["info"]["repository"]["delta"], backup["timestamp"]["stop"])')
DURATION="$(elapsed_since "${START_NS}")"
SUCCESS=1
info "base backup ${LABEL} complete (${SIZE} bytes in the repository, ${DURATION}s)"
pgbr_push_metrics snip-backup "# TYPE snip_backup_last_success_timestamp_seconds gauge
snip_backup_last_success_timestamp_seconds $(date +%s)
# TYPE snip_backup_duration_seconds gauge
snip_backup_duration_seconds ${DURATION}
# TYPE snip_backup_size_bytes gauge
snip_backup_size_bytes ${SIZE}"
printf 'backup_label=%s size_bytes=%s stop_epoch=%s elapsed_seconds=%s\n' "${LABEL}" "${SIZE}" "${STOP}" "${DURATION}"
