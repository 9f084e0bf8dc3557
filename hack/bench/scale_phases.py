"""The scale benchmark's four phases, in order: converge, idle, zone loss, recovery (what each
does and measures: scale.py's docstring)."""

from __future__ import annotations

import statistics
import time
from concurrent.futures import ThreadPoolExecutor

from benchlib import BenchError, log
from scale_harness import Harness
from scale_reads import (
    epoch,
    kth,
    list_workloads,
    pod_nodes,
    poll_deployments,
    ready_and_current,
    running_pods,
    workload_table,
    zone_entry,
    zone_nodes,
)
from scale_report import Report, seconds, spread

from testkit.metrics import READ_VERBS, writes
from testkit.workloads import PAUSE_IMAGE, workload

LEASE_RENEWALS = "zonal_operator_node_lease_renewals_total"
# spec.failover.heartbeatTimeoutSeconds of the benchmark's workloads (the default).
HEARTBEAT_TIMEOUT = 20


def run(bench: Harness) -> Report:
    """The cluster and the operator, the four phases, and the whole run's figures."""
    args = bench.args
    bench.start_cluster()
    try:
        bench.start_operator()
        with bench.phase("converge"):
            converge(bench)
        with bench.phase(f"idle {args.idle_seconds:.0f} s"):
            idle(bench)
        with bench.phase("zone loss"):
            zone_loss(bench)
        with bench.phase("recovery"):
            recovery(bench)
        _, hwm = bench.op.memory_mib()
        bench.report.figures["operator_peak_rss_mib"] = round(hwm, 1)
        bench.report.add(
            "whole run",
            "operator peak memory (VmHWM)",
            f"{hwm:.0f} MiB",
            "< 300 MiB",
            hwm < 300,
        )
        bench.report.add("whole run", "operator CPU time", f"{bench.op.cpu_seconds():.0f} s")
        if args.audit:
            bench.audit_cross_check()
    finally:
        bench.down()
    return bench.report


# -- 1. converge -----------------------------------------------------------------------------------
def converge(bench: Harness) -> None:
    fleet, args = bench.fleet, bench.args
    total_pods = len(fleet.names) * fleet.replicas
    log(
        f"converge: creating {len(fleet.names)} ZonalWorkloads of {fleet.replicas} replicas "
        f"in {len(fleet.namespaces)} namespaces"
    )
    t0 = time.monotonic()

    def create(name: str) -> None:
        namespace = fleet.namespace_of[name]
        body = workload(
            name, namespace, fleet.replicas, PAUSE_IMAGE, cpu="10m", memory="16Mi",
            failover=dict(bench.failover),
        )  # fmt: skip
        path = f"/apis/zonal.dev/v1alpha1/namespaces/{namespace}/zonalworkloads"
        bench.kube.request("POST", path, body=body)

    with ThreadPoolExecutor(args.create_threads) as pool:
        list(pool.map(create, fleet.names))
    created = time.monotonic() - t0
    log(f"created in {created:.1f}s")

    even = fleet.even()
    t_deployments: float | None = None
    t_converged: float | None = None
    t_pods: float | None = None

    def done(_: float) -> bool:
        nonlocal t_deployments, t_converged, t_pods
        now = time.monotonic() - t0
        deps = poll_deployments(bench.kube, fleet)
        right = sum(1 for z in deps.values() if z.desired == even)
        if t_deployments is None and right == len(fleet.names):
            t_deployments = now
        progress = f"  {now:5.0f}s  Deployments right {right}/{len(fleet.names)}"
        if t_converged is None:
            # The Table's Status column is the Ready condition; only once every row says
            # True is the full list read, to check observedGeneration too.
            ready = sum(1 for row in workload_table(bench.kube) if row.get("Status") == "True")
            progress += f"  status Ready {ready}"
            if ready == right == len(fleet.names) and all(
                ready_and_current(w) for w in list_workloads(bench.kube)
            ):
                t_converged = now
        if t_pods is None:
            running = running_pods(bench.kube)
            progress += f"  pods Running {running}/{total_pods}"
            if running == total_pods:
                t_pods = now
        log(progress)
        return t_converged is not None and t_pods is not None

    bench.poll_until("convergence", done, args.timeout, args.poll_seconds)
    quiet = bench.settle("converging") - t0
    bench.report.add("converge", f"create {len(fleet.names)} ZonalWorkloads", seconds(created))
    bench.report.add(
        "converge", "every workload's Deployments at the right replicas", seconds(t_deployments)
    )
    bench.report.add(
        "converge",
        "... and status Ready (observedGeneration current)",
        seconds(t_converged),
        "<= 90 s",
        t_converged is not None and t_converged <= 90,
    )
    bench.report.add("converge", f"all {total_pods} pods Running", seconds(t_pods))
    bench.report.add("converge", "operator done writing", seconds(quiet))
    bench.report.figures["converge"] = {
        "create_seconds": round(created, 1),
        "deployments_seconds": t_deployments,
        "status_ready_seconds": t_converged,
        "operator_done_seconds": round(quiet, 1),
        "pods_running_seconds": t_pods,
    }


