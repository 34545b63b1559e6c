#!/usr/bin/env bash
# Developer bootstrap: Python check, .venv with the locked dependencies and snip installed
# editable, and a .env from .env.example. Safe to run again at any time (idempotent): it only
# creates what is missing and never overwrites an existing .env.
set -euo pipefail

SCRIPT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=scripts/lib/common.sh
source "${SCRIPT_DIR}/lib/common.sh"

usage() {
  cat <<'EOF'
Usage: scripts/setup.sh [options]

Prepare a development checkout:
  1. check that Python is 3.11 or newer;
  2. create the virtual environment (.venv) if it is missing;
  3. install the locked dependencies, each checked by hash (requirements/build.lock and
     requirements/dev.lock: snip's own and its development tools), then snip itself in
     editable mode;
  4. copy .env.example to .env if there is no .env yet (an existing .env is kept).
Then: `make run` serves snip on http://127.0.0.1:8000 and `make test` runs the tests.

Options:
      --python PATH   the interpreter to build .venv with (default: $PYTHON, else python3)
      --venv DIR      where the environment goes (default: .venv in the repository)
      --dry-run       say what would be done; change nothing
  -h, --help          show this help

Environment:
  PYTHON              default for --python

Exit codes:
  0   ready
  1   a step failed (pip install, venv creation, ...)
  64  bad command line
  69  Python missing or older than 3.11
EOF
}

PYTHON_BIN="${PYTHON:-python3}"
ROOT="$(repo_root)"
VENV_DIR="${ROOT}/.venv"

while [[ $# -gt 0 ]]; do
  case "$1" in
    --python) need_value "$@"; PYTHON_BIN="$2"; shift 2 ;;
    --venv) need_value "$@"; VENV_DIR="$2"; shift 2 ;;
    --dry-run) DRY_RUN=1; shift ;;
    -h | --help) usage; exit 0 ;;
    *) usage_error "unknown option: $1" ;;
  esac
done

command -v "${PYTHON_BIN}" >/dev/null 2>&1 ||
  die "${EX_PREFLIGHT}" "'${PYTHON_BIN}' not found: install Python 3.11 or newer (or pass --python PATH)"
version="$("${PYTHON_BIN}" -c 'import sys; print("%d.%d" % sys.version_info[:2])')"
"${PYTHON_BIN}" -c 'import sys; sys.exit(sys.version_info < (3, 11))' ||
  die "${EX_PREFLIGHT}" "snip needs Python 3.11 or newer; ${PYTHON_BIN} is ${version}"
info "Python ${version} (${PYTHON_BIN})"

if [[ -x "${VENV_DIR}/bin/python" ]]; then
  info "virtual environment exists: ${VENV_DIR}"
else
  info "creating the virtual environment ${VENV_DIR}"
  run "${PYTHON_BIN}" -m venv "${VENV_DIR}"
fi

# pip decides quickly when everything is already installed, so re-running is cheap.
# Same steps as the Makefile's venv target: the lock has every dependency, so snip
# itself goes in without resolving anything (--no-deps) and with the locked setuptools.
info "installing the locked dependencies and snip (editable)"
run "${VENV_DIR}/bin/python" -m pip install --quiet --quiet --disable-pip-version-check \
  --require-hashes --no-deps -r "${ROOT}/requirements/build.lock" -r "${ROOT}/requirements/dev.lock"
run "${VENV_DIR}/bin/python" -m pip install --quiet --disable-pip-version-check \
  --no-deps --no-build-isolation -e "${ROOT}"

if [[ -e "${ROOT}/.env" ]]; then
  info ".env exists; left as it is (compare with .env.example for new variables)"
else
  info "creating .env from .env.example"
  run cp -- "${ROOT}/.env.example" "${ROOT}/.env"
fi

info "ready: 'make run' serves snip on http://127.0.0.1:8000, 'make test' runs the tests"
