#!/usr/bin/env bash
# Disaster recovery: restore a db-backup.sh dump into a NEW database, prove it is
# complete, report how long it took (our measured RTO), and only then, when asked,
# point the application at it.
#
# Restores never go in place (the CloudNativePG rule): the broken or suspect database
# stays untouched for investigation until someone decides otherwise.
set -euo pipefail

SCRIPT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=scripts/lib/common.sh
source "${SCRIPT_DIR}/../lib/common.sh"
# shellcheck source=scripts/lib/pg.sh
source "${SCRIPT_DIR}/../lib/pg.sh"
# shellcheck source=scripts/lib/kube.sh
source "${SCRIPT_DIR}/../lib/kube.sh"

# Point-in-time recovery (base backup + WAL archive) is its own script; this one
# keeps the logical-dump restores and hands the other kind over.
for arg in "$@"; do
  case "${arg}" in
    --to-time | --to-latest) exec "${SCRIPT_DIR}/pitr-restore.sh" "$@" ;;
  esac
done

SNIP_RESTART_DEPLOYMENTS="${SNIP_RESTART_DEPLOYMENTS:-snip-api snip-flusher}"
readonly EX_REFUSED=2 # target exists, confirmation missing
readonly EX_BAD_BACKUP=3 # corrupted, truncated or incomplete backup

usage() {
  cat <<'EOF'
Usage: scripts/backup/dr-restore.sh [options]
       scripts/backup/dr-restore.sh --to-time '<ISO 8601>' | --to-latest [options]
           point-in-time recovery from the pgBackRest repository (object storage) into
           a NEW data directory, verified: see scripts/backup/pitr-restore.sh --help

Restore the latest (or a chosen) backup made by db-backup.sh into a new database on the
server DATABASE_URL points at, then verify it:
  before: the SHA-256 in <dump>.sha256 matches and `pg_restore --list` reads the dump;
  after:  the schema revision and the exact row count of every table equal <dump>.json.
Prints the elapsed seconds (the recovery time). A restore that fails verification is
dropped again, so no half-restored database is left behind.

Options:
  -b, --backup FILE       the dump to restore (default: the newest complete one in the dir)
  -d, --dir DIR           where backups are (default: $BACKUP_DIR, else ./backups)
  -t, --target-db NAME    database to create (default: snip_restore_<UTC timestamp>)
      --force-overwrite   allow NAME to exist: it is DROPPED first, after you type its name
                          (non-interactive: SNIP_CONFIRM_TOKEN=NAME)
  -j, --jobs N            parallel pg_restore jobs (default 2)
      --switch MODE       after a verified restore, point the app at the new database:
                            print       print the new DATABASE_URL and the kubectl steps
                            kubernetes  patch DATABASE_URL in the Secret and restart the
                                        Deployment (asks first; --yes to skip)
      --switch-only       skip the restore: only switch to --target-db NAME, an already
                          restored and verified database (with --switch MODE)
      --list              list the backups in the dir (newest first) and exit
      --dry-run           check the backup and the target, change nothing
  -y, --yes               answer yes to the --switch kubernetes confirmation
  -h, --help              show this help

Environment:
  DATABASE_URL            server and credentials to restore on (its database is not touched);
                          when unset, libpq's PGHOST, PGPORT, PGUSER, PGPASSWORD
  BACKUP_DIR              default for --dir
  SNIP_NAMESPACE          Kubernetes namespace (default snip)
  SNIP_DEPLOYMENT         the API Deployment named in --switch print (default snip-api)
  SNIP_RESTART_DEPLOYMENTS  Deployments restarted by --switch kubernetes
                          (default "snip-api snip-flusher")
  SNIP_SECRET_NAME        Secret holding DATABASE_URL (default snip-secrets)
  SNIP_CONFIRM_TOKEN      non-interactive typed confirmation for --force-overwrite
  PGCONNECT_TIMEOUT       seconds to wait for the server (default 10)

Exit codes:
  0   restored and verified (and switched, if asked)
  1   restore or verification failed; the new database was dropped
  2   refused: the target database exists (see --force-overwrite) or confirmation missing
  3   the backup is corrupted, truncated or incomplete (checksum, listing or metadata)
  64  bad command line
  69  a required tool is missing
EOF
}

BACKUP_DIR="${BACKUP_DIR:-./backups}"
BACKUP=""
TARGET=""
FORCE=0
JOBS=2
SWITCH=""
LIST=0
SWITCH_ONLY=0