# -- 2. idle ---------------------------------------------------------------------------------------
def idle(bench: Harness) -> None:
    seconds_ = bench.args.idle_seconds
    log(f"idle: {seconds_:.0f}s with nothing changing")
    before = bench.op.api_requests()
    renewals_before, cpu_before = bench.op.metric(LEASE_RENEWALS), bench.op.cpu_seconds()
    started = time.monotonic()
    deadline = started + seconds_
    while time.monotonic() < deadline:
        bench.op.check()
        time.sleep(min(10.0, max(0.0, deadline - time.monotonic())))
    wall = time.monotonic() - started
    delta = bench.op.api_requests() - before
    phase = f"idle {seconds_:.0f} s"
    bench.report.add(phase, "operator writes", str(writes(delta)), "0", writes(delta) == 0)
    # The heartbeat verdict's cost: every node's Lease renewal reaches the operator.
    rate = (bench.op.metric(LEASE_RENEWALS) - renewals_before) / wall
    share = (bench.op.cpu_seconds() - cpu_before) / wall
    nodes = bench.args.zones * bench.args.nodes_per_zone
    at_5000 = share * 5000 / max(nodes, 1)
    bench.report.add(
        phase,
        "operator CPU with the Lease renewals it handled",
        f"{100 * share:.1f}% of a core at {rate:.1f} renewals/s ({nodes} nodes); "
        f"at most {100 * at_5000:.0f}% at 5000 nodes (all idle CPU scaled with the rate)",
        "< 5% of a core",
        share < 0.05,
    )
    bench.report.figures["idle"] = {
        "lease_renewals_per_second": round(rate, 1),
        "operator_cpu_share": round(share, 4),
        "operator_cpu_share_at_5000_nodes": round(at_5000, 3),
    }


