#!/usr/bin/env bash
# Point-in-time recovery from the pgBackRest repository (base backups + WAL archive)
# into a NEW data directory, started on a private port, verified, and then kept,
# copied into a new database on the live server, or thrown away (restore drills).
#
# Usually run as `scripts/backup/dr-restore.sh --to-time '<ISO 8601>'`, which hands
# over to this script. The live cluster and the repository are never written to:
# the restored server runs with archive_mode=off.
set -euo pipefail

SCRIPT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=scripts/lib/common.sh
source "${SCRIPT_DIR}/../lib/common.sh"
# shellcheck source=scripts/lib/pg.sh
source "${SCRIPT_DIR}/../lib/pg.sh"
# shellcheck source=scripts/lib/pgbackrest.sh
source "${SCRIPT_DIR}/../lib/pgbackrest.sh"

readonly EX_REFUSED=2

usage() {
  cat <<'EOF'
Usage: scripts/backup/dr-restore.sh --to-time '<ISO 8601>' [options]
       scripts/backup/dr-restore.sh --to-latest [options]
       (or scripts/backup/pitr-restore.sh with the same options)

Restore the PostgreSQL cluster from the pgBackRest repository into a NEW data
directory as it was at an instant (--to-time, e.g. '2026-11-30T05:27:00Z' or
'2026-11-30 06:27:00+01:00'), or up to the last archived WAL (--to-latest), start it
on a private port with archiving off, and verify it:
  - pgBackRest checked every downloaded file against its checksum, with the key;
  - PostgreSQL reached the target: "recovery stopping before/after" the first commit
    after --to-time, or (--to-latest) replayed the newest WAL segment in the archive;
  - the server left recovery, and every table of every database reads end to end
    (exact row counts are printed); the schema revision of --database is printed.
Any failure stops the restored server and deletes the new data directory: no
half-restored database is left. A wrong encryption key, a corrupted object and a
missing WAL segment are each named (exit 3).

Options:
      --to-time TIME      recover up to TIME (transactions committed after it are absent)
      --to-latest         recover everything the archive holds
      --data-dir DIR      the new data directory (must not exist or be empty;
                          default: $TMPDIR/snip-pitr-<UTC time>)
      --port N            port of the restored server (default 15433)
      --database NAME     snip's database in the cluster (default: $PGDATABASE, else snip)
      --pg-user NAME      superuser to verify with (default: $PGUSER, else postgres)
      --target-db NAME    then copy --database into a NEW database NAME on the server of
                          DATABASE_URL (db-backup.sh + dr-restore.sh, both verified) and
                          remove the restored data directory
      --switch MODE       with --target-db: point the application at it (print|kubernetes)
      --keep-running      leave the restored server running (default: stop it, keep the dir)
      --scratch           delete the data directory after a successful verification (drills)
      --timeout SECONDS   give up on recovery after this long (default 3600)
      --dry-run           check the repository and the options; restore nothing
  -y, --yes               answer yes to the --switch kubernetes confirmation
  -h, --help              show this help

Environment:
  PGBACKREST_CONFIG, PGBACKREST_STANZA, PGBACKREST_REPO1_*   the repository (pgBackRest's own)
  PG_BINDIR               PostgreSQL server binaries (default: pg_config --bindir, else
                          /usr/lib/postgresql/15/bin)
  DATABASE_URL            server for --target-db
  PGDATABASE, PGUSER      defaults for --database and --pg-user

Output (stdout, last line):
  restored_to=<target> last_commit=<time of the last transaction replayed>
  data_dir=<dir> port=<port> elapsed_seconds=<restore + recovery + verification>

Exit codes:
  0   restored and verified
  1   failed (object store unreachable, recovery failed, verification failed)
  2   refused: the data directory exists and is not empty
  3   the backup cannot be trusted: WRONG ENCRYPTION KEY, CORRUPTED BACKUP OBJECT or
      MISSING WAL SEGMENT (the message says which)
  64  bad command line (e.g. a time that is not ISO 8601)
  69  a required tool is missing, or run as root (PostgreSQL refuses root)
EOF
}

TO_TIME=""
LATEST=0
DATA_DIR=""
PORT=15433
DATABASE="${PGDATABASE:-snip}"
PG_USER="${PGUSER:-postgres}"
TARGET_DB=""
SWITCH=""
KEEP_RUNNING=0
SCRATCH=0
TIMEOUT=3600

while [[ $# -gt 0 ]]; do
  case "$1" in
    --to-time) need_value "$@"; TO_TIME="$2"; shift 2 ;;
    --to-latest) LATEST=1; shift ;;
    --data-dir) need_value "$@"; DATA_DIR="$2"; shift 2 ;;
    --port) need_value "$@"; PORT="$2"; shift 2 ;;
    --database) need_value "$@"; DATABASE="$2"; shift 2 ;;
    --pg-user) need_value "$@"; PG_USER="$2"; shift 2 ;;
    -t | --target-db) need_value "$@"; TARGET_DB="$2"; shift 2 ;;
    --switch) need_value "$@"; SWITCH="$2"; shift 2 ;;
    --keep-running) KEEP_RUNNING=1; shift ;;
    --scratch) SCRATCH=1; shift ;;
    --timeout) need_value "$@"; TIMEOUT="$2"; shift 2 ;;
    --dry-run) DRY_RUN=1; shift ;;
    -y | --yes) ASSUME_YES=1; shift ;;
    -h | --help) usage; exit 0 ;;
    *) usage_error "unknown option: $1" ;;
  esac
