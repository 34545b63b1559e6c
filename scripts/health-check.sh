#!/usr/bin/env bash
# General-purpose health probe for snip: over HTTP (what a user sees) and/or through
# the Kubernetes API (what the cluster thinks). Read-only: it never changes anything.
set -euo pipefail

SCRIPT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=scripts/lib/common.sh
source "${SCRIPT_DIR}/lib/common.sh"
# shellcheck source=scripts/lib/kube.sh
source "${SCRIPT_DIR}/lib/kube.sh"

usage() {
  cat <<'EOF'
Usage: scripts/health-check.sh [--url URL] [--cluster] [options]

HTTP checks (--url):
  /healthz   must answer 200 (the process is alive)
  /readyz    200 "ok" = healthy; 200 "degraded" (Redis or the database unavailable, cached
             redirects still served) = degraded; 503 "down" (schema not at the release's
             revision, or the database never reached since start) or no answer = down
  /<slug>    with --canary: must answer a redirect (301/302/307/308)
  an answer taking --slow-ms or longer marks the service degraded

Cluster checks (--cluster, needs kubectl and a context):
  deployment ready replicas (none = down, fewer than desired = degraded), Service
  endpoints (none = down), container restarts (over --max-restarts = degraded),
  HorizontalPodAutoscaler at its maximum (degraded), PersistentVolumeClaims not Bound
  (degraded)

Options:
  -u, --url URL           base URL of snip (default: $SNIP_HEALTH_URL)
  -c, --canary SLUG       also follow-check this short link (default: $SNIP_CANARY_SLUG)
      --cluster           check the Kubernetes objects in the namespace
  -m, --max-time SECONDS  timeout of each HTTP request (default 5)
      --slow-ms MS        an answer slower than this is "degraded" (default 1000)
      --max-restarts N    restarts per container tolerated (default 5)
      --json              print one JSON object instead of text
  -h, --help              show this help
At least one of --url or --cluster is needed.

Environment:
  SNIP_HEALTH_URL, SNIP_CANARY_SLUG   defaults for --url and --canary
  SNIP_NAMESPACE (default snip), SNIP_DEPLOYMENT (default snip-api)
  SNIP_SERVICE (default snip-api)     the Service whose endpoints must exist

Exit codes:
  0   healthy
  1   degraded (serving, but something needs attention)
  2   down
  64  bad command line
  69  a required tool (curl, kubectl) is missing
EOF
}

URL="${SNIP_HEALTH_URL:-}"
CANARY="${SNIP_CANARY_SLUG:-}"
CLUSTER=0
MAX_TIME=5
SLOW_MS=1000
MAX_RESTARTS=5
JSON=0
SNIP_SERVICE="${SNIP_SERVICE:-snip-api}"

while [[ $# -gt 0 ]]; do
  case "$1" in
    -u | --url) need_value "$@"; URL="$2"; shift 2 ;;
    -c | --canary) need_value "$@"; CANARY="$2"; shift 2 ;;
    --cluster) CLUSTER=1; shift ;;
    -m | --max-time) need_value "$@"; MAX_TIME="$2"; shift 2 ;;
    --slow-ms) need_value "$@"; SLOW_MS="$2"; shift 2 ;;
    --max-restarts) need_value "$@"; MAX_RESTARTS="$2"; shift 2 ;;
    --json) JSON=1; shift ;;
    -h | --help) usage; exit 0 ;;
    *) usage_error "unknown option: $1" ;;
  esac
done
[[ -n "${URL}" || "${CLUSTER}" == 1 ]] || usage_error "give --url URL and/or --cluster"
[[ "${MAX_TIME}" =~ ^[0-9]+([.][0-9]+)?$ ]] || usage_error "--max-time must be a number of seconds"
[[ "${SLOW_MS}" =~ ^[0-9]+$ ]] || usage_error "--slow-ms must be a whole number"
[[ "${MAX_RESTARTS}" =~ ^[0-9]+$ ]] || usage_error "--max-restarts must be a whole number"
[[ -z "${URL}" ]] || require_tools curl
[[ "${CLUSTER}" == 0 ]] || require_tools kubectl

