# shellcheck shell=bash
# pgBackRest helpers shared by base-backup.sh, pitr-restore.sh and restore-drill.sh.
#
# Configuration is pgBackRest's own, never re-invented here: its config file
# (PGBACKREST_CONFIG, default /etc/pgbackrest/pgbackrest.conf) and/or its
# environment variables (PGBACKREST_STANZA, PGBACKREST_REPO1_TYPE=s3,
# PGBACKREST_REPO1_S3_BUCKET, PGBACKREST_REPO1_S3_KEY, PGBACKREST_REPO1_CIPHER_PASS, ...;
# docs/backup-and-restore.md lists the ones snip uses). In Kubernetes the secret
# ones come from the Secret snip-backup-s3, the others from a ConfigMap.

# Exit codes of the backup scripts beyond common.sh's, shared so --help texts agree.
readonly EX_BAD_BACKUP=3  # the backup cannot be trusted: corrupted object, wrong key, WAL gap
readonly EX_LOCKED=75     # another backup holds the lock (EX_TEMPFAIL)

# pgbr_preflight : tools and a stanza name, or a clear refusal.
pgbr_preflight() {
  require_tools pgbackrest
  [[ -n "${PGBACKREST_STANZA:-}" ]] || grep -qs '^\[' "${PGBACKREST_CONFIG:-/etc/pgbackrest/pgbackrest.conf}" ||
    die "${EX_PREFLIGHT}" "no pgBackRest configuration: set PGBACKREST_STANZA and the PGBACKREST_REPO1_* variables, or PGBACKREST_CONFIG (docs/backup-and-restore.md)"
  # pgBackRest writes a lock and (unless told otherwise) a log file; the images run
  # with a read-only root, so both go to a writable place by default.
  export PGBACKREST_LOCK_PATH="${PGBACKREST_LOCK_PATH:-${TMPDIR:-/tmp}/pgbackrest-lock}"
  export PGBACKREST_LOG_LEVEL_FILE="${PGBACKREST_LOG_LEVEL_FILE:-off}"
  export PGBACKREST_LOG_LEVEL_CONSOLE="${PGBACKREST_LOG_LEVEL_CONSOLE:-warn}"
  export PGBACKREST_LOG_LEVEL_STDERR="${PGBACKREST_LOG_LEVEL_STDERR:-off}"
}

# pgbr_explain OUTPUT : one sentence naming what is wrong, from pgBackRest's output.
# Order matters: a wrong key also produces "unable to find backup set" lines.
pgbr_explain() {
  local out="$1"
  # The key opens the repository's info files first (each kept twice). Decrypting
  # with a wrong key fails (CryptoError) or, when the padding happens to look valid,
  # yields garbage that does not parse (FormatError): both mean the key is wrong.
  if grep -qiE 'CryptoError|is or was the repo encrypted' <<<"${out}" ||
    grep -qiE 'unable to load info file.*' <<<"${out}" && grep -qiE 'FormatError' <<<"${out}"; then
    printf 'WRONG ENCRYPTION KEY: the repository cannot be decrypted with PGBACKREST_REPO1_CIPHER_PASS (the operator-provided key), or both copies of its info file are damaged; nothing was restored'
  elif grep -qiE 'ChecksumError|checksum|FormatError|zlib|lz4|zst|unable to decompress|invalid.*(header|size)' <<<"${out}"; then
    printf 'CORRUPTED BACKUP OBJECT: a file downloaded from the repository fails its checksum or cannot be decoded (%s)' \
      "$(grep -m1 -iE 'error' <<<"${out}" | sed 's/^ *//' | cut -c1-200)"
  elif grep -qiE 'was not archived before' <<<"${out}"; then
    printf 'WAL ARCHIVING IS NOT WORKING: PostgreSQL cannot push WAL to the repository (its archive_command fails: see the PostgreSQL log); a backup now could not be restored'
  elif grep -qiE 'FileMissingError|unable to find .* in the archive' <<<"${out}"; then
    printf 'MISSING WAL SEGMENT: %s' "$(grep -m1 -iE 'missing|unable to find' <<<"${out}" | sed 's/^ *//' | cut -c1-200)"
  elif grep -qiE 'LockAcquireError|unable to acquire lock' <<<"${out}"; then
    printf 'another pgBackRest command holds the lock'
  elif grep -qiE 'HTTP request failed|unable to connect|HostConnectError|403|InvalidAccessKeyId|SignatureDoesNotMatch' <<<"${out}"; then
    printf 'OBJECT STORE UNREACHABLE OR ACCESS DENIED: %s' "$(grep -m1 -iE 'error' <<<"${out}" | sed 's/^ *//' | cut -c1-200)"
  else
    printf 'pgBackRest failed: %s' "$(grep -m1 -E 'ERROR' <<<"${out}" | sed 's/^ *//' | cut -c1-300)"
  fi
}

# pgbr_exit_code SENTENCE : the exit code that goes with pgbr_explain's sentence.
pgbr_exit_code() {
  case "$1" in
    WRONG* | CORRUPTED* | MISSING*) printf '%s' "${EX_BAD_BACKUP}" ;;
    another*) printf '%s' "${EX_LOCKED}" ;;
    *) printf '%s' "${EX_FAIL}" ;;
  esac
}

# pgbr COMMAND ARGS... : run pgBackRest (pipefail keeps its exit status); on failure log its output and die with the
# sentence and exit code that say which problem it was.
pgbr() {
  local out rc=0
  # Printable characters only: with a wrong key pgBackRest may echo decrypted garbage.
  out="$(pgbackrest "$@" 2>&1 | LC_ALL=C tr -cd '[:print:]\t\n')" || rc=$?
  if ((rc != 0)); then
    printf '%s\n' "${out}" >&2
    local why
    why="$(pgbr_explain "${out}")"
    die "$(pgbr_exit_code "${why}")" "pgbackrest $1: ${why}"
  fi
  [[ -z "${out}" ]] || printf '%s\n' "${out}"
}

# pgbr_push_metrics JOB BODY : POST to the Pushgateway (job=JOB). Never fatal: the
# backup or drill is what matters, and the "too old" alerts still catch a lost push.
pgbr_push_metrics() {
  [[ -n "${PUSHGATEWAY_URL:-}" && "${DRY_RUN}" != 1 ]] || return 0
  local url="${PUSHGATEWAY_URL%/}/metrics/job/$1"
  if command -v curl >/dev/null 2>&1; then
    curl --silent --show-error --fail --max-time 10 --data-binary @- "${url}" <<<"$2" ||
      warn "could not push metrics to ${url}"
  else
    python3 -c 'import sys, urllib.request
urllib.request.urlopen(urllib.request.Request(sys.argv[1], sys.stdin.buffer.read(), method="POST"), timeout=10)' \
      "${url}" <<<"$2" || warn "could not push metrics to ${url}"
  fi
}

# elapsed_since START_NS : seconds since START_NS (date +%s%N), one decimal.
elapsed_since() {
  awk -v a="$1" -v b="$(date +%s%N)" 'BEGIN { printf "%.1f", (b - a) / 1e9 }'
}
