# Backup and recovery targets (scripts/backup/). Included by the root Makefile
# (`-include mk/*.mk`). `make backup` / `make restore` (logical dumps) are in mk/ops.mk.
#   make backup-drill                       # whole drill on this machine, prints RPO and RTO
#   make backup-drill ARGS="--links 1000000"
#   make base-backup                        # pgBackRest base backup (PGBACKREST_* settings)
#   make pitr TO_TIME=2026-11-30T05:27:00Z  # point-in-time restore into a new data directory

TO_TIME ?=

.PHONY: backup-drill base-backup pitr

backup-drill: system-packages venv ## Whole backup drill on this machine (own S3 server + PostgreSQL, writes during the base backup, PITR, verify); prints RPO and RTO
	$(BIN)/python -m tests.scripts.backup_drill $(ARGS)

base-backup: ## pgBackRest base backup into the repository (PGBACKREST_* settings, docs/backup-and-restore.md)
	scripts/backup/base-backup.sh $(ARGS)

pitr: ## Restore the cluster as of TO_TIME (ISO 8601; empty = everything archived) into a NEW data directory, verified
	scripts/backup/dr-restore.sh $(if $(TO_TIME),--to-time "$(TO_TIME)",--to-latest) $(ARGS)
