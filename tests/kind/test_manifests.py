"""`kubectl apply --server-side -f manifests/` on a fresh kind cluster, one that has never seen the
operator (`make kind-test` makes one for this module alone, KIND_CLUSTER=zonal-fresh): the
plain manifests install it as they are, and the example ZonalWorkload becomes Ready.

The manifests name the released image; the image built here from the Dockerfile is loaded into
the nodes under that name, so that the manifests are applied unchanged (the kubelet finds it
and pulls nothing: IfNotPresent).
"""

from __future__ import annotations

from typing import Any

import pytest
import yaml

from tests.kit.e2e import wait_for
from tests.kit.kind import (
    CLUSTER,
    OPERATOR_NAMESPACE,
    ROOT,
    TOOL,
    apply,
    balanced,
    condition,
    get,
    kubectl,
    leader,
    operator_pods,
    run,
    wait_operator_settled,
    wait_workload_ready,
    web_workload,
)

pytestmark = pytest.mark.kind

MANIFESTS = ROOT / "manifests"
LOCAL_IMAGE = "zonal-operator:dev"


def manifest_image() -> str:
    for doc in yaml.safe_load_all((MANIFESTS / "zonal-operator.yaml").read_text()):
        if doc and doc["kind"] == "Deployment":
            image: str = doc["spec"]["template"]["spec"]["containers"][0]["image"]
            return image
    raise AssertionError("no Deployment in manifests/")


def test_manifests_install_the_operator_on_a_fresh_cluster(namespace: str) -> None:
    # Fresh: no trace of the operator before.
    crds = get("crd")["items"]
    assert not [c for c in crds if c["spec"]["group"] == "zonal.dev"]
    image = manifest_image()
    run("docker", "tag", LOCAL_IMAGE, image)
    run(TOOL, "kind", "load", "docker-image", image, "--name", CLUSTER, timeout=600)

    kubectl("apply", "--server-side", "-f", str(MANIFESTS))
    wait_for(
        lambda: condition(get("crd", "zonalworkloads.zonal.dev"), "Established") == "True",
        timeout=60,
        what="the CRD established",
    )
    kubectl(
        "rollout",
        "status",
        "-n",
        OPERATOR_NAMESPACE,
        "deployment/zonal-operator",
        "--timeout=300s",
        timeout=330,
    )
    wait_operator_settled()
    pods = operator_pods()
    assert {p["spec"]["containers"][0]["image"] for p in pods} == {image}
    assert leader() in {p["metadata"]["name"] for p in pods}

    workload: dict[str, Any] = web_workload("web", replicas=3)
    apply(namespace, workload)
    wait_workload_ready(namespace, "web")
    wait_for(lambda: balanced(namespace, "web"), timeout=120, what="balanced")
