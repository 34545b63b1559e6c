# Operations targets (scripts/). Included by the root Makefile (`-include mk/*.mk`).
# Options go in as make variables, e.g.
#   make deploy IMAGE_TAG=0.2.0 ARGS="--auto-rollback"
#   make restore BACKUP=backups/snip-snip-20261128T030000000Z.dump TARGET_DB=snip_restored
# ARGS passes any further option straight to the script (see its --help).

BACKUP_DIR ?= backups
URL ?=
ARGS ?=

.PHONY: setup deploy rollback health backup restore dashboards

setup: ## Bootstrap a development environment (checks Python, .venv, deps, .env)
	scripts/setup.sh $(ARGS)

deploy: ## Deploy IMAGE_TAG=x.y.z to the current kube context (migrate, apply, wait, check)
	@test -n "$(IMAGE_TAG)" || { echo "usage: make deploy IMAGE_TAG=x.y.z [ARGS=--auto-rollback]" >&2; exit 64; }
	scripts/deployment/deploy.sh --tag "$(IMAGE_TAG)" $(ARGS)

rollback: ## Roll the Deployment back (REVISION=N for a given revision, else the previous)
	scripts/deployment/rollback.sh $(if $(REVISION),--to-revision "$(REVISION)") $(ARGS)

health: ## Health-check snip: URL=http://... for HTTP, else the cluster (CANARY=slug optional)
	scripts/health-check.sh $(if $(URL),--url "$(URL)",--cluster) $(if $(CANARY),--canary "$(CANARY)") $(ARGS)

backup: ## Back up the database (DATABASE_URL) into BACKUP_DIR (default: backups/)
	scripts/backup/db-backup.sh --dir "$(BACKUP_DIR)" $(ARGS)

restore: ## Restore the latest backup (or BACKUP=file) into a NEW database (TARGET_DB=name)
	scripts/backup/dr-restore.sh --dir "$(BACKUP_DIR)" $(if $(BACKUP),--backup "$(BACKUP)") $(if $(TARGET_DB),--target-db "$(TARGET_DB)") $(ARGS)

dashboards: ## Check every dashboard panel query: parses (promtool), or runs on PROMETHEUS_URL (ARGS=--require-data)
	$(PYTHON) scripts/monitoring/dashboard-checker.py $(ARGS)
