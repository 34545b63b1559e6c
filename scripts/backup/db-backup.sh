#!/usr/bin/env bash
# Logical backup of snip's PostgreSQL database: pg_dump custom format, verified,
# checksummed, described by a metadata file, rotated, and reported to a Pushgateway.
#
# Runs the same way on an operator's machine and inside the snip image from the
# backup CronJob (k8s/maintenance/), which mounts the backups claim on /backups.
set -euo pipefail

SCRIPT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=scripts/lib/common.sh
source "${SCRIPT_DIR}/../lib/common.sh"
# shellcheck source=scripts/lib/pg.sh
source "${SCRIPT_DIR}/../lib/pg.sh"

readonly EX_LOCKED=75 # another backup holds the lock (EX_TEMPFAIL)

usage() {
  cat <<'EOF'
Usage: scripts/backup/db-backup.sh [options]

Back up snip's PostgreSQL database with `pg_dump -Fc`. The dump is written under a
temporary name, checked with `pg_restore --list`, and only then renamed to
  <dir>/snip-<database>-<UTC timestamp>.dump
next to <name>.dump.sha256 (`sha256sum -c` format) and <name>.dump.json (time, size,
duration, schema revision, exact row count of every table). On any failure no new
.dump/.sha256/.json file is left behind. Prints the path of the new dump on stdout.

Options:
  -d, --dir DIR           where backups go (default: $BACKUP_DIR, else ./backups)
      --keep N            keep the newest N backups, delete older ones (default: $BACKUP_KEEP, else 14; 0 = no limit)
      --max-age-days D    delete backups older than D days (default: $BACKUP_MAX_AGE_DAYS, else no limit)
                          The newest backup is never deleted by retention.
      --no-retention      do not delete anything
      --dry-run           show what would be done; write and delete nothing
  -h, --help              show this help

Environment:
  DATABASE_URL            postgresql://user:pass@host:5432/db (postgresql+psycopg:// accepted);
                          when unset, libpq's PGHOST, PGPORT, PGUSER, PGPASSWORD, PGDATABASE
  BACKUP_DIR, BACKUP_KEEP, BACKUP_MAX_AGE_DAYS   defaults for the options above
  PUSHGATEWAY_URL         e.g. http://pushgateway:9091; when set, pushes (job="snip-backup")
                          snip_backup_last_success_timestamp_seconds, snip_backup_duration_seconds,
                          snip_backup_size_bytes on success, and
                          snip_backup_last_failure_timestamp_seconds on failure
  PGCONNECT_TIMEOUT       seconds to wait for the server (default 10)

Exit codes:
  0   backup written and verified
  1   backup failed (database unreachable, dump or verification failed, disk full, ...)
  64  bad command line
  69  a required tool (pg_dump, pg_restore, psql, sha256sum, flock) is missing
  75  another backup is running (lock held); nothing was done
EOF
}

BACKUP_DIR="${BACKUP_DIR:-./backups}"
KEEP="${BACKUP_KEEP:-14}"
MAX_AGE_DAYS="${BACKUP_MAX_AGE_DAYS:-}"
RETENTION=1

while [[ $# -gt 0 ]]; do
  case "$1" in
    -d | --dir) need_value "$@"; BACKUP_DIR="$2"; shift 2 ;;
    --keep) need_value "$@"; KEEP="$2"; shift 2 ;;
    --max-age-days) need_value "$@"; MAX_AGE_DAYS="$2"; shift 2 ;;
    --no-retention) RETENTION=0; shift ;;
    --dry-run) DRY_RUN=1; shift ;;
    -h | --help) usage; exit 0 ;;
    *) usage_error "unknown option: $1" ;;
  esac
done
[[ "${KEEP}" =~ ^[0-9]+$ ]] || usage_error "--keep must be a whole number, got '${KEEP}'"
[[ -z "${MAX_AGE_DAYS}" || "${MAX_AGE_DAYS}" =~ ^[0-9]+$ ]] ||
  usage_error "--max-age-days must be a whole number, got '${MAX_AGE_DAYS}'"

require_tools pg_dump pg_restore psql sha256sum flock date stat

# ------------------------------------------------------------------ metrics

