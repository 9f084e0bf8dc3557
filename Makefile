# zonal-operator developer interface. `make help` lists the targets.
SHELL := /bin/bash
.DEFAULT_GOAL := help

VENV ?= .venv
PY := $(VENV)/bin/python
# Made last, so that an install cut short is redone by the next make, not taken as done.
VENV_READY := $(VENV)/.installed
CLUSTER_DIR ?= $(CURDIR)/.cluster
export CLUSTER_DIR
KUBECONFIG_LOCAL := $(CLUSTER_DIR)/kubeconfig
LOCALCLUSTER := PYTHONPATH=hack $(PY) -m localcluster --state-dir $(CLUSTER_DIR)
# Built tools run through hack/tool, which finds (or builds) them when the step runs.
KUBECTL_LOCAL := hack/tool kubectl --kubeconfig $(KUBECONFIG_LOCAL)
ZONES ?= 3
NODES_PER_ZONE ?= 3
PYTEST_ARGS ?=
# pytest-xdist workers of `make test-local` and `make unit`. Each worker that runs an
# end-to-end test starts a local cluster of its own; 6 is the measured choice on 2 cores
# (docs/testing.md). TEST_WORKERS=0 runs everything in one process, as before.
TEST_WORKERS ?= 6
XDIST := -n $(TEST_WORKERS)
# Where `make run`'s operator serves /metrics and /healthz.
RUN_METRICS_PORT ?= 8080
RUN_HEALTH_PORT ?= 8081

.PHONY: help
help: ## Show this help
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z0-9_-]+:.*## / {printf "  %-18s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

$(VENV_READY): pyproject.toml
	python3 -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --upgrade pip
	$(VENV)/bin/pip install --quiet -e '.[dev]'
	@touch $@

.PHONY: venv
venv: $(VENV_READY) ## Create the virtualenv with the operator and the dev tools

.PHONY: tools
tools: ## Build etcd, Kubernetes, KWOK, helm, kubeconform and promtool from the Go module proxy (cached)
	hack/install-tools.sh all

.PHONY: cluster-up
cluster-up: $(VENV_READY) ## Start the local zoned cluster (ZONES=3 NODES_PER_ZONE=3)
	@hack/install-tools.sh cluster
	$(LOCALCLUSTER) up --zones $(ZONES) --nodes-per-zone $(NODES_PER_ZONE)

.PHONY: cluster-down
cluster-down: $(VENV_READY) ## Stop the local cluster and remove its state
	$(LOCALCLUSTER) down

.PHONY: cluster-status
cluster-status: $(VENV_READY) ## Show the local cluster's zones and nodes
	$(LOCALCLUSTER) status

.PHONY: zone-down
zone-down: $(VENV_READY) ## Stop the heartbeats of every node in ZONE
	@test -n "$(ZONE)" || { echo "usage: make zone-down ZONE=zone-a" >&2; exit 2; }
	$(LOCALCLUSTER) zone-down $(ZONE)

.PHONY: zone-up
zone-up: $(VENV_READY) ## Resume the heartbeats of every node in ZONE
	@test -n "$(ZONE)" || { echo "usage: make zone-up ZONE=zone-a" >&2; exit 2; }
	$(LOCALCLUSTER) zone-up $(ZONE)

.PHONY: zone-degrade
zone-degrade: $(VENV_READY) ## Gray failure: pods in ZONE fail readiness, its nodes heartbeat on
	@test -n "$(ZONE)" || { echo "usage: make zone-degrade ZONE=zone-b" >&2; exit 2; }
	$(LOCALCLUSTER) zone-degrade $(ZONE)

.PHONY: zone-restore
zone-restore: $(VENV_READY) ## End the gray failure of ZONE: its pods turn Ready again
	@test -n "$(ZONE)" || { echo "usage: make zone-restore ZONE=zone-b" >&2; exit 2; }
	$(LOCALCLUSTER) zone-restore $(ZONE)

