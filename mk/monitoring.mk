# Monitoring targets (k8s/monitoring/). Included by the root Makefile (`-include mk/*.mk`).
# The checks run real binaries: promtool, prometheus, prometheus-alertmanager,
# amtool, prometheus-pushgateway and both exporters (Debian packages), plus
# PostgreSQL and Redis for the end-to-end test.

.PHONY: monitoring-check monitoring-rules-test monitoring-generate

monitoring-check: venv tools ## Check the monitoring stack: rules, configs, manifests, dashboards, and the loopback e2e test
	$(BIN)/pytest tests/monitoring $(PYTEST_ARGS)

monitoring-rules-test: ## Run promtool's rule checks and alert unit tests only (seconds)
	@command -v promtool >/dev/null || { echo "promtool not found: it comes with Debian's prometheus package;" \
	  "install it with: sudo apt-get install prometheus (or run 'make system-packages' as root)" >&2; exit 69; }
	promtool check rules k8s/monitoring/rules/*.yaml
	promtool test rules k8s/monitoring/rules/tests/*.yaml

monitoring-generate: ## Regenerate the Prometheus Operator rule object from k8s/monitoring/rules/
	$(PYTHON) k8s/monitoring/operator/generate.py
