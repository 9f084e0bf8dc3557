# zonal-operator developer interface. `make help` lists the targets.
SHELL := /bin/bash
.DEFAULT_GOAL := help

VENV ?= .venv
PY := $(VENV)/bin/python
CLUSTER_DIR ?= $(CURDIR)/.cluster
export CLUSTER_DIR
KUBECONFIG_LOCAL := $(CLUSTER_DIR)/kubeconfig
LOCALCLUSTER := PYTHONPATH=hack $(PY) -m localcluster --state-dir $(CLUSTER_DIR)
KUBECTL_LOCAL = $(shell PYTHONPATH=hack $(PY) -c 'from localcluster import binaries; print(binaries.find("kubectl"))') --kubeconfig $(KUBECONFIG_LOCAL)
ZONES ?= 3
NODES_PER_ZONE ?= 3
PYTEST_ARGS ?=

.PHONY: help
help: ## Show this help
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z0-9_-]+:.*## / {printf "  %-18s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

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

.PHONY: run
run: $(PY) ## Start the local cluster if needed, install the CRD, apply the sample, run the operator
	@hack/install-tools.sh cluster
	@$(LOCALCLUSTER) status >/dev/null 2>&1 || $(LOCALCLUSTER) up --zones $(ZONES) --nodes-per-zone $(NODES_PER_ZONE)
	$(LOCALCLUSTER) install-crds crds/
	$(KUBECTL_LOCAL) apply --server-side -f examples/zonalworkload.yaml
	@echo "Operator starting; in another shell: export KUBECONFIG=$(KUBECONFIG_LOCAL); kubectl get zw,deploy"
	@echo "Break a zone with: make zone-down ZONE=zone-a   (Ctrl-C stops the operator; make cluster-down the cluster)"
	$(VENV)/bin/zonal-operator run --kubeconfig $(KUBECONFIG_LOCAL) --metrics-port 8080 --liveness http://127.0.0.1:8081/healthz

.PHONY: bench-failover
bench-failover: $(PY) ## Failover benchmark: ZonalWorkload vs stock Deployments, one zone down (~12 min)
	@hack/install-tools.sh cluster
	PYTHONPATH=hack:. $(PY) hack/bench/failover.py --write-doc

.PHONY: bench-write-cost
bench-write-cost: $(PY) ## What one write costs the API server, by kind of object (~1 min)
	@hack/install-tools.sh cluster
	PYTHONPATH=hack $(PY) hack/bench/write_cost.py --write-doc

.PHONY: generate
generate: $(PY) ## Regenerate the CRD (hack/gen_crd.py), the chart's copy of it and manifests/
	$(PY) hack/gen_crd.py
	$(MAKE) manifests

.PHONY: generate-check
generate-check: $(PY) ## Fail if any generated file is out of date
	$(PY) hack/gen_crd.py --check
	$(MAKE) manifests-check

.PHONY: lint
lint: $(PY) ## ruff and mypy (strict)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy
	$(VENV)/bin/lint-imports
	$(VENV)/bin/mypy --strict hack/gen_crd.py hack/render_manifests.py hack/kubeconform_schemas.py \
	  hack/bench/failover.py hack/bench/scale.py hack/bench/write_cost.py

.PHONY: unit
unit: $(PY) ## Unit and property tests only (no cluster)
	$(VENV)/bin/pytest -m 'not e2e' $(PYTEST_ARGS)

.PHONY: test
test: $(PY) ## Everything CI runs: lint, generated files up to date, unit and end-to-end tests
	@hack/install-tools.sh all
	$(MAKE) lint generate-check
	$(VENV)/bin/pytest $(PYTEST_ARGS)

include hack/make/ship.mk
include hack/make/bench-scale.mk
