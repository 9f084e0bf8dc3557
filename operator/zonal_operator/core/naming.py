"""Names of the per-zone Deployments: ``<workload>-<zone slug>``, always a DNS-1123 label."""

from __future__ import annotations

import hashlib
import re

from zonal_operator.api.workload import MAX_WORKLOAD_NAME_LENGTH

# MAX_WORKLOAD_NAME_LENGTH + "-" + 22 == 63, the DNS-1123 label limit for a Deployment name.
MAX_ZONE_SLUG_LENGTH = 63 - 1 - MAX_WORKLOAD_NAME_LENGTH

__all__ = ["MAX_WORKLOAD_NAME_LENGTH", "MAX_ZONE_SLUG_LENGTH", "deployment_name", "zone_slug"]

_HASH_LENGTH = 5
_NOT_LABEL_CHAR = re.compile(r"[^a-z0-9-]")
# Every hashed slug ends with this pattern, so an unchanged zone value that ends with it is
# hashed too: otherwise the zone value "a-1b2c3" could equal the hashed slug of another zone
# whose prefix is "a" and whose hash starts with 1b2c3. With this rule the unchanged slugs and
# the hashed slugs are disjoint sets, and two hashed slugs collide only if both their prefix and
# 20 bits of sha256 agree.
_HASHED_SUFFIX = re.compile(rf"-[0-9a-f]{{{_HASH_LENGTH}}}\Z")
_DNS1123_SUBDOMAIN = re.compile(
    r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*\Z"
)


def _short_hash(value: str) -> str:
    return hashlib.sha256(value.encode("utf-8")).hexdigest()[:_HASH_LENGTH]


def _with_hash(sanitized: str, original: str, max_length: int) -> str:
    """``<sanitized, cut to fit>-<hash of original>``, at most ``max_length`` characters."""
    prefix = sanitized[: max_length - _HASH_LENGTH - 1].strip("-")
    return f"{prefix or 'z'}-{_short_hash(original)}"


def zone_slug(zone: str) -> str:
    """A DNS-label-safe, short, injective-in-practice form of a zone label value.

    A zone value that already is a short lowercase DNS label maps to itself; any other value
    (uppercase, '.', '_', too long, empty, or looking like a hashed slug) becomes
    ``<sanitized prefix>-<5 hex chars of sha256(zone)>``.
    """
    sanitized = _NOT_LABEL_CHAR.sub("-", zone.lower()).strip("-")
    if (
        sanitized == zone
        and sanitized
        and len(sanitized) <= MAX_ZONE_SLUG_LENGTH
        and not _HASHED_SUFFIX.search(sanitized)
    ):
        return zone
    return _with_hash(sanitized, zone, MAX_ZONE_SLUG_LENGTH)


def deployment_name(workload: str, zone: str) -> str:
    """Name of the Deployment that runs ``workload``'s replicas in ``zone``.

    ``workload`` must be a DNS-1123 subdomain of at most MAX_WORKLOAD_NAME_LENGTH characters.
    Dots are not allowed in a label, so a dotted name becomes ``<name with '-'>-<hash>`` first
    (cut to fit): replacing the dots alone would give "a.b" and "a-b" the same Deployments.
    """
    if len(workload) > MAX_WORKLOAD_NAME_LENGTH:
        raise ValueError(
            f"workload name {workload!r} is longer than {MAX_WORKLOAD_NAME_LENGTH} characters"
        )
    if not _DNS1123_SUBDOMAIN.match(workload):
        raise ValueError(f"workload name {workload!r} is not a DNS-1123 subdomain")
    prefix = workload
    if "." in workload:
        prefix = _with_hash(workload.replace(".", "-"), workload, MAX_WORKLOAD_NAME_LENGTH)
    return f"{prefix}-{zone_slug(zone)}"
