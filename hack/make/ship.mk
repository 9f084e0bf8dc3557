# Shipping: the container image, the Helm chart, the plain manifests and a kind workflow.
# Included by the main Makefile (`include hack/make/ship.mk`); also works on its own from the
# repository root: `make -f hack/make/ship.mk <target>`.
#
# Docker and kind are not needed for the chart targets. The targets that need them (image,
# kind-*) print their commands instead of running them with DRY_RUN=1.

VENV ?= .venv
PY ?= $(VENV)/bin/python
DRY_RUN ?=

# Built tools run through hack/tool, which finds them in the tools cache (or builds them there)
# when the step runs; ZONAL_HELM, ZONAL_KUBECTL or ZONAL_KIND name other binaries to use.
HELM ?= $(CURDIR)/hack/tool helm
KUBECTL ?= $(CURDIR)/hack/tool kubectl
DOCKER ?= docker
KIND ?= $(CURDIR)/hack/tool kind

IMAGE_REPO ?= zonal-operator
IMAGE_TAG ?= dev
IMAGE := $(IMAGE_REPO):$(IMAGE_TAG)
CHART_DIR := charts/zonal-operator
KIND_CLUSTER ?= zonal
# Empty: the node image kind (KIND_VERSION in hack/versions.env) defaults to, pinned by digest;
# offline (no registry answers, or KIND_OFFLINE=1) the one hack/kind/images.sh builds here.
KIND_NODE_IMAGE ?=
KIND_CONFIG ?= hack/kind/kind-config.yaml
# Where the locally built images are named (<KIND_LOCAL_REPO>/web:dev, .../kind-node:...).
KIND_LOCAL_REPO ?= zonal-operator
export KIND_LOCAL_REPO KIND_OFFLINE
WEB_IMAGE ?= $(KIND_LOCAL_REPO)/web:dev
# Empty: the Dockerfile's default (the official python image); offline, the local one.
PYTHON_IMAGE ?=
KIND_CONTEXT := kind-$(KIND_CLUSTER)

ifeq ($(DRY_RUN),1)
SHIP_RUN := @echo +
else
SHIP_RUN :=
endif

# -- Generated files ------------------------------------------------------------------------

.PHONY: chart-crd
chart-crd: ## Copy crds/*.yaml into the chart (charts/zonal-operator/files/crds/)
	$(PY) hack/render_manifests.py --only crd

.PHONY: manifests
manifests: ## Regenerate the chart's CRD copy and manifests/ (helm template, default values)
	$(PY) hack/render_manifests.py

.PHONY: manifests-check
manifests-check: ## Fail if the chart's CRD copy or manifests/ are out of date
	$(PY) hack/render_manifests.py --check

# -- Chart checks (also run by `make test`, as tests/unit/test_chart_render.py) ----------------

.PHONY: chart-lint
chart-lint: ## helm lint --strict, default values and ci/all-on-values.yaml
	$(HELM) lint --strict $(CHART_DIR)
	$(HELM) lint --strict $(CHART_DIR) -f $(CHART_DIR)/ci/all-on-values.yaml

.PHONY: chart-test
chart-test: ## Chart unit checks (lint, kubeconform, render) and the chart e2e test
	$(VENV)/bin/pytest -q tests/unit/test_chart_render.py tests/e2e/test_chart.py

.PHONY: chart-package
chart-package: manifests-check ## helm package the chart into dist/
	$(HELM) package $(CHART_DIR) --destination dist

# -- Image and kind (DRY_RUN=1 prints the commands) ------------------------------------------

.PHONY: image
image: ## docker build the operator image (IMAGE_REPO=zonal-operator IMAGE_TAG=dev; PYTHON_IMAGE=base)
	$(SHIP_RUN) $(DOCKER) build --tag $(IMAGE) $(if $(PYTHON_IMAGE),--build-arg PYTHON_IMAGE=$(PYTHON_IMAGE)) .

.PHONY: kind-tool
kind-tool: ## Build kind (KIND_VERSION in hack/versions.env) into the tools cache
	$(SHIP_RUN) hack/install-tools.sh kind

