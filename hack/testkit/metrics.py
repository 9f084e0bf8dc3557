"""Reading the operator's Prometheus text: what it sent to the API server, what it wrote."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping

from prometheus_client.parser import text_string_to_metric_families

READ_VERBS = frozenset({"get", "list", "watch"})
API_REQUESTS = "zonal_operator_api_requests_total"
API_SECONDS = "zonal_operator_api_request_duration_seconds"
STATUS_WRITES = "zonal_operator_status_writes_total"
RECONCILE_SECONDS = "zonal_operator_reconcile_duration_seconds"
LEADER = "zonal_operator_leader"
LEADERSHIP_CHANGES = "zonal_operator_leadership_changes_total"


def gauge(text: str, name: str) -> float | None:
    """The value of an unlabelled gauge (or counter), None if absent."""
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name:
                return float(sample.value)
    return None


def api_requests(text: str) -> Counter[tuple[str, str]]:
    """(verb, resource) -> requests sent so far, from zonal_operator_api_requests_total."""
    counts: Counter[tuple[str, str]] = Counter()
    for family in text_string_to_metric_families(text):
        if family.name != API_REQUESTS.removesuffix("_total"):
            continue
        for sample in family.samples:
            if sample.name.endswith("_total"):
                counts[(sample.labels["verb"], sample.labels["resource"])] += int(sample.value)
    return counts


def api_seconds(text: str) -> dict[tuple[str, str], tuple[int, float]]:
    """(verb, resource) -> (requests timed, seconds they took) so far, from
    zonal_operator_api_request_duration_seconds (its _count and _sum)."""
    found: dict[tuple[str, str], tuple[int, float]] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name not in (f"{API_SECONDS}_count", f"{API_SECONDS}_sum"):
                continue
            key = (sample.labels["verb"], sample.labels["resource"])
            count, total = found.get(key, (0, 0.0))
            if sample.name.endswith("_count"):
                count = int(sample.value)
            else:
                total = float(sample.value)
            found[key] = (count, total)
    return found


def status_writes(text: str) -> Counter[str]:
    """Kind of change -> status writes so far, from zonal_operator_status_writes_total."""
    counts: Counter[str] = Counter()
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == STATUS_WRITES:
                counts[sample.labels["change"]] += int(sample.value)
    return counts


def histogram_totals(text: str, name: str) -> tuple[int, float]:
    """(observations, their sum) of an unlabelled histogram."""
    count, total = 0, 0.0
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == f"{name}_count":
                count = int(sample.value)
            elif sample.name == f"{name}_sum":
                total = float(sample.value)
    return count, total


def sample_total(text: str, name: str, **labels: str) -> float:
    """The sum of the samples of `name` (a counter's or gauge's series name) whose labels
    include `labels`."""
    total = 0.0
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name and all(sample.labels.get(k) == v for k, v in labels.items()):
                total += float(sample.value)
    return total


# The only Lease the operator writes is its own leader-election Lease, renewed every retry
# period (2 s) by the leader: the one write a steady state has, as for any controller with
# leader election. What the operator writes about workloads is everything else.
LEADER_LEASE = "leases"


def writes(counts: Mapping[tuple[str, str], int]) -> int:
    """The requests among `counts` that are not reads, the leader's Lease renewals aside."""
    return sum(
        n
        for (verb, resource), n in counts.items()
        if verb not in READ_VERBS and resource != LEADER_LEASE
    )


def by_verb(counts: Mapping[tuple[str, str], int]) -> str:
    """'patch zonalworkloads/status 12, create events 3' (empty: 'none')."""
    parts = [f"{verb} {resource} {n}" for (verb, resource), n in sorted(counts.items()) if n]
    return ", ".join(parts) or "none"
