# The two commands a new user needs: `make up` and `make test`. Both install what they need.
VENV ?= .venv
BIN := $(VENV)/bin
PYTHON ?= python3
PYTEST_ARGS ?=

.PHONY: up down test e2e tier-images lint binaries argocd deps sysdeps clean-binaries

up: deps sysdeps binaries argocd  ## bootstrap the local profile end to end
	$(BIN)/invoke up --profile local

down: deps  ## stop the local profile's cluster and remove its state
	$(BIN)/invoke down --profile local

test: deps sysdeps binaries argocd  ## unit, providers, integration on a real control plane (not the Docker tier)
	$(BIN)/pytest --ignore=tests/docker $(PYTEST_ARGS)

e2e: deps binaries argocd  ## the Docker tier: real kind and k3d clusters in a sealed network namespace (root; builds its images once)
	bash toolchain/docker-tier.sh start
	bash toolchain/docker-tier.sh run -- $(BIN)/pytest tests/docker $(PYTEST_ARGS); \
	  rc=$$?; bash toolchain/docker-tier.sh stop; exit $$rc

tier-images:  ## build (or list, when built) every image of the Docker tier
	bash toolchain/images/build.sh

lint: deps  ## ruff, mypy --strict, the import rules (one seam per outside world), and every test module collects
	$(BIN)/ruff check .
	$(BIN)/mypy
	$(BIN)/lint-imports
	$(BIN)/pytest --collect-only -q > /dev/null

deps: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $@

sysdeps:  ## what Argo CD's processes and the SSH tests need: redis-server, git, ssh, sshd, sudo, openssl (Debian/Ubuntu: installed if root)
	@missing=""; \
	for pair in redis-server:redis-server git:git ssh:openssh-client /usr/sbin/sshd:openssh-server sudo:sudo openssl:openssl; do \
	  tool=$${pair%%:*}; package=$${pair#*:}; \
	  [ -x "$$tool" ] || command -v "$$tool" >/dev/null || missing="$$missing $$package"; \
	done; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing; \
	  else echo "please install:$$missing (e.g. apt-get install$$missing)"; exit 1; fi; \
	fi

binaries:  ## kube-apiserver, controller-manager, scheduler, etcd, kwok, the Sealed Secrets and MetalLB controllers from Go modules (cached)
	bash toolchain/build.sh all

argocd:  ## Argo CD's controllers, helm and kustomize from Go modules (for argocd.mode: processes)
	bash toolchain/build.sh argocd

clean-binaries:
	rm -rf $${CLUSTERBOOT_BIN_DIR:-$${XDG_CACHE_HOME:-$$HOME/.cache}/clusterboot/bin}
