# snip: every common operation. `make help` lists them.
# Parts of the project keep their own targets in mk/*.mk (included below).

SHELL := /usr/bin/env bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
TOOLS := .tools

# Locked dependencies (requirements/*.lock, every file pinned with its hashes):
#   runtime.lock  what serving needs (`make run`, the container image)
#   dev.lock      runtime + the test and lint tools (`make test`, `make lint`)
#   build.lock    the build backend ([build-system] of pyproject.toml)
#   tools.lock    the offline checkers of requirements/tools.txt (.tools/)
# `make lock` regenerates them from pyproject.toml and requirements/tools.txt.
LOCKS := requirements/runtime.lock requirements/dev.lock requirements/build.lock requirements/tools.lock
# pip installs only what a lock names, by hash; the global pip config of a machine
# (extra indexes, find-links) can offer files but never other versions.
# The environments are made without their own pip (`venv --without-pip` takes 0.2 s
# instead of 5 s) and filled by the interpreter's pip (`pip --python`, pip >= 22.3);
# --no-compile leaves byte-compiling to the first import. Both keep `make run` short.
PIP_INTO = $(PYTHON) -m pip --python $(1) install --quiet --quiet --disable-pip-version-check --no-compile
PIP_LOCKED := --require-hashes --no-deps
checksum = $(shell cat $(1) | cksum | cut -d' ' -f1)
RUN_STAMP := $(VENV)/.run-$(call checksum,requirements/build.lock requirements/runtime.lock pyproject.toml)
DEV_STAMP := $(VENV)/.dev-$(call checksum,requirements/build.lock requirements/dev.lock pyproject.toml)
TOOLS_STAMP := $(TOOLS)/.installed-$(call checksum,requirements/tools.lock)

.PHONY: help
help: ## List the targets
	@grep -hE '^[a-zA-Z0-9_-]+:.*## ' $(MAKEFILE_LIST) | sort -u | \
	  awk 'BEGIN {FS = ":.*## "} {name[NR] = $$1; text[NR] = $$2; if (length($$1) > w) w = length($$1)} \
	       END {for (i = 1; i <= NR; i++) printf "  \033[36m%-*s\033[0m  %s\n", w, name[i], text[i]}'

# install_locked LOCK: create .venv if needed, install LOCK and the build backend by
# hash, then snip itself (editable, no dependency resolution: the lock has them all).
define install_locked
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' || \
	  { echo "snip needs Python 3.11 or newer (found: $$($(PYTHON) --version 2>&1))" >&2; exit 1; }
	@$(PYTHON) -c 'import pip, sys; sys.exit(tuple(map(int, pip.__version__.split(".")[:2])) < (22, 3))' 2>/dev/null || \
	  { echo "snip installs with $(PYTHON)'s pip, which must be 22.3 or newer: $(PYTHON) -m pip install --upgrade pip" >&2; exit 1; }
	@test -x $(BIN)/python || $(PYTHON) -m venv --without-pip $(VENV)
	$(call PIP_INTO,$(BIN)/python) $(PIP_LOCKED) -r requirements/build.lock -r $(1)
	$(call PIP_INTO,$(BIN)/python) --no-deps --no-build-isolation -e .
endef

# The dev environment is a superset of the runtime one, so it satisfies both stamps.
$(DEV_STAMP): requirements/build.lock requirements/dev.lock pyproject.toml
	$(call install_locked,requirements/dev.lock)
	@rm -f $(VENV)/.run-* $(VENV)/.dev-* && touch $@ $(RUN_STAMP)

$(RUN_STAMP): requirements/build.lock requirements/runtime.lock pyproject.toml
	$(call install_locked,requirements/runtime.lock)
	@rm -f $(VENV)/.run-* && touch $@

$(TOOLS_STAMP): requirements/tools.lock
	@test -x $(TOOLS)/bin/python || $(PYTHON) -m venv --without-pip $(TOOLS)
	$(call PIP_INTO,$(TOOLS)/bin/python) $(PIP_LOCKED) -r requirements/tools.lock
	@rm -f $(TOOLS)/.installed-* && touch $@

.PHONY: venv venv-run tools
venv: $(DEV_STAMP) ## Create .venv with snip, its test and lint tools (from requirements/dev.lock)
venv-run: $(RUN_STAMP) ## Create .venv with only what serving needs (requirements/runtime.lock)
tools: $(TOOLS_STAMP) ## Install the offline checkers (checkov, kubernetes-validate, ...) into .tools/

# uv resolves for every platform (--universal) so the same lock serves this machine,
# the container image and CI; the header names `make lock` as the command to re-run.
UV_COMPILE = $(BIN)/uv pip compile --quiet --universal --python-version 3.11 --generate-hashes $(if $(UPGRADE),--upgrade) \
	--custom-compile-command "make lock"

.PHONY: lock
lock: venv ## Regenerate requirements/*.lock from pyproject.toml and requirements/tools.txt (UPGRADE=1: newest versions)
	$(UV_COMPILE) pyproject.toml -o requirements/runtime.lock
	$(UV_COMPILE) pyproject.toml --extra dev -o requirements/dev.lock
	$(BIN)/python -c 'import tomllib; print(*tomllib.load(open("pyproject.toml", "rb"))["build-system"]["requires"], sep="\n")' | \
	  $(UV_COMPILE) - -o requirements/build.lock
	$(UV_COMPILE) requirements/tools.txt -o requirements/tools.lock

.PHONY: migrate
migrate: venv-run ## Apply database migrations (DATABASE_URL, default: SQLite in instance/)
	$(BIN)/snip db upgrade

.PHONY: run
run: migrate ## Serve snip on http://127.0.0.1:8000 (embedded SQLite + in-process cache unless .env says otherwise)
	$(BIN)/gunicorn -c python:snip.gunicorn_conf 'snip:create_app()'

.PHONY: system-packages
system-packages: ## Check the Debian packages of requirements/debian.txt (installs them as root)
	scripts/check-system-packages.sh

.PHONY: test
# system-packages comes first: without root it stops before any test runs.
test: system-packages venv tools ## Run the whole test suite against real PostgreSQL, Redis and Prometheus
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
