"""What the end-to-end tests and the benchmarks share to drive a local cluster.

- `operator_process`: the real `zonal-operator run` process, its metrics and its /proc figures;
- `metrics`: reading the operator's Prometheus text (API requests, status writes, histograms);
- `api`: a minimal HTTP client of the local cluster's API, for polling at scale;
- `workloads`: building ZonalWorkload bodies and reading their status;
- `procfs`: CPU time and memory of any process, from /proc.

Nothing here knows of pytest: a failure raises `HarnessError`, which each caller turns into its
own (a failed test, a failed benchmark run).
"""

from __future__ import annotations


class HarnessError(RuntimeError):
    """The harness could not do what it was asked; the message says why."""
