# Scale and efficiency benchmark: 1000 ZonalWorkloads on a local cluster of 3 zones x 100 KWOK
# nodes, through converge, idle, zone loss and recovery (hack/bench/scale.py; about 20 minutes).
# Included by the main Makefile (`include hack/make/bench-scale.mk`); also works on its own from
# the repository root: `make -f hack/make/bench-scale.mk bench-scale`.
#
#   make bench-scale                                  full run, results into docs/benchmarks.md
#   make bench-scale BENCH_SCALE_ARGS='--workloads 100 --nodes-per-zone 10 --idle-seconds 30'
#   make bench-scale BENCH_SCALE_ARGS='--write-doc --profile'   also py-spy each phase
#
# The run is heavy (a control plane, 300 simulated nodes, 3000 pods): it holds BENCH_LOCK with
# flock(1), when flock is there, so that no two heavy runs on one machine distort each other.

VENV ?= .venv
PY ?= $(VENV)/bin/python
BENCH_SCALE_ARGS ?= --write-doc
BENCH_LOCK ?= /tmp/zonal-heavy.lock
BENCH_FLOCK := $(if $(shell command -v flock 2>/dev/null),flock $(BENCH_LOCK))

.PHONY: bench-scale
bench-scale: ## Scale benchmark: 1000 workloads, 3x100 nodes (BENCH_SCALE_ARGS=--help for knobs)
	@hack/install-tools.sh cluster
	$(BENCH_FLOCK) $(PY) hack/bench/scale.py $(BENCH_SCALE_ARGS)