# The kind targets' scripts read these from the environment.
KIND_ENV = KIND="$(KIND)" KUBECTL="$(KUBECTL)" DOCKER=$(DOCKER) KIND_CLUSTER=$(KIND_CLUSTER) \
	KIND_CONFIG=$(KIND_CONFIG) KIND_NODE_IMAGE=$(KIND_NODE_IMAGE) IMAGE=$(IMAGE) \
	WEB_IMAGE=$(WEB_IMAGE) PYTHON_IMAGE=$(PYTHON_IMAGE)

.PHONY: kind-docker
kind-docker: ## Make sure a Docker engine runs (installs Debian's docker.io where none does)
	$(SHIP_RUN) hack/kind/docker.sh

.PHONY: kind-images
kind-images: ## Build the offline kind node image and its Debian base here (hack/kind/images.sh)
	$(SHIP_RUN) hack/kind/images.sh node

.PHONY: kind-up
kind-up: kind-tool ## Create the kind cluster (offline: with the node image built here)
	$(SHIP_RUN) $(KIND_ENV) hack/kind/up.sh

.PHONY: kind-load
kind-load: ## Build the operator and web server images and load them into the kind nodes
	$(SHIP_RUN) $(KIND_ENV) hack/kind/load.sh

# The headroom placeholders run the nodes' own sandbox image (offline, the only pause image they
# hold; empty where containerd does not say: the chart's default).
KIND_HEADROOM_IMAGE ?= $(shell $(DOCKER) exec $(KIND_CLUSTER)-control-plane crictl info \
	2>/dev/null | python3 hack/kind_offline.py sandbox-image)

.PHONY: kind-deploy
kind-deploy: ## helm upgrade --install the chart into the kind cluster, with the loaded image
	$(SHIP_RUN) $(KUBECTL) --context $(KIND_CONTEXT) apply --server-side \
		-f hack/kind/namespace.yaml
	$(SHIP_RUN) $(HELM) upgrade --install zonal-operator $(CHART_DIR) \
		--kube-context $(KIND_CONTEXT) --namespace zonal-system \
		--set image.repository=$(IMAGE_REPO) --set image.tag=$(IMAGE_TAG) \
		--set image.pullPolicy=Never --wait --timeout 5m \
		$(addprefix --set operator.headroomImage=,$(KIND_HEADROOM_IMAGE))

# The cluster test_manifests.py installs manifests/ on: fresh, one worker per zone.
KIND_FRESH_CLUSTER ?= $(KIND_CLUSTER)-fresh
KIND_PYTEST = KIND_CLUSTER=$(1) WEB_IMAGE=$(WEB_IMAGE) $(VENV)/bin/pytest -m kind $(PYTEST_ARGS)

# The steps of a cluster run one after the other (-j1), also under `make -j`.
.PHONY: kind-test
kind-test: ## The kind suite (tests/kind): the chart on kind-up's cluster, then manifests/ on a fresh one
	$(MAKE) kind-docker
	$(MAKE) -j1 kind-up kind-load kind-deploy \
		&& $(call KIND_PYTEST,$(KIND_CLUSTER)) tests/kind --ignore=tests/kind/test_manifests.py; \
		rc=$$?; $(MAKE) kind-down; exit $$rc
	$(MAKE) -j1 kind-up kind-load KIND_CLUSTER=$(KIND_FRESH_CLUSTER) \
		KIND_CONFIG=hack/kind/kind-config-3.yaml \
		&& $(call KIND_PYTEST,$(KIND_FRESH_CLUSTER)) tests/kind/test_manifests.py; \
		rc=$$?; $(MAKE) kind-down KIND_CLUSTER=$(KIND_FRESH_CLUSTER); exit $$rc

.PHONY: kind-down
kind-down: ## Delete the kind cluster (the images stay cached; see docs/kind.md)
	$(SHIP_RUN) $(KIND) delete cluster --name $(KIND_CLUSTER)
	@echo "The images built for it stay in Docker for the next kind-up; remove them with:"
	@echo "  docker images '$(KIND_LOCAL_REPO)/*' -q | xargs -r docker rmi"
