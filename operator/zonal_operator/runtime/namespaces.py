"""Which namespaces the operator watches: `--namespace` patterns as kopf reads them (plain
names, globs, `!` to exclude)."""

from __future__ import annotations

import fnmatch
from collections.abc import Sequence


def has_globs(patterns: Sequence[str]) -> bool:
    return any(set(p) & set("*?[!,") for p in patterns)


def namespace_selected(patterns: Sequence[str], namespace: str) -> bool:
    return bool(select_namespaces(patterns, [namespace]))


def select_namespaces(patterns: Sequence[str], names: Sequence[str]) -> list[str]:
    """The namespaces that `--namespace` patterns select, as kopf reads them: each pattern is a
    comma-separated list of globs, where `!glob` excludes."""
    include: list[str] = []
    exclude: list[str] = []
    for pattern in patterns:
        for part in filter(None, (p.strip() for p in pattern.split(","))):
            (exclude if part.startswith("!") else include).append(part.lstrip("!"))
    return [
        name
        for name in names
        if (not include or any(fnmatch.fnmatchcase(name, g) for g in include))
        and not any(fnmatch.fnmatchcase(name, g) for g in exclude)
    ]
