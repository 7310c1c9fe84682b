# The two commands a new user needs: `make up` and `make test`. Both install what they need.
VENV ?= .venv
BIN := $(VENV)/bin
PYTHON ?= python3
PYTEST_ARGS ?=

.PHONY: up down test lint binaries argocd deps clean-binaries

up: deps binaries argocd  ## bootstrap the local profile end to end
	$(BIN)/invoke up --profile local

down: deps  ## stop the local profile's cluster and remove its state
	$(BIN)/invoke down --profile local

test: deps binaries argocd  ## the whole suite: unit, providers, integration on a real control plane
	$(BIN)/pytest $(PYTEST_ARGS)

lint: deps  ## ruff, mypy --strict, and the import rules (one seam per outside world)
	$(BIN)/ruff check .
	$(BIN)/mypy
	$(BIN)/lint-imports

deps: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $@

binaries:  ## kube-apiserver, controller-manager, scheduler, etcd and kwok from Go modules (cached)
	bash toolchain/build.sh all

argocd:  ## Argo CD's controllers, helm and kustomize from Go modules (for argocd.mode: processes)
	bash toolchain/build.sh argocd

clean-binaries:
	rm -rf $${CLUSTERBOOT_BIN_DIR:-$${XDG_CACHE_HOME:-$$HOME/.cache}/clusterboot/bin}
