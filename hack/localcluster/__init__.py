"""A real local Kubernetes control plane with KWOK-simulated nodes spread over zones.

Used by `make cluster-up`, the end-to-end test fixtures and the benchmarks, so that all three
start, break and mend clusters the same way.
"""

from localcluster.cluster import ClusterConfig, ClusterError, LocalCluster

__all__ = ["ClusterConfig", "ClusterError", "LocalCluster"]
