"""zonal-operator: zone-aware placement and failover for Kubernetes workloads."""
