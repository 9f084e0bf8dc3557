"""What each placement says in its zone events and conditions, side by side: the rules that
produce the events and conditions are shared (zones.py, status.py), the words are each
placement's own."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class Wording:
    waiting: str  # what a recovered zone waits for
    # What is done once a zone is Healthy again, from its name and its share (its target).
    returning: Callable[[str, int], str]
    progressing: str  # what goes on while the workload is Progressing
    stable: str  # what holds once it is not
    moved: str  # what of a failed-over zone runs in other zones
    serving: str  # what holds while no zone is failed over


PER_ZONE = Wording(
    waiting="replicas return after the failback delay",
    returning=lambda zone, target: f"Returning {target} replicas to zone {zone}",
    progressing="Deployments are being created, scaled or rolled out",
    stable="Every zone's Deployment has its replicas, up to date",
    moved="Replicas",
    serving="Every zone serves its share",
)
SPREAD = Wording(
    waiting="pods are rebalanced into it after the failback delay",
    returning=lambda zone, target: f"Rebalancing pods into zone {zone}, surge first",
    progressing="The Deployment is being created, scaled, rolled out or rebalanced",
    stable="The Deployment has its replicas, up to date",
    moved="Pods",
    serving="Every zone serves",
)