done

# ------------------------------------------------------------- the command line
if [[ -n "${TO_TIME}" && "${LATEST}" == 1 ]] || [[ -z "${TO_TIME}" && "${LATEST}" != 1 ]]; then
  usage_error "give exactly one of --to-time TIME or --to-latest"
fi
TARGET_LABEL=latest
if [[ -n "${TO_TIME}" ]]; then
  # ISO 8601 in, pgBackRest's "YYYY-MM-DD HH:MM:SS.mmm+00" out. A time without a
  # zone would silently mean the machine's local time: refuse it.
  [[ "${TO_TIME}" =~ ^[0-9]{4}-[0-9]{2}-[0-9]{2}[T\ ][0-9]{2}:[0-9]{2}(:[0-9]{2}(\.[0-9]+)?)?(Z|[+-][0-9]{2}(:?[0-9]{2})?)$ ]] ||
    usage_error "--to-time must be ISO 8601 with a time zone, e.g. 2026-11-30T05:27:00Z, got '${TO_TIME}'"
  PGBR_TIME="$(date -u -d "${TO_TIME}" '+%Y-%m-%d %H:%M:%S.%3N+00' 2>/dev/null)" ||
    usage_error "--to-time: '${TO_TIME}' is not a valid time"
  TARGET_LABEL="$(date -u -d "${TO_TIME}" '+%Y-%m-%dT%H:%M:%S.%3NZ')"
fi
[[ "${PORT}" =~ ^[0-9]+$ ]] || usage_error "--port must be a number"
[[ "${TIMEOUT}" =~ ^[1-9][0-9]*$ ]] || usage_error "--timeout must be a positive number of seconds"
[[ -z "${TARGET_DB}" || "${TARGET_DB}" =~ ^[A-Za-z_][A-Za-z0-9_]{0,62}$ ]] ||
  usage_error "--target-db must be a plain identifier, got '${TARGET_DB}'"
[[ -z "${SWITCH}" || -n "${TARGET_DB}" ]] || usage_error "--switch needs --target-db"
if [[ "${EUID}" == 0 ]]; then
  die "${EX_PREFLIGHT}" "PostgreSQL refuses to run as root: run this as the PostgreSQL OS user (e.g. runuser -u postgres -- $0 ...)"
fi

PG_BINDIR="${PG_BINDIR:-$(pg_config --bindir 2>/dev/null || true)}"
[[ -x "${PG_BINDIR}/pg_ctl" ]] || PG_BINDIR=/usr/lib/postgresql/15/bin
[[ -x "${PG_BINDIR}/pg_ctl" ]] ||
  die "${EX_PREFLIGHT}" "PostgreSQL server binaries (pg_ctl) not found: set PG_BINDIR or install postgresql-15"
require_tools psql python3 date
pgbr_preflight

[[ -n "${DATA_DIR}" ]] || DATA_DIR="${TMPDIR:-/tmp}/snip-pitr-$(date -u +%Y%m%dT%H%M%SZ)"
if [[ -e "${DATA_DIR}" ]] && [[ -n "$(ls -A "${DATA_DIR}" 2>/dev/null)" ]]; then
  die "${EX_REFUSED}" "${DATA_DIR} exists and is not empty; restores go into a NEW data directory (choose another --data-dir)"
fi

info "target: ${TARGET_LABEL}; new data directory: ${DATA_DIR} (port ${PORT})"
if [[ "${DRY_RUN}" == 1 ]]; then
  info "[dry-run] repository (pgbackrest info):"
  pgbr info >&2
  info "[dry-run] would restore, start PostgreSQL on port ${PORT} with archive_mode=off, verify$([[ -n "${TARGET_DB}" ]] && printf ', copy into database %s' "${TARGET_DB}")"
  exit 0
fi

