"""The reflector's bookkeeping: where a watch resumes, what 410 Gone does, what a new list
deletes. Against the real API server it is exercised by tests/e2e/test_reflector.py and by
every other end-to-end test."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from zonal_operator.runtime.watch import Expired, Reflector, Source


def obj(name: str, rv: int, namespace: str = "shop") -> dict[str, Any]:
    return {"metadata": {"name": name, "namespace": namespace, "resourceVersion": str(rv)}}


class Paged(Reflector):
    """A reflector whose lists come from `pages` instead of the API server."""

    def __init__(self, pages: list[dict[str, Any]], **kwargs: Any) -> None:
        self.got: list[tuple[str | None, str]] = []
        super().__init__(
            None,  # type: ignore[arg-type]
            Source("deployments", "/apis/apps/v1/deployments"),
            lambda kind, body: self.got.append((kind, body["metadata"]["name"])),
            **kwargs,
        )
        self.pages = pages
        self.params: list[dict[str, str]] = []

    async def _get(self, params: dict[str, str], verb: str) -> dict[str, Any]:
        self.params.append(dict(params))
        page = self.pages.pop(0)
        if page.get("expired"):
            raise Expired("continue token expired")
        return page


def test_list_delivers_every_page_then_watches_from_the_lists_version() -> None:
    r = Paged(
        [
            {"items": [obj("a", 1), obj("b", 2)], "metadata": {"continue": "t1"}},
            {"items": [obj("c", 3)], "metadata": {"resourceVersion": "10"}},
        ],
        page_size=2,
    )
    asyncio.run(r.list())
    assert r.got == [(None, "a"), (None, "b"), (None, "c")]
    assert [p.get("continue") for p in r.params] == [None, "t1"]
    assert r.params[0]["limit"] == "2"
    assert r.resource_version == "10"


def test_watch_events_are_delivered_and_move_the_resource_version() -> None:
    r = Paged([])
    r.handle({"type": "ADDED", "object": obj("a", 11)})
    r.handle({"type": "MODIFIED", "object": obj("a", 12)})
    r.handle({"type": "BOOKMARK", "object": {"metadata": {"resourceVersion": "20"}}})
    assert r.resource_version == "20"
    r.handle({"type": "DELETED", "object": obj("a", 21)})
    assert r.got == [("ADDED", "a"), ("MODIFIED", "a"), ("DELETED", "a")]
    assert r.resource_version == "21"


def test_expired_watch_raises_so_that_the_collection_is_listed_again() -> None:
    r = Paged([])
    with pytest.raises(Expired):
        r.handle({"type": "ERROR", "object": {"kind": "Status", "code": 410}})
    with pytest.raises(ValueError, match="watch error"):
        r.handle({"type": "ERROR", "object": {"kind": "Status", "code": 500, "message": "x"}})


def test_a_new_list_deletes_what_vanished_while_nobody_watched() -> None:
    r = Paged(
        [
            {"items": [obj("a", 1), obj("b", 2)], "metadata": {"resourceVersion": "5"}},
            {"items": [obj("b", 9)], "metadata": {"resourceVersion": "30"}},
        ]
    )
    asyncio.run(r.list())
    r.handle({"type": "ADDED", "object": obj("c", 6)})
    r.got.clear()
    asyncio.run(r.list())  # after a 410: "a" and "c" were deleted meanwhile
    assert r.got[0] == (None, "b")
    assert sorted(r.got[1:]) == [("DELETED", "a"), ("DELETED", "c")]
    assert r.resource_version == "30"


def test_an_expired_continue_token_starts_the_list_over() -> None:
    r = Paged(
        [
            {"items": [obj("a", 1)], "metadata": {"continue": "t1"}},
            {"expired": True},
            {"items": [obj("a", 1)], "metadata": {"continue": "t2"}},
            {"items": [obj("b", 2)], "metadata": {"resourceVersion": "40"}},
        ]
    )
    asyncio.run(r.list())
    assert [p.get("continue") for p in r.params] == [None, "t1", None, "t2"]
    assert r.resource_version == "40"


def test_objects_of_other_namespaces_are_not_delivered() -> None:
    r = Paged(
        [
            {
                "items": [obj("a", 1), obj("b", 2, "kube-system")],
                "metadata": {"resourceVersion": "3"},
            }
        ],
        accept_namespace=lambda ns: ns != "kube-system",
    )
    asyncio.run(r.list())
    r.handle({"type": "ADDED", "object": obj("c", 4, "kube-system")})
    assert r.got == [(None, "a")]
    assert r.resource_version == "4"  # the stream moved on all the same