# push_metrics BODY : POST (not PUT) so a failure push keeps the last success metrics
# of the same group and vice versa. A Pushgateway problem is reported, never fatal:
# the backup itself is what matters, and the "backup too old" alert still catches it.
push_metrics() {
  [[ -n "${PUSHGATEWAY_URL:-}" && "${DRY_RUN}" != 1 ]] || return 0
  local url="${PUSHGATEWAY_URL%/}/metrics/job/snip-backup"
  if command -v curl >/dev/null 2>&1; then
    curl --silent --show-error --fail --max-time 10 --data-binary @- "${url}" <<<"$1" ||
      warn "could not push metrics to ${url}"
  elif command -v python3 >/dev/null 2>&1; then
    python3 -c 'import sys, urllib.request
urllib.request.urlopen(urllib.request.Request(sys.argv[1], sys.stdin.buffer.read(), method="POST"), timeout=10)' \
      "${url}" <<<"$1" || warn "could not push metrics to ${url}"
  else
    warn "PUSHGATEWAY_URL is set but neither curl nor python3 is available to push"
  fi
}

# --------------------------------------------------------------- cleanup

TMP_FILES=()
FINAL_FILES=()
SUCCESS=0
on_exit() {
  local rc=$?
  local f
  pg_snapshot_close
  for f in "${TMP_FILES[@]}"; do rm -f -- "${f}"; done
  if [[ "${SUCCESS}" != 1 ]]; then
    # Partially published sets (e.g. metadata renamed, dump not) are misleading: remove.
    for f in "${FINAL_FILES[@]}"; do rm -f -- "${f}"; done
    if [[ ${rc} -ne 0 && ${rc} -ne ${EX_LOCKED} && ${rc} -ne ${EX_USAGE} ]]; then
      push_metrics "# TYPE snip_backup_last_failure_timestamp_seconds gauge
snip_backup_last_failure_timestamp_seconds $(date +%s)"
    fi
  fi
}
trap on_exit EXIT

# ------------------------------------------------------------- the backup

CONN="$(pg_conninfo)"
info "database: $(pg_redact "${CONN:-<PG* environment>}")"

if [[ "${DRY_RUN}" == 1 ]]; then
  info "[dry-run] would dump into ${BACKUP_DIR}/snip-<database>-<timestamp>.dump (+ .sha256, .json)"
  info "[dry-run] would apply retention: keep=${KEEP} max-age-days=${MAX_AGE_DAYS:-none}"
else
  mkdir -p -- "${BACKUP_DIR}"
fi
[[ "${DRY_RUN}" == 1 && ! -d "${BACKUP_DIR}" ]] || BACKUP_DIR="$(cd "${BACKUP_DIR}" && pwd)"

if [[ "${DRY_RUN}" != 1 ]]; then
  # One backup at a time per directory: a second CronJob run or an operator's manual run
  # must not interleave with the first (retention could delete what the other writes).
  exec 9>"${BACKUP_DIR}/.snip-backup.lock"
  flock --nonblock 9 || die "${EX_LOCKED}" "another backup is running in ${BACKUP_DIR} (lock held); exiting"
fi

START_NS="$(date +%s%N)"
DBNAME="$(pg_dbname "${CONN}")" || die "cannot connect to the database (see the error above)"
SERVER_VERSION="$(pg_psql "${CONN}" -c 'SHOW server_version')"
STAMP="$(date -u +%Y%m%dT%H%M%S%3NZ)"
NAME="snip-${DBNAME}-${STAMP}.dump"
FINAL="${BACKUP_DIR}/${NAME}"
TMP="${BACKUP_DIR}/.${NAME}.partial"

if [[ "${DRY_RUN}" == 1 ]]; then
  info "[dry-run] database '${DBNAME}' (PostgreSQL ${SERVER_VERSION}) answers; would write ${FINAL}"
  exit 0
fi

# Revision and row counts come from the very snapshot pg_dump dumps (exported by a
# REPEATABLE READ transaction that stays open until the dump is done), so they
# describe the dump exactly, however busy the database is.
pg_snapshot_open "${CONN}" || die "cannot open a snapshot of '${DBNAME}' (see the error above)"
REVISION="$(pg_snapshot_revision)" || die "cannot read the schema revision"
ROW_COUNTS="$(pg_snapshot_row_counts)" || die "cannot count the rows"

TMP_FILES+=("${TMP}" "${TMP}.sha256" "${TMP}.json")
info "dumping '${DBNAME}' (snapshot ${PG_SNAPSHOT}) to ${FINAL}"
dump_args=(--format=custom --compress=6 --no-owner --no-privileges "--snapshot=${PG_SNAPSHOT}" "--file=${TMP}")
if [[ -n "${CONN}" ]]; then dump_args+=("--dbname=${CONN}"); fi
pg_dump "${dump_args[@]}" || die "pg_dump failed; no backup written"
pg_snapshot_close

# A dump pg_restore cannot list is no backup: catches truncation and format damage.
pg_restore --list "${TMP}" >/dev/null || die "pg_restore --list rejects the new dump; no backup written"

