# shellcheck shell=bash
# PostgreSQL helpers shared by db-backup.sh and dr-restore.sh.
#
# Connection: DATABASE_URL when set (the application's own variable, so one setting
# serves the app and its backups), otherwise libpq's PG* variables (PGHOST, PGPORT,
# PGUSER, PGPASSWORD, PGDATABASE). SQLAlchemy spells driver-qualified URLs such as
# postgresql+psycopg://; libpq does not understand the "+driver" part, so it is removed.

# Fail fast when the server is unreachable instead of hanging a CronJob for minutes.
export PGCONNECT_TIMEOUT="${PGCONNECT_TIMEOUT:-10}"

# pg_conninfo : the libpq connection string (a URI), or "" to let PG* variables decide.
pg_conninfo() {
  local url="${DATABASE_URL:-}"
  if [[ -z "${url}" ]]; then
    printf ''
    return 0
  fi
  url="${url/#postgresql+*:\/\//postgresql://}"
  url="${url/#postgres+*:\/\//postgresql://}"
  if [[ ! "${url}" =~ ^postgres(ql)?:// ]]; then
    die "${EX_USAGE}" "DATABASE_URL is not a PostgreSQL URL (starts with '${url%%:*}:'); backups need PostgreSQL"
  fi
  printf '%s' "${url}"
}

# pg_redact URL : the URL with its password replaced, safe for logs.
pg_redact() {
  local url="$1"
  if [[ "${url}" =~ ^([a-z+]+://[^:/@]+):[^@]*@(.*)$ ]]; then
    printf '%s:***@%s' "${BASH_REMATCH[1]}" "${BASH_REMATCH[2]}"
  else
    printf '%s' "${url}"
  fi
}

# pg_url_with_db URL NAME : the same server and credentials, another database.
pg_url_with_db() {
  local url="$1" name="$2" query=""
  if [[ "${url}" == *\?* ]]; then
    query="?${url#*\?}"
    url="${url%%\?*}"
  fi
  if [[ "${url}" =~ ^([a-z+]+://[^/]*)(/.*)?$ ]]; then
    printf '%s/%s%s' "${BASH_REMATCH[1]}" "${name}" "${query}"
  else
    die "cannot parse database URL: $(pg_redact "${url}")"
  fi
}

# pg_dbname CONNINFO : the database a connection string points at (asks the server,
# so PG* defaults are resolved the way libpq resolves them).
pg_dbname() {
  pg_psql "$1" -c 'SELECT current_database()'
}

# pg_psql CONNINFO ARGS... : psql, quiet, unaligned, tuples only, stop on error.
pg_psql() {
  local conn="$1"
  shift
  local args=(--no-psqlrc --quiet --tuples-only --no-align --set=ON_ERROR_STOP=1)
  if [[ -n "${conn}" ]]; then args+=("--dbname=${conn}"); fi
  psql "${args[@]}" "$@"
}

# pg_schema_revision CONNINFO : Alembic revision, or "none" when the table is absent.
pg_schema_revision() {
  local exists rev=""
  exists="$(pg_psql "$1" -c "SELECT to_regclass('public.alembic_version') IS NOT NULL")"
  if [[ "${exists}" == t ]]; then
    rev="$(pg_psql "$1" -c "SELECT string_agg(version_num, ',' ORDER BY version_num) FROM alembic_version")"
  fi
  printf '%s' "${rev:-none}"
}

# The query behind pg_row_counts, shared with the snapshot session below.
# Exact count(*) on purpose: estimates (pg_class.reltuples) cannot prove a restore
# is complete.
PG_ROW_COUNTS_SQL="SELECT format('SELECT %L, count(*) FROM %I.%I', table_schema || '.' || table_name,
              table_schema, table_name)
FROM information_schema.tables
WHERE table_type = 'BASE TABLE'
  AND table_schema NOT IN ('pg_catalog', 'information_schema')
  AND table_schema NOT LIKE 'pg_toast%'
ORDER BY table_schema, table_name
\\gexec"
# pg_row_counts CONNINFO : "schema.table<TAB>rows" for every user table, sorted.
pg_row_counts() {
  pg_psql "$1" --field-separator=$'\t' <<<"${PG_ROW_COUNTS_SQL}"
}

# ------------------------------------------------------- one snapshot, shared
#
# A backup's metadata (revision, row counts) must describe exactly the data in the
# dump, even while snip writes. So one psql session opens a REPEATABLE READ
# transaction, exports its snapshot (pg_export_snapshot), reads the metadata in it,
# and stays open while `pg_dump --snapshot` dumps that very snapshot.

# pg_snapshot_open CONNINFO : start the session; sets PG_SNAPSHOT (the snapshot id).
pg_snapshot_open() {
  local args=(--no-psqlrc --quiet --tuples-only --no-align --set=ON_ERROR_STOP=1 --field-separator=$'\t')
  if [[ -n "$1" ]]; then args+=("--dbname=$1"); fi
  coproc PG_SNAPSHOT_SESSION { exec psql "${args[@]}" 2>&1; }
  # The session waits, idle in its transaction, while pg_dump runs: no server-side
  # idle timeout may end it before pg_dump has imported the snapshot.
  PG_SNAPSHOT="$(pg_snapshot_query 'BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY;
SET LOCAL idle_in_transaction_session_timeout = 0;
SELECT pg_export_snapshot();')" || return 1
  [[ "${PG_SNAPSHOT}" =~ ^[0-9A-F-]+$ ]] || { error "could not export a snapshot: ${PG_SNAPSHOT}"; return 1; }
}

# pg_snapshot_query SQL : run SQL in the snapshot session; print its output. Fails
# when the session died (its last words are printed).
pg_snapshot_query() {
  local marker="--snip-end-of-query-${RANDOM}${RANDOM}--" line out=""
  [[ -n "${PG_SNAPSHOT_SESSION_PID:-}" ]] || { error "the snapshot session is gone"; return 1; }
  printf '%s\n\\echo %s\n' "$1" "${marker}" >&"${PG_SNAPSHOT_SESSION[1]}" || return 1
  while IFS= read -r line <&"${PG_SNAPSHOT_SESSION[0]}"; do
    if [[ "${line}" == "${marker}" ]]; then
      printf '%s' "${out}"
      return 0
    fi
    out+="${out:+$'\n'}${line}"
  done
  error "the snapshot session ended: ${out}"
  return 1
}

# pg_snapshot_close : end the transaction and the session (safe to call twice).
# pg_snapshot_revision / pg_snapshot_row_counts : pg_schema_revision and
# pg_row_counts, read inside the snapshot.
pg_snapshot_revision() {
  local exists rev=""
  exists="$(pg_snapshot_query "SELECT to_regclass('public.alembic_version') IS NOT NULL;")" || return 1
  if [[ "${exists}" == t ]]; then
    rev="$(pg_snapshot_query "SELECT string_agg(version_num, ',' ORDER BY version_num) FROM alembic_version;")" || return 1
  fi
  printf '%s' "${rev:-none}"
}
pg_snapshot_row_counts() {
  pg_snapshot_query "${PG_ROW_COUNTS_SQL}"
}

pg_snapshot_close() {
  [[ -n "${PG_SNAPSHOT_SESSION_PID:-}" ]] || return 0
  local pid="${PG_SNAPSHOT_SESSION_PID}"
  { printf 'COMMIT;\n\\q\n' >&"${PG_SNAPSHOT_SESSION[1]}"; } 2>/dev/null || true
  wait "${pid}" 2>/dev/null || true
}

# pg_database_exists ADMIN_CONNINFO NAME : true when the database exists.
pg_database_exists() {
  local found
  found="$(pg_psql "$1" -v name="$2" <<'SQL'
SELECT 1 FROM pg_database WHERE datname = :'name'
SQL
)"
  [[ "${found}" == 1 ]]
}