.PHONY: node-down
node-down: $(VENV_READY) ## Stop the heartbeats of NODE
	@test -n "$(NODE)" || { echo "usage: make node-down NODE=kwok-zone-a-0" >&2; exit 2; }
	$(LOCALCLUSTER) node-down $(NODE)

.PHONY: node-up
node-up: $(VENV_READY) ## Resume the heartbeats of NODE
	@test -n "$(NODE)" || { echo "usage: make node-up NODE=kwok-zone-a-0" >&2; exit 2; }
	$(LOCALCLUSTER) node-up $(NODE)

.PHONY: run
run: $(VENV_READY) ## Start the local cluster if needed, install the CRD, apply the sample, run the operator
	@hack/install-tools.sh cluster
	@$(LOCALCLUSTER) status >/dev/null 2>&1 || $(LOCALCLUSTER) up --zones $(ZONES) --nodes-per-zone $(NODES_PER_ZONE)
	$(LOCALCLUSTER) install-crds crds/
	$(KUBECTL_LOCAL) apply --server-side -f examples/zonalworkload.yaml
	$(LOCALCLUSTER) run-operator --workload web -- \
	  $(VENV)/bin/zonal-operator run --kubeconfig $(KUBECONFIG_LOCAL) \
	  --metrics-port $(RUN_METRICS_PORT) --liveness http://127.0.0.1:$(RUN_HEALTH_PORT)/healthz

.PHONY: bench-failover
bench-failover: $(VENV_READY) ## Failover benchmark: ZonalWorkload vs stock Deployments, one zone down (~12 min; the PNG needs .[bench])
	@hack/install-tools.sh cluster
	PYTHONPATH=hack:. $(PY) hack/bench/failover.py --write-doc

.PHONY: bench-write-cost
bench-write-cost: $(VENV_READY) ## What one write costs the API server, by kind of object (~1 min)
	@hack/install-tools.sh cluster
	PYTHONPATH=hack $(PY) hack/bench/write_cost.py --write-doc

.PHONY: generate
generate: $(VENV_READY) ## Regenerate the CRD (hack/gen_crd.py), the chart's copy of it and manifests/
	$(PY) hack/gen_crd.py
	$(MAKE) manifests

.PHONY: generate-check
generate-check: $(VENV_READY) ## Fail if any generated file is out of date
	$(PY) hack/gen_crd.py --check
	$(MAKE) manifests-check

.PHONY: lint
lint: $(VENV_READY) ## ruff, mypy (strict) and the layering contracts (import-linter)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy
	$(VENV)/bin/lint-imports
	$(VENV)/bin/mypy --strict hack/gen_crd.py hack/render_manifests.py hack/kubeconform_schemas.py \
	  hack/bench/*.py hack/testkit hack/kind_offline.py hack/crd_schema.py

.PHONY: unit
unit: $(VENV_READY) ## Unit and property tests only (no cluster)
	$(VENV)/bin/pytest -m 'not e2e' $(XDIST) $(PYTEST_ARGS)

.PHONY: test
test: $(VENV_READY) ## Everything CI runs: lint, generated files, the local-cluster suite, then the kind suite (needs Docker)
	@hack/install-tools.sh all
	$(MAKE) lint generate-check
	$(MAKE) local-suite
	$(MAKE) kind-test

.PHONY: test-local
test-local: $(VENV_READY) ## Lint, generated files up to date, unit and local-cluster end-to-end tests
	@hack/install-tools.sh all
	$(MAKE) lint generate-check
	$(MAKE) local-suite

.PHONY: local-suite
local-suite: $(VENV_READY) ## Unit and local-cluster end-to-end tests only (TEST_WORKERS workers)
	@hack/install-tools.sh all
	$(VENV)/bin/pytest $(XDIST) $(PYTEST_ARGS)

include hack/make/ship.mk
include hack/make/bench-scale.mk

# The included targets that run the virtualenv's tools need it made first.
bench-scale chart-crd manifests manifests-check chart-test kind-test: $(VENV_READY)
