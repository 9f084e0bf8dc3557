#!/usr/bin/env python3
"""What one write costs the API server, by kind of object (`make bench-write-cost`).

The operator's writes are what it spends of the control plane: at a thousand workloads every
kind of write is a thousand of them. This starts a one-node local cluster with nothing else
running, and sends the same number of sequential merge patches of each kind:

- a ConfigMap's data (the cheapest write there is, for comparison);
- a Deployment's spec.replicas, on the scale subresource, as the operator scales;
- a ZonalWorkload's status, a whole three-zone status as the operator writes it;
- a ZonalWorkload's spec.replicas, as `kubectl scale zw` does;
- a ZonalWorkload's status again, of the same CRD installed under other API groups without its
  CEL rules, and without them and the embedded PodSpec schema: what each of those costs.

For each it prints the API server's CPU time per write (utime+stime of /proc/<pid>/stat before
and after, over the patches alone) and the mean round trip; --write-doc puts them into
docs/benchmarks.md, between the bench-write-cost markers.

    make bench-write-cost       # or: PYTHONPATH=hack .venv/bin/python hack/bench/write_cost.py
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "hack"))

import yaml  # noqa: E402
from benchlib import DOC, machine, revision, write_doc  # noqa: E402

from localcluster import ClusterConfig, LocalCluster  # noqa: E402
from testkit.api import Api  # noqa: E402
from testkit.procfs import process_cpu_seconds  # noqa: E402
from testkit.workloads import PAUSE_IMAGE, deployment  # noqa: E402

NAMESPACE = "default"
MERGE = "application/merge-patch+json"
ZONES = ("zone-a", "zone-b", "zone-c")
MARKERS = ("<!-- bench-write-cost:start -->", "<!-- bench-write-cost:end -->")
CRD = REPO / "crds" / "zonal.dev_zonalworkloads.yaml"
# API group of a variant of the CRD -> what it leaves out
VARIANTS = {
    "no-cel.bench.zonal.dev": "CRD without its CEL rules",
    "no-podspec.bench.zonal.dev": "CRD without CEL rules or the PodSpec schema",
}


def _without_cel(node: Any) -> None:
    if isinstance(node, dict):
        node.pop("x-kubernetes-validations", None)
        for value in node.values():
            _without_cel(value)
    elif isinstance(node, list):
        for value in node:
            _without_cel(value)


def variant_crd(group: str) -> dict[str, Any]:
    """The project's CRD under another API group, with what VARIANTS says left out."""
    crd: dict[str, Any] = yaml.safe_load(CRD.read_text())
    crd["metadata"]["name"] = f"{crd['spec']['names']['plural']}.{group}"
    crd["spec"]["group"] = group
    schema = crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    _without_cel(schema)
    if group.startswith("no-podspec."):
        loose = {"type": "object", "x-kubernetes-preserve-unknown-fields": True}
        schema["properties"]["spec"]["properties"]["template"] = loose
    return crd


def workload_status(ready: int) -> dict[str, Any]:
    """A status of the shape and size the operator writes for a workload of three zones."""
    zones = [
        {
            "name": zone,
            "deployment": f"web-{zone}",
            "eligibleNodes": 100,
            "readyNodes": 100,
            "desiredReplicas": 3,
            "readyReplicas": ready,
            "availableReplicas": ready,
            "health": "Healthy",
            "unschedulableReplicas": 0,
            "reason": "NodesReady",
            "message": "100/100 nodes Ready",
            "deploymentGeneration": 1,
        }
        for zone in ZONES
    ]
    conditions = [
        {
            "type": kind,
            "status": "True",
            "reason": "AsExpected",
            "message": f"{3 * ready} of 9 replicas available",
            "lastTransitionTime": "2026-01-01T00:00:00Z",
            "observedGeneration": 1,
        }
        for kind in ("Ready", "Progressing", "Degraded", "FailedOver")
    ]
    return {
        "observedGeneration": 1,
        "replicas": 9,
        "readyReplicas": 3 * ready,
        "availableReplicas": 3 * ready,
        "updatedReplicas": 9,
        "selector": "zonal.dev/workload=web",
        "zoneCount": 3,
        "healthyZoneCount": 3,
        "zones": zones,
        "conditions": conditions,
    }


