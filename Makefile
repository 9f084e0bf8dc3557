# zonal-operator developer interface. `make help` lists the targets.
SHELL := /bin/bash
.DEFAULT_GOAL := help

VENV ?= .venv
PY := $(VENV)/bin/python
CLUSTER_DIR ?= $(CURDIR)/.cluster
export CLUSTER_DIR
KUBECONFIG_LOCAL := $(CLUSTER_DIR)/kubeconfig
LOCALCLUSTER := PYTHONPATH=hack $(PY) -m localcluster --state-dir $(CLUSTER_DIR)
ZONES ?= 3
NODES_PER_ZONE ?= 3
PYTEST_ARGS ?=

.PHONY: help
help: ## Show this help
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z_-]+:.*## / {printf "  %-16s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

$(PY): pyproject.toml
	python3 -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --upgrade pip
	$(VENV)/bin/pip install --quiet -e '.[dev]'
	@touch $(PY)

.PHONY: venv
venv: $(PY) ## Create the virtualenv with the operator and the dev tools

.PHONY: tools
tools: ## Build etcd, Kubernetes, KWOK, helm and kubeconform from the Go module proxy (cached)
	hack/install-tools.sh all

.PHONY: cluster-up
cluster-up: $(PY) ## Start the local zoned cluster (ZONES=3 NODES_PER_ZONE=3)
	@hack/install-tools.sh cluster
	$(LOCALCLUSTER) up --zones $(ZONES) --nodes-per-zone $(NODES_PER_ZONE)

.PHONY: cluster-down
cluster-down: $(PY) ## Stop the local cluster and remove its state
	$(LOCALCLUSTER) down

.PHONY: cluster-status
cluster-status: $(PY) ## Show the local cluster's zones and nodes
	$(LOCALCLUSTER) status

.PHONY: zone-down
zone-down: $(PY) ## Stop the heartbeats of every node in ZONE
	@test -n "$(ZONE)" || { echo "usage: make zone-down ZONE=zone-a" >&2; exit 2; }
	$(LOCALCLUSTER) zone-down $(ZONE)

.PHONY: zone-up
zone-up: $(PY) ## Resume the heartbeats of every node in ZONE
	@test -n "$(ZONE)" || { echo "usage: make zone-up ZONE=zone-a" >&2; exit 2; }
	$(LOCALCLUSTER) zone-up $(ZONE)

.PHONY: node-down
node-down: $(PY) ## Stop the heartbeats of NODE
	@test -n "$(NODE)" || { echo "usage: make node-down NODE=kwok-zone-a-0" >&2; exit 2; }
	$(LOCALCLUSTER) node-down $(NODE)

.PHONY: node-up
node-up: $(PY) ## Resume the heartbeats of NODE
	@test -n "$(NODE)" || { echo "usage: make node-up NODE=kwok-zone-a-0" >&2; exit 2; }
	$(LOCALCLUSTER) node-up $(NODE)

.PHONY: lint
lint: $(PY) ## ruff and mypy
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy

.PHONY: unit
unit: $(PY) ## Unit and property tests only (no cluster)
	$(VENV)/bin/pytest -m 'not e2e' $(PYTEST_ARGS)

.PHONY: test
test: $(PY) ## Everything CI runs: lint, generated files up to date, unit and end-to-end tests
	@hack/install-tools.sh all
	$(MAKE) lint
	$(VENV)/bin/pytest $(PYTEST_ARGS)
