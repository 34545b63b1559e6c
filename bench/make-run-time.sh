#!/usr/bin/env bash
# Measure what a newcomer waits for: from `git clone` to the first answer of
# `make run` on /healthz, in a throwaway folder (the clone is removed afterwards).
set -euo pipefail

usage() {
  cat <<'EOF'
Usage: bench/make-run-time.sh [--cold] [REPOSITORY]

Clone REPOSITORY (default: this checkout) into a temporary folder, run `make run` there
on a free port and print the seconds until http://127.0.0.1:PORT/healthz answers.
  --cold   no pip or uv cache (PIP_NO_CACHE_DIR=1, UV_NO_CACHE=1): every package is
           downloaded, as on a machine that never installed snip before

Exit codes: 0 measured; 1 `make run` failed or did not answer within 180 s.
EOF
}

cold=0
case "${1:-}" in
  -h | --help) usage; exit 0 ;;
  --cold) cold=1; shift ;;
esac
source_repo="${1:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)}"
port="$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
work="$(mktemp -d)"
pid=""
cleanup() {
  # make, gunicorn and its workers share the process group started by setsid.
  if [[ -n "${pid}" ]]; then kill -TERM -- "-${pid}" 2>/dev/null || true; wait "${pid}" 2>/dev/null || true; fi
  rm -rf "${work}"
}
trap cleanup EXIT

start="$(date +%s.%N)"
git clone --quiet "${source_repo}" "${work}/snip"
if ((cold)); then export PIP_NO_CACHE_DIR=1 UV_NO_CACHE=1; fi
(cd "${work}/snip" && PORT="${port}" exec setsid make run >"${work}/run.log" 2>&1) &
pid=$!
deadline=$((SECONDS + 180))
until curl -fsS -o /dev/null "http://127.0.0.1:${port}/healthz" 2>/dev/null; do
  if ! kill -0 "${pid}" 2>/dev/null || ((SECONDS > deadline)); then
    echo "make run did not answer; its output:" >&2
    cat "${work}/run.log" >&2
    exit 1
  fi
  sleep 0.1
done
end="$(date +%s.%N)"
# The machine's load matters on 2 cores: say it next to the number.
printf 'make run answered /healthz %s s after git clone (%s package caches; load average %s)\n' \
  "$(python3 -c "print(round(${end} - ${start}, 1))")" "$( ((cold)) && echo without || echo with)" \
  "$(cut -d' ' -f1 /proc/loadavg)"