# ------------------------------------------------------------------ results

# Each check appends one record; the overall status is the worst one.
NAMES=()
STATES=()
DETAILS=()
WORST=0
record() { # record NAME ok|degraded|down DETAIL
  NAMES+=("$1")
  STATES+=("$2")
  DETAILS+=("$3")
  case "$2" in
    degraded) ((WORST < 1)) && WORST=1 ;;
    down) WORST=2 ;;
  esac
  return 0
}

# ------------------------------------------------------------------ HTTP

BODY_FILE="$(mktemp)"
trap 'rm -f -- "${BODY_FILE}"' EXIT

# fetch PATH : sets HTTP_CODE ("000" when no answer) and ELAPSED_MS; body in BODY_FILE.
fetch() {
  local out
  out="$(curl --silent --output "${BODY_FILE}" --max-time "${MAX_TIME}" \
    --write-out '%{http_code} %{time_total}' "${URL%/}$1" 2>/dev/null)" || true
  HTTP_CODE="${out%% *}"
  [[ -n "${HTTP_CODE}" ]] || HTTP_CODE=000
  ELAPSED_MS="$(awk -v t="${out#* }" 'BEGIN { printf "%d", t * 1000 }')"
}

# slow NAME : downgrade to degraded when the last answer was slower than --slow-ms.
check_speed() {
  if ((ELAPSED_MS >= SLOW_MS)); then
    record "$1-latency" degraded "${ELAPSED_MS} ms >= ${SLOW_MS} ms"
  fi
}

http_checks() {
  fetch /healthz
  if [[ "${HTTP_CODE}" == 200 ]]; then
    record healthz ok "200 in ${ELAPSED_MS} ms"
    check_speed healthz
  elif [[ "${HTTP_CODE}" == 000 ]]; then
    record healthz down "no answer from ${URL} within ${MAX_TIME}s"
    return 0
  else
    record healthz down "HTTP ${HTTP_CODE}"
  fi

  fetch /readyz
  local status
  status="$(grep -o '"status" *: *"[a-z]*"' "${BODY_FILE}" | head -n 1 | sed 's/.*"\([a-z]*\)"$/\1/')" || true
  if [[ "${HTTP_CODE}" == 200 && "${status}" == ok ]]; then
    record readyz ok "200 ok in ${ELAPSED_MS} ms"
  elif [[ "${HTTP_CODE}" == 200 && "${status}" == degraded ]]; then
    record readyz degraded "degraded: $(tr -d '\n' <"${BODY_FILE}" | cut -c1-300)"
  elif [[ "${HTTP_CODE}" == 000 ]]; then
    record readyz down "no answer within ${MAX_TIME}s"
  else
    record readyz down "HTTP ${HTTP_CODE} ${status:-}: $(tr -d '\n' <"${BODY_FILE}" | cut -c1-300)"
  fi
  [[ "${HTTP_CODE}" == 000 ]] || check_speed readyz

  if [[ -n "${CANARY}" ]]; then
    fetch "/${CANARY}"
    case "${HTTP_CODE}" in
      301 | 302 | 307 | 308) record canary ok "/${CANARY} -> ${HTTP_CODE} in ${ELAPSED_MS} ms"; check_speed canary ;;
      000) record canary down "/${CANARY}: no answer within ${MAX_TIME}s" ;;
      *) record canary down "/${CANARY} answered ${HTTP_CODE}, expected a redirect" ;;
    esac
  fi
}

# ------------------------------------------------------------------ cluster