while [[ $# -gt 0 ]]; do
  case "$1" in
    -b | --backup) need_value "$@"; BACKUP="$2"; shift 2 ;;
    -d | --dir) need_value "$@"; BACKUP_DIR="$2"; shift 2 ;;
    -t | --target-db) need_value "$@"; TARGET="$2"; shift 2 ;;
    --force-overwrite) FORCE=1; shift ;;
    -j | --jobs) need_value "$@"; JOBS="$2"; shift 2 ;;
    --switch) need_value "$@"; SWITCH="$2"; shift 2 ;;
    --switch-only) SWITCH_ONLY=1; shift ;;
    --list) LIST=1; shift ;;
    --dry-run) DRY_RUN=1; shift ;;
    -y | --yes) ASSUME_YES=1; shift ;;
    -h | --help) usage; exit 0 ;;
    *) usage_error "unknown option: $1" ;;
  esac
done
[[ "${JOBS}" =~ ^[1-9][0-9]*$ ]] || usage_error "--jobs must be a positive number"
[[ -z "${SWITCH}" || "${SWITCH}" == print || "${SWITCH}" == kubernetes ]] ||
  usage_error "--switch must be 'print' or 'kubernetes'"
[[ -z "${TARGET}" || "${TARGET}" =~ ^[A-Za-z_][A-Za-z0-9_]{0,62}$ ]] ||
  usage_error "--target-db must be a plain identifier (letters, digits, _), got '${TARGET}'"

if [[ "${SWITCH_ONLY}" == 1 ]]; then
  [[ -n "${SWITCH}" && -n "${TARGET}" ]] || usage_error "--switch-only needs --switch MODE and --target-db NAME"
fi
require_tools pg_restore psql sha256sum python3 date
[[ "${SWITCH}" != kubernetes ]] || require_tools kubectl base64

# switch_print / switch_kubernetes : point the application at ${TARGET}.
switch_print() {
  cat <<EOF
# The restored database is ready. To point snip at it:
#   local / .env:    DATABASE_URL=$(pg_redact "${TARGET_CONN}")
#   Kubernetes:      scripts/backup/dr-restore.sh --switch-only --switch kubernetes --target-db ${TARGET}
#                    or by hand:
#     kubectl -n ${SNIP_NAMESPACE} get secret ${SNIP_SECRET_NAME} -o jsonpath='{.data.DATABASE_URL}' | base64 -d
#     kubectl -n ${SNIP_NAMESPACE} patch secret ${SNIP_SECRET_NAME} --type merge -p '{"stringData":{"DATABASE_URL":"<same URL, database ${TARGET}>"}}'
#     for d in ${SNIP_RESTART_DEPLOYMENTS}; do kubectl -n ${SNIP_NAMESPACE} rollout restart deployment/\$d; done
#     kubectl -n ${SNIP_NAMESPACE} rollout status deployment/${SNIP_DEPLOYMENT} --timeout=300s
EOF
}

switch_kubernetes() {
  kube_show_context
  # Keep the in-cluster host and credentials of the current Secret: the URL this script
  # used may be a port-forward that means nothing inside the cluster.
  local current new
  current="$(kubectl -n "${SNIP_NAMESPACE}" get secret "${SNIP_SECRET_NAME}" -o jsonpath='{.data.DATABASE_URL}' | base64 -d)" ||
    die "cannot read DATABASE_URL from secret/${SNIP_SECRET_NAME}"
  [[ -n "${current}" ]] || die "secret/${SNIP_SECRET_NAME} has no DATABASE_URL"
  new="$(pg_url_with_db "${current}" "${TARGET}")"
  info "switching secret/${SNIP_SECRET_NAME}: $(pg_redact "${current}") -> $(pg_redact "${new}")"
  confirm "Point ${SNIP_RESTART_DEPLOYMENTS} at database '${TARGET}' and restart them?" ||
    die "${EX_REFUSED}" "switch not confirmed; the restored database stays ready, nothing switched"
  local patch
  patch="$(python3 -c 'import json, sys; print(json.dumps({"stringData": {"DATABASE_URL": sys.argv[1]}}))' "${new}")"
  kubectl -n "${SNIP_NAMESPACE}" patch secret "${SNIP_SECRET_NAME}" --type merge -p "${patch}"
  # Every long-running reader of the Secret must restart to see the new URL; Jobs and
  # CronJobs (migrations, purge) read it at their next start.
  local d
  for d in ${SNIP_RESTART_DEPLOYMENTS}; do
    kubectl -n "${SNIP_NAMESPACE}" rollout restart "deployment/${d}"
  done
  for d in ${SNIP_RESTART_DEPLOYMENTS}; do
    kubectl -n "${SNIP_NAMESPACE}" rollout status "deployment/${d}" --timeout=300s
  done
  info "switched: ${SNIP_RESTART_DEPLOYMENTS} now use '${TARGET}'. The old database is untouched."
  warn "the backup CronJob and the PostgreSQL exporter name their database themselves (PGDATABASE, datname): point them at '${TARGET}' too, or rename the databases (Runbook.md, 'Disaster recovery')"
}

