# Kubernetes manifests and the container image: offline checks (no cluster needed).
# Included by the root Makefile (`-include mk/*.mk`). See docs/kubernetes.md.

.PHONY: k8s-check k8s-render

# The tests run every check (on the root, every overlay and component combination)
# and say what each proves; the two lines before them fail fast with the raw
# tool output.
k8s-check: venv tools ## Check k8s/, Dockerfile and compose.yaml offline (kustomize, kubernetes-validate, checkov, yamllint, hadolint, policy)
	$(TOOLS)/bin/hadolint Dockerfile
	kubectl kustomize k8s >/dev/null
	$(BIN)/pytest tests/k8s $(PYTEST_ARGS)

k8s-render: ## Print the whole stack as `kubectl apply -k k8s/` would send it (OVERLAY=local|production for an overlay)
	@kubectl kustomize k8s$(if $(OVERLAY),/overlays/$(OVERLAY))
