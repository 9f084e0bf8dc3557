"""Which namespaces the operator watches: `--namespace` patterns as kopf reads them (plain
names, globs, `!` to exclude)."""

from __future__ import annotations

import fnmatch
import functools
from collections.abc import Callable, Sequence


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


def watch_scopes(patterns: Sequence[str]) -> tuple[list[str | None], Callable[[str], bool] | None]:
    """The scopes to list and watch (None: cluster-wide) and the filter of their events. Plain
    namespace names are watched one by one; glob patterns (which may match namespaces created
    later) are watched cluster-wide and filtered as kopf filters them."""
    if has_globs(patterns):
        return [None], functools.partial(namespace_selected, tuple(patterns))
    if patterns:
        return list(patterns), None
    return [None], None


def list_scopes(patterns: Sequence[str], namespaces: Callable[[], list[str]]) -> list[str | None]:
    """The scopes to list once: every namespace (None), the plain names, or the namespaces
    that exist now and the globs select."""
    if not patterns:
        return [None]
    if has_globs(patterns):
        return list(select_namespaces(patterns, namespaces()))
    return list(patterns)
