# shellcheck shell=bash
# Shared helpers for snip's operational scripts: logging, preflight, confirmation,
# dry-run execution and Kubernetes context display.
#
# Sourced, never executed. Scripts set `set -euo pipefail` themselves before sourcing.
# Every helper writes its chatter to stderr so a script's stdout stays machine-readable
# (e.g. `health-check.sh --json`, or the path db-backup.sh prints on success).

# Guard against double sourcing (deploy.sh sources this and scripts that source it too).
if [[ -n "${SNIP_LIB_COMMON_LOADED:-}" ]]; then return 0; fi
SNIP_LIB_COMMON_LOADED=1

# Exit codes shared by all scripts, so `--help` texts and callers agree.
# shellcheck disable=SC2034 # used by the scripts that source this file
readonly EX_OK=0
readonly EX_FAIL=1     # the operation failed (or: degraded, for health-check.sh)
readonly EX_USAGE=64   # bad command line
readonly EX_PREFLIGHT=69 # a required tool or input is missing

# Set by each script's --dry-run / --yes; deliberately NOT read from the environment,
# so a stray exported variable can neither fake nor skip a confirmation.
DRY_RUN=0
ASSUME_YES=0
LOG_PREFIX="$(basename "${0}")"

# log LEVEL MESSAGE... : one timestamped line on stderr (UTC, ISO 8601).
log() {
  local level="$1"
  shift
  printf '%s %-5s [%s] %s\n' "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "${level}" "${LOG_PREFIX}" "$*" >&2
}
info() { log INFO "$@"; }
warn() { log WARN "$@"; }
error() { log ERROR "$@"; }

# die [CODE] MESSAGE : log an error and exit (default code 1).
die() {
  local code="${EX_FAIL}"
  if [[ "$1" =~ ^[0-9]+$ ]]; then
    code="$1"
    shift
  fi
  error "$*"
  exit "${code}"
}

# usage_error MESSAGE : bad command line; points at --help.
usage_error() {
  error "$*"
  error "see: $(basename "${0}") --help"
  exit "${EX_USAGE}"
}

# require_tools TOOL... : preflight. Fails once, naming every missing tool.
require_tools() {
  local missing=() t
  for t in "$@"; do
    command -v "${t}" >/dev/null 2>&1 || missing+=("${t}")
  done
  if ((${#missing[@]} > 0)); then
    die "${EX_PREFLIGHT}" "required tool(s) not found on PATH: ${missing[*]}"
  fi
}

# need_value OPTION VALUE : for "--opt VALUE" parsing; refuses a missing value.
need_value() {
  if [[ $# -lt 2 || -z "$2" || "$2" == --* ]]; then
    usage_error "option $1 needs a value"
  fi
}

# confirm QUESTION : ask y/N on the terminal. --yes (ASSUME_YES=1) answers yes.
# Without a terminal and without --yes it refuses: a script run from cron or CI
# must never hang on a prompt nor proceed without an explicit flag.
confirm() {
  local question="$1" answer
  if [[ "${ASSUME_YES}" == 1 ]]; then
    info "${question} -> yes (--yes)"
    return 0
  fi
  if [[ ! -t 0 ]]; then
    error "${question}: no terminal to ask on; re-run with --yes to proceed"
    return 1
  fi
  read -r -p "${question} [y/N] " answer
  [[ "${answer}" =~ ^[Yy]([Ee][Ss])?$ ]]
}

# confirm_typed WORD QUESTION : the person must type WORD exactly (for destructive
# steps). --yes does NOT skip it unless SNIP_CONFIRM_TOKEN equals WORD, so that
# automation has to name the very thing it destroys.
confirm_typed() {
  local word="$1" question="$2" answer
  if [[ "${SNIP_CONFIRM_TOKEN:-}" == "${word}" ]]; then
    info "${question}: confirmed by SNIP_CONFIRM_TOKEN"
    return 0
  fi
  if [[ ! -t 0 ]]; then
    error "${question}: type-to-confirm needs a terminal (or SNIP_CONFIRM_TOKEN=${word})"
    return 1
  fi
  read -r -p "${question} Type '${word}' to continue: " answer
  [[ "${answer}" == "${word}" ]]
}

# run CMD... : execute, or with --dry-run only print what would run.
run() {
  if [[ "${DRY_RUN}" == 1 ]]; then
    info "[dry-run] would run: $(printf '%q ' "$@")"
    return 0
  fi
  "$@"
}

# repo_root : the repository root, found from this file's location.
repo_root() {
  (cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
}