SIZE="$(stat -c %s "${TMP}")"
SHA="$(sha256sum "${TMP}" | cut -d' ' -f1)"
END_NS="$(date +%s%N)"
DURATION="$(awk -v a="${START_NS}" -v b="${END_NS}" 'BEGIN { printf "%.3f", (b - a) / 1e9 }')"

printf '%s  %s\n' "${SHA}" "${NAME}" >"${TMP}.sha256"

# JSON written by hand: the image may lack jq. Names are SQL identifiers reported by
# the server; quotes and backslashes are escaped all the same.
json_str() { local s="${1//\\/\\\\}"; printf '"%s"' "${s//\"/\\\"}"; }
{
  printf '{\n'
  printf '  "file": %s,\n' "$(json_str "${NAME}")"
  printf '  "format": "pg_dump-custom",\n'
  printf '  "created_at": %s,\n' "$(json_str "$(date -u +%Y-%m-%dT%H:%M:%SZ)")"
  printf '  "database": %s,\n' "$(json_str "${DBNAME}")"
  printf '  "server_version": %s,\n' "$(json_str "${SERVER_VERSION}")"
  printf '  "pg_dump_version": %s,\n' "$(json_str "$(pg_dump --version)")"
  printf '  "size_bytes": %s,\n' "${SIZE}"
  printf '  "duration_seconds": %s,\n' "${DURATION}"
  printf '  "sha256": "%s",\n' "${SHA}"
  printf '  "schema_revision": %s,\n' "$(json_str "${REVISION}")"
  printf '  "row_counts": {'
  sep=""
  while IFS=$'\t' read -r table rows; do
    [[ -n "${table}" ]] || continue
    printf '%s\n    %s: %s' "${sep}" "$(json_str "${table}")" "${rows}"
    sep=","
  done <<<"${ROW_COUNTS}"
  printf '\n  }\n}\n'
} >"${TMP}.json"

# Publish: metadata first, the dump last. The .dump appearing is the "complete" signal
# dr-restore.sh relies on; if anything fails in between, on_exit removes the set.
FINAL_FILES+=("${FINAL}.sha256" "${FINAL}.json" "${FINAL}")
mv -f -- "${TMP}.sha256" "${FINAL}.sha256"
mv -f -- "${TMP}.json" "${FINAL}.json"
mv -f -- "${TMP}" "${FINAL}"
sync -f "${FINAL}" 2>/dev/null || true
SUCCESS=1
info "backup complete: ${FINAL} (${SIZE} bytes, ${DURATION}s, revision ${REVISION})"

push_metrics "# TYPE snip_backup_last_success_timestamp_seconds gauge
snip_backup_last_success_timestamp_seconds $(date +%s)
# TYPE snip_backup_duration_seconds gauge
snip_backup_duration_seconds ${DURATION}
# TYPE snip_backup_size_bytes gauge
snip_backup_size_bytes ${SIZE}"

# ------------------------------------------------------------- retention

# stamp_epoch NAME : seconds since epoch from the UTC stamp in a backup's name.
stamp_epoch() {
  local s="${1##*-}"
  s="${s%.dump}"
  date -u -d "${s:0:4}-${s:4:2}-${s:6:2}T${s:9:2}:${s:11:2}:${s:13:2}Z" +%s
}

if [[ "${RETENTION}" == 1 ]]; then
  now="$(date +%s)"
  # Only this database's dumps, newest first (the UTC stamp sorts chronologically).
  mapfile -t dumps < <(find "${BACKUP_DIR}" -maxdepth 1 -type f -name "snip-${DBNAME}-*.dump" -printf '%f\n' | sort -r)
  for i in "${!dumps[@]}"; do
    ((i == 0)) && continue # never the newest: that is the one just written
    reason=""
    if ((KEEP > 0 && i >= KEEP)); then reason="more than ${KEEP} backups"; fi
    if [[ -n "${MAX_AGE_DAYS}" ]]; then
      if ! epoch="$(stamp_epoch "${dumps[i]}" 2>/dev/null)"; then
        warn "retention: cannot read the date in ${dumps[i]}; leaving it"
        continue
      fi
      if ((now - epoch > MAX_AGE_DAYS * 86400)); then reason="older than ${MAX_AGE_DAYS} days"; fi
    fi
    if [[ -n "${reason}" ]]; then
      info "retention: deleting ${dumps[i]} (${reason})"
      rm -f -- "${BACKUP_DIR}/${dumps[i]}" "${BACKUP_DIR}/${dumps[i]}.sha256" "${BACKUP_DIR}/${dumps[i]}.json"
    fi
  done
fi

printf '%s\n' "${FINAL}"
