"""A gray zone failure on the local cluster: the zone's nodes keep heartbeating while the pods
on them fail their readiness (make zone-degrade ZONE=..., make zone-restore ZONE=...).

The zone's kwok is restarted with one more stage file: kwok-degraded.yaml turns every Ready
pod on the zone's nodes not Ready, including those started there later, for as long as the
zone is degraded; kwok-restored.yaml turns them Ready again, and stays with the zone's kwok
afterwards, as kubelets whose probes pass again report them Ready. A stage sees only its pod,
never the pod's node, so which zone fails is a matter of which kwok runs the stage: each
zone has its own. The other zones, and every test that degrades nothing, run kwok.yaml alone.
"""

from __future__ import annotations

import json
from pathlib import Path

from localcluster.cluster import LocalCluster

HERE = Path(__file__).resolve().parent
DEGRADED = HERE / "kwok-degraded.yaml"
RESTORED = HERE / "kwok-restored.yaml"
STATE = "degraded-zones.json"


def degraded_zones(cluster: LocalCluster) -> list[str]:
    path = cluster.state_dir / STATE
    return list(json.loads(path.read_text())) if path.exists() else []


def _save(cluster: LocalCluster, zones: list[str]) -> None:
    (cluster.state_dir / STATE).write_text(json.dumps(sorted(zones)))


def zone_degrade(cluster: LocalCluster, zone: str) -> bool:
    """Fail the readiness of every pod on the zone's nodes; False if it was degraded already."""
    cluster.nodes_in_zone(zone)  # validates the name
    zones = degraded_zones(cluster)
    if zone in zones:
        return False
    cluster.restart_kwok(zone, [DEGRADED])
    _save(cluster, [*zones, zone])
    return True


def zone_restore(cluster: LocalCluster, zone: str) -> bool:
    """Make the zone's pods Ready again; False if it was not degraded."""
    cluster.nodes_in_zone(zone)
    zones = degraded_zones(cluster)
    if zone not in zones:
        return False
    cluster.restart_kwok(zone, [RESTORED])
    _save(cluster, [z for z in zones if z != zone])
    return True
