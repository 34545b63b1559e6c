#!/usr/bin/env bash
# Make sure the Debian packages the test suite needs are installed (requirements/debian.txt).
# `make test` runs this first. As root it installs what is missing; as anyone else it
# prints the exact command and fails, so no test runs half-equipped.
set -euo pipefail

SCRIPT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=scripts/lib/common.sh
source "${SCRIPT_DIR}/lib/common.sh"

usage() {
  cat <<'EOF'
Usage: scripts/check-system-packages.sh [options]

Check that every Debian package listed in requirements/debian.txt is installed
(dpkg-query), and that kubectl is on PATH.
  - All present: exit 0, nothing changed.
  - Some missing, run as root: `apt-get update` once, then install them
    (noninteractive, no recommends).
  - Some missing, not root (or --check): print the exact command to run, exit 69.

kubectl is not a package of Debian's own sources (the machine image brings it from
Google's apt repository). When it is missing this script stops and says where to get
it: https://kubernetes.io/docs/tasks/tools/install-kubectl-linux/

Options:
      --file PATH   the package list (default: requirements/debian.txt)
      --check       only report; never install, even as root
      --dry-run     say what would be installed; change nothing
  -h, --help        show this help

Environment:
  none of its own; apt-get runs noninteractive (it never asks a question)

Exit codes:
  0   every package is installed (or was just installed)
  1   apt-get failed
  64  bad command line
  69  packages missing and not installed (not root, --check or --dry-run), or no kubectl
EOF
}

LIST="$(repo_root)/requirements/debian.txt"
CHECK_ONLY=0

while [[ $# -gt 0 ]]; do
  case "$1" in
    --file) need_value "$@"; LIST="$2"; shift 2 ;;
    --check) CHECK_ONLY=1; shift ;;
    --dry-run) DRY_RUN=1; shift ;;
    -h | --help) usage; exit 0 ;;
    *) usage_error "unknown option: $1" ;;
  esac
done

[[ -r "${LIST}" ]] || die "${EX_PREFLIGHT}" "package list not found: ${LIST}"

# Package names: the first word of each line, comments and blank lines skipped.
packages=()
while read -r name _; do
  [[ -z "${name}" || "${name}" == \#* ]] && continue
  packages+=("${name}")
done <"${LIST}"

missing=()
for package in "${packages[@]}"; do
  status="$(dpkg-query -W -f='${Status}' "${package}" 2>/dev/null || true)"
  [[ "${status}" == "install ok installed" ]] || missing+=("${package}")
done

if ((${#missing[@]} > 0)); then
  install_args=(install -y -qq --no-install-recommends "${missing[@]}")
  if [[ "$(id -u)" != 0 || "${CHECK_ONLY}" == 1 || "${DRY_RUN}" == 1 ]]; then
    error "missing Debian packages (from ${LIST#"$(repo_root)/"}): ${missing[*]}"
    error "install them with:"
    printf '  sudo apt-get update && sudo DEBIAN_FRONTEND=noninteractive apt-get %s\n' \
      "${install_args[*]}" >&2
    exit "${EX_PREFLIGHT}"
  fi
  info "installing missing Debian packages: ${missing[*]}"
  apt-get update -qq || die "${EX_FAIL}" "apt-get update failed"
  DEBIAN_FRONTEND=noninteractive apt-get "${install_args[@]}" ||
    die "${EX_FAIL}" "apt-get install failed for: ${missing[*]}"
fi

if ! command -v kubectl >/dev/null 2>&1; then
  error "kubectl not found on PATH (the k8s and monitoring tests run 'kubectl kustomize')."
  error "Debian's own sources do not carry a current kubectl; install it as described at"
  error "  https://kubernetes.io/docs/tasks/tools/install-kubectl-linux/"
  exit "${EX_PREFLIGHT}"
fi