# -- 3. zone loss ----------------------------------------------------------------------------------
def zone_loss(bench: Harness) -> None:
    fleet, zone, args = bench.fleet, bench.zone, bench.args
    replicas = fleet.replicas
    nodes = len(zone_nodes(bench.kube, zone))
    log(f"zone loss: {zone} ({nodes} nodes) goes down")
    placed = pod_nodes(bench.kube, zone)
    before = bench.op.api_requests()
    reconciles_before = bench.op.reconciles()[0]
    t_down = time.time()
    bench.cluster.zone_down(zone)
    t0 = time.monotonic()
    all_not_ready_seen: float | None = None
    reacted: dict[str, float] = {}
    moved: dict[str, float] = {}
    restored: dict[str, float] = {}
    capacity: dict[str, float] = {}
    cpu: list[tuple[float, float]] = []  # (time, operator CPU seconds so far)

    def done(_: float) -> bool:
        nonlocal all_not_ready_seen
        now = time.time()
        cpu.append((now, bench.op.cpu_seconds()))
        if all_not_ready_seen is None and not any(n.ready for n in zone_nodes(bench.kube, zone)):
            all_not_ready_seen = now
            log(f"  all {nodes} nodes of {zone} NotReady after {now - t_down:.0f}s")
        for name, zoned in poll_deployments(bench.kube, fleet).items():
            if name in restored:
                continue
            others = sum(n for z, n in zoned.desired.items() if z != zone)
            ready = sum(n for z, n in zoned.ready.items() if z != zone)
            gone = zoned.desired.get(zone, 0) == 0
            if others >= replicas:
                reacted.setdefault(name, now)
            if ready >= replicas:
                capacity.setdefault(name, now)
            if gone and others == replicas:
                moved.setdefault(name, now)
                if ready >= replicas:
                    restored[name] = now
        log(
            f"  {now - t_down:5.0f}s  scaled up {len(reacted)}  moved {len(moved)}  "
            f"Ready again {len(restored)} of {len(fleet.names)}"
        )
        return len(restored) == len(fleet.names)

    bench.poll_until(f"every workload to leave {zone}", done, args.timeout, 1.0)
    quiet = bench.settle("the zone loss") - t0
    delta = bench.op.api_requests() - before
    log(f"  the operator's last write: {quiet:.0f}s after the zone went down")

    # When did each workload judge the zone unhealthy? Its status says since when the zone
    # has been failing (its nodes' last heartbeat, or their Ready transitions); the verdict
    # comes once the grace period has run from then and, for a silent zone, once the silence
    # is longer than the heartbeat timeout (the workloads' default, 20 s).
    readiness = zone_nodes(bench.kube, zone)
    all_not_ready_at = max((n.since or 0.0) for n in readiness)
    first_not_ready_at = min((n.since or 0.0) for n in readiness)
    judged: dict[str, float] = {}
    unhealthy = 0
    for obj in list_workloads(bench.kube):
        entry = zone_entry(obj, zone)
        since = epoch(entry.get("unhealthySince"))
        if since is not None:
            silent = since < first_not_ready_at  # failed from the heartbeats, before NotReady
            wait = max(args.grace_seconds, HEARTBEAT_TIMEOUT if silent else 0)
            judged[obj["metadata"]["name"]] = since + wait
        unhealthy += entry.get("health") == "Unhealthy"
    missing = sorted(set(fleet.names) - set(judged))
    if missing:
        raise BenchError(f"{len(missing)} workloads report no unhealthySince: {missing[:5]}")
    judged_at = min(judged.values())
    react = [reacted[n] - judged[n] for n in fleet.names]
    move = [moved[n] - judged[n] for n in fleet.names]
    # Its zone's pods serve until the node lifecycle controller marks their nodes, and the
    # operator cuts them no sooner (or once the replacements are Ready).
    marked_at = {n.name: n.since or 0.0 for n in readiness if not n.ready}
    cuttable = {
        name: max([judged[name], *(marked_at.get(node, 0.0) for node in placed.get(name, ()))])
        for name in fleet.names
    }
    back = [capacity[n] - judged[n] for n in fleet.names]
    phase = "zone loss"
    bench.report.add(
        phase,
        f"{zone} nodes all NotReady (from Ready transitions)",
        f"{all_not_ready_at - t_down:.0f} s after the outage",
    )
    bench.report.add(
        phase,
        "zone judged unhealthy (status unhealthySince + grace)",
        f"{judged_at - t_down:.0f} s after the outage (grace {args.grace_seconds} s)",
    )
    bench.report.add(
        phase, "judged -> replacement replicas requested", spread(react), "max <= 30 s",
        max(react) <= 30,
    )  # fmt: skip
    # The lost zone's Deployments are cut once the replacements are Ready, or once the node
    # lifecycle controller marks its nodes (before that, pods on silent nodes may serve).
    bench.report.add(
        phase, f"judged -> Deployments rescaled ({zone} 0, others {replicas})", spread(move)
    )
    bench.report.add(
        phase,
        f"judged -> the nodes of its {zone} pods NotReady (the cut may come then)",
        spread([cuttable[n] - judged[n] for n in fleet.names]),
    )
    bench.report.add(
        phase,
        "... then -> Deployments rescaled",
        spread([moved[n] - cuttable[n] for n in fleet.names]),
    )
    bench.report.add(phase, "judged -> Ready replicas back", spread(back))
    # What users feel: spec.replicas Ready again outside the lost zone (the cut of the lost
    # zone's Deployments may come later: see above). Runs before 2026-12-07 16:30 reported the
    # next row under this name.
    bench.report.add(
        phase,
        f"outage -> Ready replicas back outside {zone}",
        spread([capacity[n] - t_down for n in fleet.names]),
        "p50 <= 40 s, max <= 60 s",
        statistics.median([capacity[n] - t_down for n in fleet.names]) <= 40
        and max(capacity[n] - t_down for n in fleet.names) <= 60,
    )
    bench.report.add(
        phase,
        f"outage -> moved ({zone} cut to 0, Ready replicas back outside it)",
        spread([restored[n] - t_down for n in fleet.names]),
    )
    window = (judged_at, max(moved.values()))
    inside = [(t, c) for t, c in cpu if window[0] <= t <= window[1]]
    if len(inside) >= 2 and inside[-1][0] > inside[0][0]:
        busy = (inside[-1][1] - inside[0][1]) / (inside[-1][0] - inside[0][0])
        bench.report.add(
            phase,
            "operator CPU from judged to all rescaled",
            f"{100 * busy:.0f}% of a core over {window[1] - window[0]:.0f} s",
        )
    bench.report.add(
        phase, f"workloads reporting {zone} Unhealthy", f"{unhealthy} of {len(fleet.names)}"
    )
    per_workload = writes(delta) / len(fleet.names)
    bench.report.add(
        phase,
        "operator writes (until quiet)",
        f"{writes(delta)} ({per_workload:.1f} per workload)",
        "<= 4 per workload",
        per_workload <= 4,
    )
    kinds = {"status": ("zonalworkloads/status",), "Deployments": ("deployments",)}
    kinds["events"] = ("events",)
    by_kind = {
        what: sum(n for (verb, r), n in delta.items() if r in resources and verb not in READ_VERBS)
        for what, resources in kinds.items()
    }
    bench.report.add(
        phase,
        "... of which status, Deployments, events (per workload)",
        ", ".join(f"{n / len(fleet.names):.1f}" for n in by_kind.values()),
        "status <= 2",
        by_kind["status"] / len(fleet.names) <= 2,
    )
    reconciles = bench.op.reconciles()[0] - reconciles_before
    bench.report.add(
        phase,
        "reconciles per workload (until quiet)",
        f"{reconciles / len(fleet.names):.1f}",
        "<= 10",
        reconciles / len(fleet.names) <= 10,
    )
    bench.report.figures["zone_loss"] = {
        "zone": zone,
        "all_not_ready_after_seconds": round(all_not_ready_at - t_down, 1),
        "judged_after_seconds": round(judged_at - t_down, 1),
        "requested_after_judged_max": round(max(react), 1),
        "moved_after_judged_max": round(max(move), 1),
        "moved_after_judged_p50": round(statistics.median(move), 1),
        "moved_after_nodes_marked_max": round(max(moved[n] - cuttable[n] for n in fleet.names), 1),
        "ready_after_judged_max": round(max(back), 1),
        "writes": writes(delta),
        "writes_by_verb": {f"{v} {r}": n for (v, r), n in sorted(delta.items()) if n},
    }


