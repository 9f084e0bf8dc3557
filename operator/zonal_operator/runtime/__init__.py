"""The runtime: what connects the pure core to a cluster. Watches fill the cache, the work
queue feeds the reconcile, the executor carries out plans (see docs/architecture.md)."""
