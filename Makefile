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
#   build.lock    the installer and build backend: uv (the dev extra's pin) and the
#                 [build-system] requirements of pyproject.toml
#   tools.lock    the offline checkers of requirements/tools.txt (.tools/)
# `make lock` regenerates them from pyproject.toml and requirements/tools.txt.
UV := $(BIN)/uv
checksum = $(shell cat $(1) | cksum | cut -d' ' -f1)
BOOT_STAMP := $(VENV)/.boot-$(call checksum,requirements/build.lock)
RUN_STAMP := $(VENV)/.run-$(call checksum,requirements/runtime.lock pyproject.toml)
DEV_STAMP := $(VENV)/.dev-$(call checksum,requirements/dev.lock pyproject.toml)
TOOLS_STAMP := $(TOOLS)/.installed-$(call checksum,requirements/tools.lock requirements/tools.txt)
# Installs take only what a lock names, checked by hash, never resolving anything.
# uv installs in parallel: `make run` on a fresh clone spends ~1 s installing instead
# of ~12 s with pip. Bytecode is compiled at first import, not at install.
UV_INSTALL = $(UV) pip install --quiet --python $(1) --require-hashes --no-deps

.PHONY: help
help: ## List the targets
	@if [ -t 1 ]; then on=$$'\033[36m' off=$$'\033[0m'; else on= off=; fi; \
	grep -hE '^[a-zA-Z0-9_-]+:.*## ' $(MAKEFILE_LIST) | sort -u | \
	  awk -v on="$$on" -v off="$$off" 'BEGIN {FS = ":.*## "} \
	       {name[NR] = $$1; text[NR] = $$2; if (length($$1) > w) w = length($$1)} \
	       END {for (i = 1; i <= NR; i++) printf "  %s%-*s%s  %s\n", on, w, name[i], off, text[i]}'

# Bootstrap: a .venv without pip of its own (`venv --without-pip` takes 0.2 s instead
# of 5 s), then uv and setuptools from build.lock, installed by the interpreter's pip.
$(BOOT_STAMP): requirements/build.lock
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' || \
	  { echo "snip needs Python 3.11 or newer (found: $$($(PYTHON) --version 2>&1))" >&2; exit 1; }
	@$(PYTHON) -c 'import pip, sys; sys.exit(tuple(map(int, pip.__version__.split(".")[:2])) < (22, 3))' 2>/dev/null || \
	  { echo "snip needs pip 22.3 or newer for $(PYTHON): $(PYTHON) -m pip install --upgrade pip" >&2; exit 1; }
	@test -x $(BIN)/python || $(PYTHON) -m venv --without-pip $(VENV)
	$(PYTHON) -m pip --python $(BIN)/python install --quiet --quiet --disable-pip-version-check \
	  --no-compile --require-hashes --no-deps -r requirements/build.lock
	@rm -f $(VENV)/.boot-* && touch $@

# install_snip LOCK: the locked dependencies, then snip itself (editable).
define install_snip
	@$(PYTHON) scripts/check-locks.py
	$(call UV_INSTALL,$(BIN)/python) -r $(1)
	$(UV) pip install --quiet --python $(BIN)/python --no-deps --no-build-isolation -e .
endef

# The dev environment is a superset of the runtime one, so it satisfies both stamps.
$(DEV_STAMP): requirements/dev.lock pyproject.toml $(BOOT_STAMP)
	$(call install_snip,requirements/dev.lock)
	@rm -f $(VENV)/.run-* $(VENV)/.dev-* && touch $@ $(RUN_STAMP)

$(RUN_STAMP): requirements/runtime.lock pyproject.toml $(BOOT_STAMP)
	$(call install_snip,requirements/runtime.lock)
	@rm -f $(VENV)/.run-* && touch $@

$(TOOLS_STAMP): requirements/tools.lock requirements/tools.txt $(BOOT_STAMP)
	@$(PYTHON) scripts/check-locks.py
	@test -x $(TOOLS)/bin/python || $(PYTHON) -m venv --without-pip $(TOOLS)
	$(call UV_INSTALL,$(TOOLS)/bin/python) -r requirements/tools.lock
	@rm -f $(TOOLS)/.installed-* && touch $@

.PHONY: venv venv-run tools
venv: $(DEV_STAMP) ## Create .venv with snip, its test and lint tools (from requirements/dev.lock)
venv-run: $(RUN_STAMP) ## Create .venv with only what serving needs (requirements/runtime.lock)
tools: $(TOOLS_STAMP) ## Install the offline checkers (checkov, kubernetes-validate, ...) into .tools/

# uv resolves for every platform (--universal) so the same lock serves this machine,
# the container image and CI; the header names `make lock` as the command to re-run.
UV_COMPILE = $(UV) pip compile --quiet --universal --python-version 3.11 --generate-hashes $(if $(UPGRADE),--upgrade) \
	--custom-compile-command "make lock"

.PHONY: lock
lock: $(BOOT_STAMP) ## Regenerate requirements/*.lock from pyproject.toml and requirements/tools.txt (UPGRADE=1: newest versions)
	$(UV_COMPILE) pyproject.toml -o requirements/runtime.lock
	$(UV_COMPILE) pyproject.toml --extra dev -o requirements/dev.lock
	$(BIN)/python -c 'import tomllib; p = tomllib.load(open("pyproject.toml", "rb")); \
	  print(*p["build-system"]["requires"], *[r for r in p["project"]["optional-dependencies"]["dev"] if r.startswith("uv==")], sep="\n")' | \
	  $(UV_COMPILE) - -o requirements/build.lock
	$(UV_COMPILE) requirements/tools.txt -o requirements/tools.lock

.PHONY: migrate
migrate: venv-run ## Apply database migrations (DATABASE_URL, default: SQLite in instance/)
	$(BIN)/snip db upgrade

.PHONY: run
run: migrate ## Serve snip on http://127.0.0.1:8000 (embedded SQLite + in-process cache unless .env says otherwise)
	@$(BIN)/snip users hint
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