# -------------------------------------------------------------------- cleanup
START_NS="$(date +%s%N)"
CREATED_DIR=0
VERIFIED=0
SOCKET_DIR="$(mktemp -d "${TMPDIR:-/tmp}/snip-pitr-sock.XXXXXX")"
LOG_FILE="${SOCKET_DIR}/postgres.log"

pg_ctl_() { "${PG_BINDIR}/pg_ctl" -D "${DATA_DIR}" "$@"; }
server_running() { pg_ctl_ status >/dev/null 2>&1; }

on_exit() {
  local rc=$?
  if [[ "${VERIFIED}" != 1 ]]; then
    if server_running; then pg_ctl_ stop -m immediate -w >/dev/null 2>&1 || true; fi
    if [[ "${CREATED_DIR}" == 1 ]]; then
      warn "removing the unverified data directory ${DATA_DIR}: no half-restored database is left"
      rm -rf -- "${DATA_DIR}"
    fi
    if ((rc != 0)) && [[ -s "${LOG_FILE}" ]]; then
      warn "the restored server's log ends with:"
      grep -v 'archive-get command' "${LOG_FILE}" | tail -n 8 >&2 || true
    fi
  fi
  rm -rf -- "${SOCKET_DIR}"
}
trap on_exit EXIT

# -------------------------------------------------------------------- restore
mkdir -p -- "${DATA_DIR}"
chmod 700 "${DATA_DIR}"
CREATED_DIR=1

restore_args=(restore "--pg1-path=${DATA_DIR}" --archive-mode=off)
if [[ -n "${TO_TIME}" ]]; then
  restore_args+=(--type=time "--target=${PGBR_TIME}" --target-action=promote)
fi
info "restoring the base backup (pgBackRest downloads, decrypts and checks every file)"
pgbr "${restore_args[@]}" >/dev/null

# The newest WAL segment the repository holds: --to-latest must replay up to it,
# or a segment in between is missing (PostgreSQL would stop there and promote).
ARCHIVE_MAX="$(pgbackrest info --output=json | python3 -c 'import json, sys
archives = json.load(sys.stdin)[0].get("archive") or [{}]
print(max((a.get("max") or "") for a in archives))')"

info "starting the restored server; PostgreSQL replays the WAL archive"
# archive-get's INFO lines name each segment fetched or missing: keep them in the log.
# listen_addresses='': reachable through the private socket only.
if ! PGBACKREST_LOG_LEVEL_CONSOLE=info pg_ctl_ -l "${LOG_FILE}" -w -t "${TIMEOUT}" -o \
  "-p ${PORT} -k ${SOCKET_DIR} -c listen_addresses='' -c archive_mode=off -c archive_command='' -c ssl=off -c cluster_name=snip-pitr" \
  start >/dev/null; then
  :
fi

# psql_ SQL [DB] : query the restored server through its socket.
psql_() {
  psql --no-psqlrc --quiet --tuples-only --no-align --set=ON_ERROR_STOP=1 \
    -h "${SOCKET_DIR}" -p "${PORT}" -U "${PG_USER}" -d "${2:-postgres}" -c "$1"
}

# Wait for recovery to end: pg_ctl -w returns as soon as hot standby accepts
# read-only connections, before the target is reached and the server promoted.
deadline=$(($(date +%s) + TIMEOUT))
while :; do
  if ! server_running; then break; fi
  if [[ "$(psql_ 'SELECT pg_is_in_recovery()' 2>/dev/null)" == f ]]; then break; fi
  if (($(date +%s) > deadline)); then die "recovery did not finish within ${TIMEOUT}s"; fi
  sleep 0.5
done

missing_segment() {
  # The first segment archive-get could not find, after the last one it restored.
  grep -oE 'unable to find [0-9A-F]{24} in the archive' "${LOG_FILE}" | tail -n 1 | grep -oE '[0-9A-F]{24}' || true
}
if ! server_running; then
  if grep -qE 'recovery ended before configured recovery target was reached|WAL ends before (end of online backup|consistent recovery point)|could not locate required checkpoint record' "${LOG_FILE}"; then
    die "${EX_BAD_BACKUP}" "MISSING WAL SEGMENT: recovery ran out of WAL before ${TARGET_LABEL} (the archive has no $(missing_segment || true)); nothing was restored"
  fi
  why="$(pgbr_explain "$(cat "${LOG_FILE}")")"
  die "$(pgbr_exit_code "${why}")" "the restored server stopped during recovery: ${why}"
fi

