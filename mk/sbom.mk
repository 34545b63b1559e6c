# Supply chain reports. Included by the root Makefile (`-include mk/*.mk`).
# What is described is the runtime dependency tree exactly as requirements/runtime.lock
# installs it (what `make run` and the container image carry), in an environment of its
# own so the development tools never appear in it.

SBOM_DIR ?= sbom
SBOM_ENV = $(SBOM_DIR)/runtime-env

.PHONY: sbom
sbom: venv ## Write a CycloneDX SBOM and a licence report of the runtime dependencies into sbom/
	@rm -rf $(SBOM_ENV) && mkdir -p $(SBOM_DIR)
	$(PYTHON) -m venv --without-pip $(SBOM_ENV)
	$(call UV_INSTALL,$(SBOM_ENV)/bin/python) -r requirements/runtime.lock
	$(BIN)/cyclonedx-py environment --pyproject pyproject.toml --mc-type application \
	  --output-reproducible --output-format JSON --output-file $(SBOM_DIR)/snip-runtime.cdx.json \
	  $(SBOM_ENV)/bin/python
	$(BIN)/pip-licenses --python $(SBOM_ENV)/bin/python --from=mixed --with-urls \
	  --format=markdown --output-file $(SBOM_DIR)/licenses.md
	$(BIN)/pip-licenses --python $(SBOM_ENV)/bin/python --from=mixed --with-urls \
	  --format=json --output-file $(SBOM_DIR)/licenses.json
	@rm -rf $(SBOM_ENV)
	@echo "wrote $(SBOM_DIR)/snip-runtime.cdx.json, $(SBOM_DIR)/licenses.md and $(SBOM_DIR)/licenses.json"