# -- 4. recovery -----------------------------------------------------------------------------------
def recovery(bench: Harness) -> None:
    fleet, zone, args = bench.fleet, bench.zone, bench.args
    replicas, even = fleet.replicas, fleet.even()
    log(f"recovery: {zone} comes back (failback delay {args.failback_delay_seconds}s)")
    before = bench.op.api_requests()
    t_up = time.time()
    bench.cluster.zone_up(zone)
    lowest = dict.fromkeys(fleet.names, replicas)
    samples = 0
    rebalanced: dict[str, float] = {}
    recovering_since: dict[str, float] = {}
    last_status_poll = 0.0

    def done(_: float) -> bool:
        nonlocal samples, last_status_poll
        now = time.time()
        samples += 1
        for name, zoned in poll_deployments(bench.kube, fleet).items():
            lowest[name] = min(lowest[name], sum(zoned.ready.values()))
            if name not in rebalanced and zoned.desired == even and zoned.ready == even:
                rebalanced[name] = now
        # The per-workload failback clock starts when the workload saw the zone healthy
        # (status healthySince while Recovering): read it until every workload reported it.
        if len(recovering_since) < len(fleet.names) and now - last_status_poll >= 5:
            last_status_poll = now
            for obj in list_workloads(bench.kube):
                entry = zone_entry(obj, zone)
                since = epoch(entry.get("healthySince"))
                if entry.get("health") == "Recovering" and since is not None:
                    recovering_since.setdefault(obj["metadata"]["name"], since)
        log(
            f"  {now - t_up:5.0f}s  seen Recovering {len(recovering_since)}  "
            f"rebalanced {len(rebalanced)} of {len(fleet.names)}"
        )
        return len(rebalanced) == len(fleet.names)

    bench.poll_until(f"every workload back in {zone}", done, args.timeout, args.poll_seconds)
    bench.settle("the recovery")
    delta = bench.op.api_requests() - before
    final = list_workloads(bench.kube)
    healthy = sum(1 for obj in final if zone_entry(obj, zone).get("health") == "Healthy")
    ready = sum(1 for obj in final if ready_and_current(obj))
    readiness = zone_nodes(bench.kube, zone)
    # The zone is healthy again once enough of its nodes are (the operator's rule with the
    # default unhealthyNodePercent 50): the m-th earliest Ready transition.
    needed = len(readiness) - max(1, -(-len(readiness) * 50 // 100)) + 1
    nodes_healthy_at = kth((n.since for n in readiness if n.ready), needed)
    delay = args.failback_delay_seconds
    phase = "recovery"
    if nodes_healthy_at is not None:
        bench.report.add(
            phase,
            f"{zone} healthy again (enough nodes Ready)",
            f"{max(0.0, nodes_healthy_at - t_up):.0f} s after it came back",
        )
    if recovering_since:
        noticed = [recovering_since[n] - (nodes_healthy_at or t_up) for n in recovering_since]
        bench.report.add(
            phase, "nodes healthy -> workload Recovering (healthySince)", spread(noticed)
        )
    due = {n: recovering_since.get(n, nodes_healthy_at or t_up) + delay for n in fleet.names}
    lag = [rebalanced[n] - due[n] for n in fleet.names]
    bench.report.add(
        phase,
        f"failback due (healthySince + {delay} s) -> rebalanced (even, all Ready)",
        spread(lag),
    )
    bench.report.add(
        phase,
        "zone back -> every workload rebalanced",
        f"{max(rebalanced.values()) - t_up:.0f} s",
    )
    dipped = sorted(n for n, low in lowest.items() if low < replicas)
    bench.report.add(
        phase,
        f"lowest Ready replicas of any workload ({samples} samples)",
        f"{min(lowest.values())} (requested {replicas}); {len(dipped)} dipped below",
        f">= {replicas}",
        not dipped,
    )
    bench.report.add(
        phase,
        f"workloads reporting {zone} Healthy and Ready",
        f"{healthy} / {ready} of {len(fleet.names)}",
    )
    bench.report.add(
        phase,
        "operator writes (until quiet)",
        f"{writes(delta)} ({writes(delta) / len(fleet.names):.1f} per workload)",
    )
    bench.report.figures["recovery"] = {
        "healthy_after_seconds": None
        if nodes_healthy_at is None
        else round(nodes_healthy_at - t_up, 1),
        "rebalanced_after_due_max": round(max(lag), 1),
        "rebalanced_after_up_max": round(max(rebalanced.values()) - t_up, 1),
        "lowest_ready": min(lowest.values()),
        "dipped": dipped[:20],
        "samples": samples,
        "writes": writes(delta),
        "writes_by_verb": {f"{v} {r}": n for (v, r), n in sorted(delta.items()) if n},
    }
