#!/usr/bin/env bash
# A short-lived "ops" pod in the cluster: the backup CronJob's image, labels, database
# credentials and backups claim, idling so an operator can `kubectl exec` the backup and
# restore scripts next to the database, or `kubectl cp` backups off the cluster.
#
# It carries the backup CronJob's labels on purpose: the NetworkPolicies already let
# those pods (and only those) reach PostgreSQL, so no policy has to be opened for it.
set -euo pipefail

SCRIPT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=scripts/lib/common.sh
source "${SCRIPT_DIR}/../lib/common.sh"
# shellcheck source=scripts/lib/kube.sh
source "${SCRIPT_DIR}/../lib/kube.sh"

usage() {
  cat <<'EOF'
Usage: scripts/backup/ops-pod.sh start|stop [options]

  start   create pod/snip-ops (image of cronjob/snip-backup: pg_dump, pgBackRest, the scripts;
          a scratch volume on /backups, PG* variables for the in-cluster database) and wait
          until Ready. Backups live in object storage, not in the cluster: /backups is
          scratch space for a logical dump or a restore, gone with the pod.
  stop    delete pod/snip-ops

Then, for example:
  kubectl -n snip exec snip-ops -- /opt/snip/scripts/backup/dr-restore.sh --dir /backups --list
  kubectl -n snip exec snip-ops -- /opt/snip/scripts/backup/db-backup.sh --dir /backups
  kubectl -n snip cp snip-ops:/backups ./backups-from-cluster

Options:
      --image IMAGE   image to run (default: the one cronjob/snip-backup uses)
      --hours N       the pod deletes itself after N hours (default 2)
  -y, --yes           do not ask to confirm the kube context
      --dry-run       print the pod manifest; change nothing
  -h, --help          show this help

Environment:
  SNIP_NAMESPACE (default snip), SNIP_SECRET_NAME (default snip-secrets)

Exit codes:
  0   done
  1   failure (including: not confirmed, pod not Ready in time)
  64  bad command line
  69  kubectl missing, or no kube context
EOF
}

ACTION=""
IMAGE=""
HOURS=2
while [[ $# -gt 0 ]]; do
  case "$1" in
    start | stop) ACTION="$1"; shift ;;
    --image) need_value "$@"; IMAGE="$2"; shift 2 ;;
    --hours) need_value "$@"; HOURS="$2"; shift 2 ;;
    -y | --yes) ASSUME_YES=1; shift ;;
    --dry-run) DRY_RUN=1; shift ;;
    -h | --help) usage; exit 0 ;;
    *) usage_error "unknown argument: $1" ;;
  esac
done
[[ -n "${ACTION}" ]] || usage_error "say start or stop"
[[ "${HOURS}" =~ ^[1-9][0-9]*$ ]] || usage_error "--hours must be a whole number"
require_tools kubectl

kube_show_context
if [[ "${ACTION}" == stop ]]; then
  run k delete pod snip-ops --ignore-not-found
  exit 0
fi

if [[ -z "${IMAGE}" ]]; then
  IMAGE="$(k get cronjob/snip-backup -o jsonpath='{.spec.jobTemplate.spec.template.spec.containers[0].image}' 2>/dev/null || true)"
  [[ -n "${IMAGE}" ]] || die "cannot read the image of cronjob/snip-backup; pass --image"
fi

# The pod spec satisfies Pod Security "restricted" (the namespace enforces it).
manifest() {
  cat <<EOF
apiVersion: v1
kind: Pod
metadata:
  name: snip-ops
  namespace: ${SNIP_NAMESPACE}
  labels:
    app.kubernetes.io/name: snip
    app.kubernetes.io/component: backup
    app.kubernetes.io/part-of: snip
spec:
  restartPolicy: Never
  activeDeadlineSeconds: $((HOURS * 3600))
  serviceAccountName: snip-backup
  automountServiceAccountToken: false
  securityContext:
    runAsNonRoot: true
    runAsUser: 10001
    runAsGroup: 10001
    fsGroup: 10001
    seccompProfile: {type: RuntimeDefault}
  containers:
    - name: ops
      image: ${IMAGE}
      command: ["sleep", "$((HOURS * 3600))"]
      env:
        - {name: PGHOST, value: snip-postgres}
        - {name: PGPORT, value: "5432"}
        - {name: PGUSER, value: snip}
        - {name: PGDATABASE, value: snip}
        - name: PGPASSWORD
          valueFrom: {secretKeyRef: {name: ${SNIP_SECRET_NAME}, key: POSTGRES_PASSWORD}}
      resources:
        requests: {cpu: 100m, memory: 128Mi, ephemeral-storage: 16Mi}
        limits: {cpu: "1", memory: 512Mi, ephemeral-storage: 21Gi}
      securityContext:
        allowPrivilegeEscalation: false
        readOnlyRootFilesystem: true
        capabilities: {drop: ["ALL"]}
      volumeMounts:
        - {name: backups, mountPath: /backups}
        - {name: tmp, mountPath: /tmp}
  volumes:
    - name: backups
      emptyDir: {sizeLimit: 20Gi}
    - name: tmp
      emptyDir: {sizeLimit: 64Mi}
EOF
}

if [[ "${DRY_RUN}" == 1 ]]; then
  info "[dry-run] would create this pod and wait for it:"
  manifest
  exit 0
fi
confirm "Start pod/snip-ops (${IMAGE}) in context '$(kube_context)'?" || die "not confirmed; nothing changed"
manifest | k apply -f -
k wait --for=condition=Ready pod/snip-ops --timeout=180s ||
  die "pod/snip-ops is not Ready (kubectl -n ${SNIP_NAMESPACE} describe pod snip-ops)"
info "ready: kubectl -n ${SNIP_NAMESPACE} exec -it snip-ops -- bash ; remove it with: $0 stop"
