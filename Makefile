# snip: every common operation. `make help` lists them.
# Parts of the project keep their own targets in mk/*.mk (included below).

SHELL := /usr/bin/env bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
TOOLS := .tools
STAMP := $(VENV)/.installed-$(shell cksum < pyproject.toml | cut -d' ' -f1)
TOOLS_STAMP := $(TOOLS)/.installed-$(shell cksum < requirements/tools.txt | cut -d' ' -f1)

.PHONY: help
help: ## List the targets
	@grep -hE '^[a-zA-Z0-9_-]+:.*## ' $(MAKEFILE_LIST) | sort -u | \
	  awk 'BEGIN {FS = ":.*## "} {printf "  \033[36m%-16s\033[0m %s\n", $$1, $$2}'

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' || \
	  { echo "snip needs Python 3.11 or newer (found: $$($(PYTHON) --version 2>&1))" >&2; exit 1; }
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	@rm -f $(VENV)/.installed-* && touch $@

$(TOOLS_STAMP): requirements/tools.txt
	@test -x $(TOOLS)/bin/python || $(PYTHON) -m venv $(TOOLS)
	$(TOOLS)/bin/pip install --quiet --upgrade pip
	$(TOOLS)/bin/pip install --quiet -r requirements/tools.txt
	@rm -f $(TOOLS)/.installed-* && touch $@

.PHONY: venv tools
venv: $(STAMP) ## Create .venv and install snip with its development tools
tools: $(TOOLS_STAMP) ## Install the offline checkers (checkov, kubernetes-validate, ...) into .tools/

.PHONY: migrate
migrate: venv ## Apply database migrations (DATABASE_URL, default: SQLite in instance/)
	$(BIN)/snip db upgrade

.PHONY: run
run: migrate ## Serve snip on http://127.0.0.1:8000 (embedded SQLite + in-process cache unless .env says otherwise)
	$(BIN)/gunicorn -c python:snip.gunicorn_conf 'snip:create_app()'

.PHONY: test
test: venv tools ## Run the whole test suite against real PostgreSQL, Redis and Prometheus
	$(BIN)/pytest $(PYTEST_ARGS)

.PHONY: lint
lint: venv ## Lint and type-check the Python code
	$(BIN)/ruff check src tests bench scripts
	$(BIN)/ruff format --check src tests bench scripts
	$(BIN)/mypy

.PHONY: fmt
fmt: venv ## Format the Python code
	$(BIN)/ruff check --fix src tests bench scripts
	$(BIN)/ruff format src tests bench scripts

.PHONY: bench
bench: venv ## Benchmark redirects against a bare Flask app (needs PostgreSQL, Redis, wrk)
	$(BIN)/python bench/run.py

-include mk/*.mk