def measure(api: Api, pid: int, count: int) -> list[tuple[str, float, float]]:
    """(kind of write, API server CPU ms each, round trip ms each), each kind `count` times."""
    workload = yaml.safe_load((REPO / "examples" / "zonalworkload.yaml").read_text())
    workloads = f"/apis/zonal.dev/v1alpha1/namespaces/{NAMESPACE}/zonalworkloads"
    api.request("POST", workloads, body=workload)
    api.request(
        "POST",
        f"/api/v1/namespaces/{NAMESPACE}/configmaps",
        body={"metadata": {"name": "probe"}, "data": {"n": "0"}},
    )
    probe = deployment("probe", NAMESPACE, 0, [{"name": "app", "image": PAUSE_IMAGE}])
    api.request("POST", f"/apis/apps/v1/namespaces/{NAMESPACE}/deployments", body=probe)
    name = workload["metadata"]["name"]
    for group in VARIANTS:
        body = {**workload, "apiVersion": f"{group}/v1alpha1"}
        api.request(
            "POST", f"/apis/{group}/v1alpha1/namespaces/{NAMESPACE}/zonalworkloads", body=body
        )
    writes: list[tuple[str, str, Callable[[int], Any]]] = [
        (
            "ConfigMap data",
            f"/api/v1/namespaces/{NAMESPACE}/configmaps/probe",
            lambda i: {"data": {"n": str(i)}},
        ),
        (
            "Deployment scale (spec.replicas)",
            f"/apis/apps/v1/namespaces/{NAMESPACE}/deployments/probe/scale",
            lambda i: {"spec": {"replicas": i % 2}},
        ),
        (
            "ZonalWorkload status",
            f"{workloads}/{name}/status",
            lambda i: {"status": workload_status(i % 4)},
        ),
        (
            "ZonalWorkload spec.replicas",
            f"{workloads}/{name}",
            lambda i: {"spec": {"replicas": 9 + i % 2}},
        ),
    ]
    writes += [
        (
            f"ZonalWorkload status, {without}",
            f"/apis/{group}/v1alpha1/namespaces/{NAMESPACE}/zonalworkloads/{name}/status",
            lambda i: {"status": workload_status(i % 4)},
        )
        for group, without in VARIANTS.items()
    ]
    found = []
    for label, path, patch in writes:
        time.sleep(2)  # let the writes that set this up settle
        started, cpu = time.monotonic(), process_cpu_seconds(pid)
        for i in range(count):
            api.request("PATCH", path, body=patch(i + 1), content_type=MERGE)
        wall, used = time.monotonic() - started, process_cpu_seconds(pid) - cpu
        found.append((label, 1000 * used / count, 1000 * wall / count))
    return found


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--writes", type=int, default=500, help="patches of each kind")
    parser.add_argument("--write-doc", action="store_true", help=f"write the figures into {DOC}")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="zonal-write-cost-") as state:
        cluster = LocalCluster(Path(state), ClusterConfig(zones=1, nodes_per_zone=1))
        cluster.up()
        try:
            variants = Path(state) / "variants"
            variants.mkdir()
            for group in VARIANTS:
                (variants / f"{group}.yaml").write_text(yaml.safe_dump(variant_crd(group)))
            cluster.install_crds(REPO / "crds")
            cluster.install_crds(variants)
            pids = json.loads((Path(state) / "state.json").read_text())["pids"]
            rows = measure(
                Api(cluster.kubeconfig, "zonal-bench-write-cost"),
                int(pids["kube-apiserver"]),
                args.writes,
            )
        finally:
            cluster.down()
    base = rows[0][1]
    print(f"{args.writes} sequential merge patches of each kind; API server CPU time per write:")
    for label, cpu, wall in rows:
        print(f"  {label:66} {cpu:5.1f} ms CPU ({cpu / base:.1f}x), {wall:5.1f} ms round trip")
    if args.write_doc:
        when = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
        lines = [
            f"Run {when}, commit {revision()}, machine: {machine()}. Written by "
            f"`hack/bench/write_cost.py --write-doc --writes {args.writes}`: {args.writes} "
            "sequential merge patches of each kind on a one-node local cluster with nothing "
            "else running; CPU time is utime+stime of the kube-apiserver process.",
            "",
            "| write | API server CPU each | vs. ConfigMap | round trip |",
            "|---|---|---|---|",
            *(
                f"| {label} | {cpu:.1f} ms | {cpu / base:.1f}x | {wall:.1f} ms |"
                for label, cpu, wall in rows
            ),
        ]
        write_doc(
            DOC, "\n".join(lines), markers=MARKERS, heading="## Write cost: `make bench-write-cost`"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