# complete_backups DIR : dumps that have their checksum and metadata, newest first.
complete_backups() {
  local f
  find "$1" -maxdepth 1 -type f -name 'snip-*.dump' -printf '%f\n' 2>/dev/null | sort -r |
    while read -r f; do
      if [[ -f "$1/${f}.sha256" && -f "$1/${f}.json" ]]; then printf '%s/%s\n' "$1" "${f}"; fi
    done
}

if [[ "${SWITCH_ONLY}" == 1 ]]; then
  TARGET_CONN="$(pg_url_with_db "${DATABASE_URL:-postgresql://localhost/postgres}" "${TARGET}")"
  if [[ "${DRY_RUN}" == 1 ]]; then
    info "[dry-run] would switch the application to database '${TARGET}' (--switch ${SWITCH})"
    [[ "${SWITCH}" != kubernetes ]] || kube_show_context
    exit 0
  fi
  "switch_${SWITCH}"
  exit 0
fi

if [[ "${LIST}" == 1 ]]; then
  complete_backups "${BACKUP_DIR}"
  exit 0
fi

START_NS="$(date +%s%N)"

# ------------------------------------------------------------- the backup
if [[ -z "${BACKUP}" ]]; then
  # Not `| head -n 1`: under pipefail the listing would die of SIGPIPE once head exits.
  mapfile -t candidates < <(complete_backups "${BACKUP_DIR}")
  BACKUP="${candidates[0]:-}"
  [[ -n "${BACKUP}" ]] || die "${EX_BAD_BACKUP}" "no complete backup (.dump + .sha256 + .json) in ${BACKUP_DIR}"
fi
[[ -f "${BACKUP}" ]] || die "${EX_BAD_BACKUP}" "backup not found: ${BACKUP}"
for sidecar in sha256 json; do
  [[ -f "${BACKUP}.${sidecar}" ]] ||
    die "${EX_BAD_BACKUP}" "${BACKUP}.${sidecar} is missing: the backup is incomplete, refusing it"
done
info "backup: ${BACKUP}"

# The checksum file names the dump relative to its folder (sha256sum -c format).
if ! (cd "$(dirname "${BACKUP}")" && sha256sum --check --status "$(basename "${BACKUP}").sha256"); then
  die "${EX_BAD_BACKUP}" "CHECKSUM MISMATCH: ${BACKUP} is corrupted or truncated (it differs from ${BACKUP}.sha256); refusing to restore it. Pick another with --backup (see --list)."
fi
info "checksum ok"
if ! pg_restore --list "${BACKUP}" >/dev/null 2>&1; then
  die "${EX_BAD_BACKUP}" "pg_restore cannot read ${BACKUP}: the dump is damaged; refusing to restore it"
fi

# meta_get KEY : one field of the metadata (python3: the image may have no jq).
meta_get() {
  python3 -c 'import json, sys
data = json.load(open(sys.argv[1]))
value = data[sys.argv[2]]
if isinstance(value, dict):
    for key in sorted(value):
        print(f"{key}\t{value[key]}")
else:
    print(value)' "${BACKUP}.json" "$1"
}
EXPECTED_REVISION="$(meta_get schema_revision)" || die "${EX_BAD_BACKUP}" "${BACKUP}.json is unreadable"
EXPECTED_COUNTS="$(meta_get row_counts)" || die "${EX_BAD_BACKUP}" "${BACKUP}.json has no row counts"

# ------------------------------------------------------------- the target
CONN="$(pg_conninfo)"
# Administrative statements go to the maintenance database of the same server.
if [[ -n "${CONN}" ]]; then
  ADMIN_CONN="$(pg_url_with_db "${CONN}" postgres)"
else
  ADMIN_CONN="dbname=postgres"
fi
[[ -n "${TARGET}" ]] || TARGET="snip_restore_$(date -u +%Y%m%d_%H%M%S)"
if [[ -n "${CONN}" ]]; then
  TARGET_CONN="$(pg_url_with_db "${CONN}" "${TARGET}")"
else
  TARGET_CONN="dbname=${TARGET}"
fi
info "server: $(pg_redact "${CONN:-<PG* environment>}"), new database: ${TARGET}"

EXISTS=0
pg_database_exists "${ADMIN_CONN}" "${TARGET}" && EXISTS=1
if [[ "${EXISTS}" == 1 ]]; then
  if [[ "${FORCE}" != 1 ]]; then
    die "${EX_REFUSED}" "database '${TARGET}' already exists; restores go into a NEW database. Choose another --target-db, or add --force-overwrite to DROP it first."
  fi
  warn "--force-overwrite: database '${TARGET}' exists and will be DROPPED with all its data"
fi

if [[ "${DRY_RUN}" == 1 ]]; then
  info "[dry-run] backup verified; would $( ((EXISTS)) && printf 'drop and ')create '${TARGET}', restore with ${JOBS} jobs, verify revision ${EXPECTED_REVISION} and row counts"
  [[ -z "${SWITCH}" ]] || info "[dry-run] would then switch the application (--switch ${SWITCH})"
  exit 0
fi

if [[ "${EXISTS}" == 1 ]]; then
  confirm_typed "${TARGET}" "DROP database '${TARGET}'?" ||
    die "${EX_REFUSED}" "not confirmed; '${TARGET}' left untouched"
  pg_psql "${ADMIN_CONN}" -c "DROP DATABASE \"${TARGET}\" WITH (FORCE)"
fi

CREATED=0
VERIFIED=0
on_exit() {
  if [[ "${CREATED}" == 1 && "${VERIFIED}" != 1 ]]; then
    warn "dropping the incomplete database '${TARGET}'"
    pg_psql "${ADMIN_CONN}" -c "DROP DATABASE IF EXISTS \"${TARGET}\" WITH (FORCE)" || true
  fi
}
trap on_exit EXIT

pg_psql "${ADMIN_CONN}" -c "CREATE DATABASE \"${TARGET}\"" || die "cannot create database '${TARGET}'"
CREATED=1

info "restoring (pg_restore --jobs ${JOBS})"
# --no-owner/--no-privileges: the restoring role owns everything, so a restore works on a
# server where the original roles don't exist (roles are not part of a database dump).
pg_restore --dbname="${TARGET_CONN}" --jobs="${JOBS}" --no-owner --no-privileges --exit-on-error "${BACKUP}" ||
  die "pg_restore failed"

# ------------------------------------------------------------- verification
REVISION="$(pg_schema_revision "${TARGET_CONN}")"
if [[ "${REVISION}" != "${EXPECTED_REVISION}" ]]; then
  die "schema revision mismatch: restored '${REVISION}', backup says '${EXPECTED_REVISION}'"
fi
COUNTS="$(pg_row_counts "${TARGET_CONN}")"
if [[ "${COUNTS}" != "${EXPECTED_COUNTS}" ]]; then
  error "row counts differ from ${BACKUP}.json (< expected, > restored):"
  diff <(printf '%s\n' "${EXPECTED_COUNTS}") <(printf '%s\n' "${COUNTS}") >&2 || true
  die "row count mismatch"
fi
VERIFIED=1
ELAPSED="$(awk -v a="${START_NS}" -v b="$(date +%s%N)" 'BEGIN { printf "%.1f", (b - a) / 1e9 }')"
TABLES="$(printf '%s\n' "${COUNTS}" | grep -c .)"
ROWS="$(printf '%s\n' "${COUNTS}" | awk -F'\t' '{ s += $2 } END { print s + 0 }')"
info "verified: revision ${REVISION}, ${TABLES} tables, ${ROWS} rows, all counts equal the backup's"
info "restore completed in ${ELAPSED} seconds (RTO for this backup)"

case "${SWITCH}" in
  print) switch_print ;;
  kubernetes) switch_kubernetes ;;
  *) info "not switching (add --switch print|kubernetes); new DATABASE_URL: $(pg_redact "${TARGET_CONN}")" ;;
esac

printf 'restored_database=%s elapsed_seconds=%s\n' "${TARGET}" "${ELAPSED}"
