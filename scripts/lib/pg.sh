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

# pg_row_counts CONNINFO : "schema.table<TAB>rows" for every user table, sorted.
# Exact count(*) on purpose: estimates (pg_class.reltuples) cannot prove a restore
# is complete.
pg_row_counts() {
  pg_psql "$1" --field-separator=$'\t' <<'SQL'
SELECT format('SELECT %L, count(*) FROM %I.%I', table_schema || '.' || table_name,
              table_schema, table_name)
FROM information_schema.tables
WHERE table_type = 'BASE TABLE'
  AND table_schema NOT IN ('pg_catalog', 'information_schema')
  AND table_schema NOT LIKE 'pg_toast%'
ORDER BY table_schema, table_name
\gexec
SQL
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