cluster_checks() {
  local out desired ready
  if ! out="$(k get "deployment/${SNIP_DEPLOYMENT}" -o jsonpath='{.spec.replicas} {.status.readyReplicas}' 2>&1)"; then
    record deployment down "cannot read deployment/${SNIP_DEPLOYMENT}: ${out}"
    return 0
  fi
  read -r desired ready <<<"${out}"
  ready="${ready:-0}"
  if ((ready == 0)); then
    record deployment down "0/${desired} replicas ready"
  elif ((ready < desired)); then
    record deployment degraded "${ready}/${desired} replicas ready"
  else
    record deployment ok "${ready}/${desired} replicas ready"
  fi

  out="$(k get "endpoints/${SNIP_SERVICE}" -o jsonpath='{.subsets[*].addresses[*].ip}' 2>/dev/null)" || out=""
  if [[ -z "${out// /}" ]]; then
    record endpoints down "service/${SNIP_SERVICE} has no ready endpoints"
  else
    record endpoints ok "$(wc -w <<<"${out}" | tr -d ' ') ready endpoint(s)"
  fi

  local pod restarts worst_pod="" worst=0
  while read -r pod restarts; do
    [[ -n "${pod}" ]] || continue
    local total=0 r
    for r in ${restarts}; do total=$((total + r)); done
    if ((total > worst)); then worst=${total}; worst_pod=${pod}; fi
  done < <(k get pods -l "app.kubernetes.io/name=snip" \
    -o jsonpath='{range .items[*]}{.metadata.name} {.status.containerStatuses[*].restartCount}{"\n"}{end}' 2>/dev/null || true)
  if ((worst > MAX_RESTARTS)); then
    record restarts degraded "${worst_pod} restarted ${worst} times (> ${MAX_RESTARTS})"
  else
    record restarts ok "at most ${worst} restarts per pod"
  fi

  local name current max
  while read -r name current max; do
    [[ -n "${name}" ]] || continue
    if [[ -n "${current}" && -n "${max}" ]] && ((current >= max)); then
      record "hpa/${name}" degraded "at its maximum (${current}/${max} replicas): scale limit reached"
    else
      record "hpa/${name}" ok "${current:-?}/${max:-?} replicas"
    fi
  done < <(k get hpa -o jsonpath='{range .items[*]}{.metadata.name} {.status.currentReplicas} {.spec.maxReplicas}{"\n"}{end}' 2>/dev/null || true)

  local claim phase
  while read -r claim phase; do
    [[ -n "${claim}" ]] || continue
    if [[ "${phase}" == Bound ]]; then
      record "pvc/${claim}" ok Bound
    else
      record "pvc/${claim}" degraded "${phase:-unknown} (not Bound)"
    fi
  done < <(k get pvc -o jsonpath='{range .items[*]}{.metadata.name} {.status.phase}{"\n"}{end}' 2>/dev/null || true)
}

# ------------------------------------------------------------------ report

[[ -z "${URL}" ]] || http_checks
[[ "${CLUSTER}" == 0 ]] || cluster_checks

STATUS_WORDS=(healthy degraded down)
if [[ "${JSON}" == 1 ]]; then
  json_str() { local s="${1//\\/\\\\}"; s="${s//\"/\\\"}"; s="${s//$'\t'/ }"; printf '"%s"' "${s//$'\n'/ }"; }
  printf '{"status": "%s", "exit_code": %d, "url": %s, "checks": [' "${STATUS_WORDS[WORST]}" "${WORST}" "$(json_str "${URL}")"
  for i in "${!NAMES[@]}"; do
    ((i == 0)) || printf ', '
    printf '{"name": %s, "status": "%s", "detail": %s}' "$(json_str "${NAMES[i]}")" "${STATES[i]}" "$(json_str "${DETAILS[i]}")"
  done
  printf ']}\n'
else
  for i in "${!NAMES[@]}"; do
    printf '%-9s %-22s %s\n' "${STATES[i]^^}" "${NAMES[i]}" "${DETAILS[i]}"
  done
  printf 'overall: %s\n' "${STATUS_WORDS[WORST]}"
fi
exit "${WORST}"