# ---------------------------------------------------------------- verification
LAST_RESTORED="$(grep -oE 'restored log file "[0-9A-F]{24}"' "${LOG_FILE}" | grep -oE '[0-9A-F]{24}' | sort | tail -n 1 || true)"
if [[ -n "${TO_TIME}" ]]; then
  STOP_LINE="$(grep -m1 -E 'recovery stopping (before|after)' "${LOG_FILE}" || true)"
  [[ -n "${STOP_LINE}" ]] ||
    die "PostgreSQL promoted without reaching ${TARGET_LABEL}: refusing this restore"
  info "target reached: ${STOP_LINE#*LOG:  }"
elif [[ -n "${ARCHIVE_MAX}" && "${LAST_RESTORED:0:24}" < "${ARCHIVE_MAX:0:24}" ]]; then
  die "${EX_BAD_BACKUP}" "MISSING WAL SEGMENT: recovery stopped at ${LAST_RESTORED} but the archive goes up to ${ARCHIVE_MAX} (the archive has no $(missing_segment)); refusing a restore that silently lost data"
fi
LAST_COMMIT="$(grep -oE 'last completed transaction was at log time [0-9: .+-]+' "${LOG_FILE}" | tail -n 1 | sed 's/.*log time //' || true)"
[[ -n "${LAST_COMMIT}" ]] || LAST_COMMIT=none

DATABASES="$(psql_ "SELECT datname FROM pg_database WHERE NOT datistemplate ORDER BY 1")" ||
  die "cannot list the restored databases"
ROWS=0
while read -r db; do
  [[ -n "${db}" ]] || continue
  counts="$(pg_row_counts "host=${SOCKET_DIR} port=${PORT} user=${PG_USER} dbname=${db}")" ||
    die "database '${db}' cannot be read end to end"
  n="$(awk -F'\t' '{ s += $2 } END { print s + 0 }' <<<"${counts}")"
  ROWS=$((ROWS + n))
  info "database ${db}: $(grep -c . <<<"${counts}" || true) tables, ${n} rows, all readable"
done <<<"${DATABASES}"
if grep -qx "${DATABASE}" <<<"${DATABASES}"; then
  info "schema revision of ${DATABASE}: $(pg_schema_revision "host=${SOCKET_DIR} port=${PORT} user=${PG_USER} dbname=${DATABASE}")"
fi
VERIFIED=1
info "verified: recovered to ${TARGET_LABEL}, last transaction replayed at ${LAST_COMMIT}, ${ROWS} rows readable"

# -------------------------------------------------------------- what next
if [[ -n "${TARGET_DB}" ]]; then
  info "copying database ${DATABASE} into a new database ${TARGET_DB} on the live server"
  copy_dir="${SOCKET_DIR}/copy"
  DATABASE_URL="postgresql://${PG_USER}@/${DATABASE}?host=${SOCKET_DIR}&port=${PORT}" \
    "${SCRIPT_DIR}/db-backup.sh" --dir "${copy_dir}" --no-retention >/dev/null ||
    die "could not dump the restored database"
  restore_args=(--dir "${copy_dir}" --target-db "${TARGET_DB}")
  if [[ -n "${SWITCH}" ]]; then restore_args+=(--switch "${SWITCH}"); fi
  if [[ "${ASSUME_YES}" == 1 ]]; then restore_args+=(--yes); fi
  "${SCRIPT_DIR}/dr-restore.sh" "${restore_args[@]}" >&2 || die "the copy into ${TARGET_DB} failed"
  SCRATCH=1
fi

if [[ "${KEEP_RUNNING}" == 1 && "${SCRATCH}" != 1 ]]; then
  info "the restored server keeps running on socket ${SOCKET_DIR}, port ${PORT}; stop it with: ${PG_BINDIR}/pg_ctl -D ${DATA_DIR} stop"
  SOCKET_DIR_KEEP="${SOCKET_DIR}"
  SOCKET_DIR="$(mktemp -d)" # on_exit removes this one, not the live socket dir
  info "socket directory: ${SOCKET_DIR_KEEP}"
else
  pg_ctl_ stop -m fast -w >/dev/null
  if [[ "${SCRATCH}" == 1 ]]; then
    rm -rf -- "${DATA_DIR}"
    info "removed the scratch data directory"
  else
    info "the restored data directory stays in ${DATA_DIR}; start it with: ${PG_BINDIR}/pg_ctl -D ${DATA_DIR} -o '-p ${PORT}' start"
  fi
fi
ELAPSED="$(elapsed_since "${START_NS}")"
info "restore completed in ${ELAPSED} seconds (RTO for this backup)"
printf 'restored_to=%s last_commit=%s data_dir=%s port=%s elapsed_seconds=%s\n' \
  "${TARGET_LABEL}" "${LAST_COMMIT// /T}" "${DATA_DIR}" "${PORT}" "${ELAPSED}"
