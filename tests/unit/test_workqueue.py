"""The de-duplicating work queue (workqueue.py), driven with asyncio.run."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Coroutine, Hashable
from typing import Any

from zonal_operator.runtime.workqueue import WorkQueue

SHORT = 0.05  # long enough for a ready item to arrive, short enough to keep the suite fast


def run(coro: Coroutine[Any, Any, None]) -> None:
    asyncio.run(asyncio.wait_for(coro, timeout=5))


async def next_or_none(queue: WorkQueue, timeout: float = SHORT) -> Hashable | None:
    try:
        return await asyncio.wait_for(queue.get(), timeout)
    except TimeoutError:
        return None


def test_adds_of_a_waiting_key_are_merged() -> None:
    async def scenario() -> None:
        q = WorkQueue()
        for key in ["a", "b", "a", "a", "c", "b"]:
            q.add(key)
        assert len(q) == 3
        got = [await q.get() for _ in range(3)]
        assert got == ["a", "b", "c"]  # first-come order
        assert len(q) == 0
        assert await next_or_none(q) is None

    run(scenario())


def test_tuple_keys() -> None:
    async def scenario() -> None:
        q = WorkQueue()
        q.add(("ns", "web"))
        q.add(("ns", "web"))
        q.add(("other", "web"))
        assert len(q) == 2
        assert await q.get() == ("ns", "web")

    run(scenario())


def test_a_key_added_while_processing_runs_once_more_after_done() -> None:
    async def scenario() -> None:
        q = WorkQueue()
        q.add("a")
        assert await q.get() == "a"
        q.add("a")
        q.add("a")
        # Never handed to a second worker while the first still has it.
        assert len(q) == 0
        assert await next_or_none(q) is None
        q.done("a")
        assert len(q) == 1
        assert await q.get() == "a"
        q.done("a")
        # Processed exactly once more.
        assert await next_or_none(q) is None

    run(scenario())


def test_done_without_readd_does_not_requeue() -> None:
    async def scenario() -> None:
        q = WorkQueue()
        q.add("a")
        assert await q.get() == "a"
        q.done("a")
        assert len(q) == 0
        assert await next_or_none(q) is None
        q.add("a")  # and the key can be added again normally
        assert await q.get() == "a"

    run(scenario())


def test_two_workers_never_hold_the_same_key() -> None:
    async def scenario() -> None:
        q = WorkQueue()
        holding: set[Hashable] = set()
        processed: list[Hashable] = []
        overlaps: list[Hashable] = []

        async def worker() -> None:
            while True:
                key = await q.get()
                if key in holding:
                    overlaps.append(key)
                holding.add(key)
                await asyncio.sleep(0.005)
                if len(processed) < 6:
                    q.add(key)  # an event for the same key during processing
                processed.append(key)
                holding.discard(key)
                q.done(key)

        workers = [asyncio.create_task(worker()) for _ in range(3)]
        q.add("a")
        q.add("b")
        await asyncio.sleep(0.15)
        for task in workers:
            task.cancel()
        await asyncio.gather(*workers, return_exceptions=True)
        assert overlaps == []
        assert processed.count("a") >= 2 and processed.count("b") >= 2

    run(scenario())


def test_add_after_fires() -> None:
    async def scenario() -> None:
        q = WorkQueue()
        loop = asyncio.get_running_loop()
        start = loop.time()
        q.add_after("a", 0.03)
        assert len(q) == 0
        assert await q.get() == "a"
        assert loop.time() - start >= 0.025

    run(scenario())


def test_earlier_add_after_wins() -> None:
    async def scenario() -> None:
        q = WorkQueue()
        loop = asyncio.get_running_loop()
        start = loop.time()
        q.add_after("a", 2.0)
        q.add_after("a", 0.02)  # earlier: replaces the pending one
        assert await next_or_none(q, 0.5) == "a"
        assert loop.time() - start < 1.0
        q.done("a")
        q.add_after("b", 0.02)
        q.add_after("b", 2.0)  # later: ignored, the earlier one stands
        assert await next_or_none(q, 0.5) == "b"
        q.done("b")
        # The replaced or ignored timers do not fire a second time.
        assert await next_or_none(q, 0.1) is None

    run(scenario())


def test_add_after_while_waiting_is_merged() -> None:
    async def scenario() -> None:
        q = WorkQueue()
        q.add("a")
        q.add_after("a", 0.01)
        await asyncio.sleep(0.03)
        assert len(q) == 1
        assert await q.get() == "a"
        assert await next_or_none(q) is None

    run(scenario())


def test_add_after_fires_during_processing_runs_after_done() -> None:
    async def scenario() -> None:
        q = WorkQueue()
        q.add("a")
        assert await q.get() == "a"
        q.add_after("a", 0.01)
        await asyncio.sleep(0.03)
        assert await next_or_none(q, 0.01) is None
        q.done("a")
        assert await q.get() == "a"

    run(scenario())


def test_retry_backoff_grows_caps_and_forget_resets() -> None:
    async def scenario() -> None:
        q = WorkQueue(base_backoff=0.01, max_backoff=0.05)
        delays = [q.retry("a") for _ in range(5)]
        assert delays == [0.01, 0.02, 0.04, 0.05, 0.05]
        # Failures are counted per key.
        assert q.retry("b") == 0.01
        q.forget("a")
        assert q.retry("a") == 0.01
        assert q.retry("a") == 0.02
        q.forget("never-seen")  # harmless
        # The retries did schedule the keys.
        got = {await next_or_none(q, 0.5), await next_or_none(q, 0.5)}
        assert got == {"a", "b"}

    run(scenario())


def test_default_backoff() -> None:
    async def scenario() -> None:
        q = WorkQueue()
        delays = [q.retry("a") for _ in range(12)]
        assert delays[:4] == [0.5, 1.0, 2.0, 4.0]
        assert delays[-1] == 300.0
        assert all(b >= a for a, b in itertools.pairwise(delays))

    run(scenario())


def test_a_lane_is_served_only_while_the_ones_before_it_are_empty() -> None:
    async def scenario() -> None:
        q = WorkQueue()
        q.add_deferred("x")
        q.add("a")
        q.add_deferred("y")
        q.add("b")
        q.add_front("f")
        assert (len(q), q.urgent) == (5, 3)
        assert [await q.get() for _ in range(2)] == ["f", "a"]
        q.add_front("g")  # arrives while the middle lane waits: goes before it
        q.add("c")  # and this one before the last lane
        assert [await q.get() for _ in range(5)] == ["g", "b", "c", "x", "y"]
        assert await next_or_none(q) is None

    run(scenario())


def test_a_key_is_in_one_lane_and_the_one_served_first_wins() -> None:
    async def scenario() -> None:
        q = WorkQueue()
        q.add_deferred("a")
        q.add("a")  # moves to the middle lane
        q.add_deferred("a")  # stays there
        q.add_deferred("b")
        assert (len(q), q.urgent) == (2, 1)
        q.add("c")
        q.add_front("c")  # moves to the front lane, ahead of "a"
        q.add("c")  # stays there
        assert (len(q), q.urgent) == (3, 2)
        assert [await q.get() for _ in range(3)] == ["c", "a", "b"]
        assert await next_or_none(q) is None

    run(scenario())


def test_a_key_added_while_processing_goes_to_the_lane_served_first_after_done() -> None:
    async def scenario() -> None:
        q = WorkQueue()
        q.add("a")
        assert await q.get() == "a"
        q.add_deferred("a")
        q.add("b")
        q.done("a")
        assert (len(q), q.urgent) == (2, 1)
        assert [await q.get() for _ in range(2)] == ["b", "a"]
        q.add("a")  # both while processing: the middle lane wins
        q.add_deferred("a")
        q.add("b")
        q.add_front("b")  # and here the front lane
        q.done("a")
        q.add("c")
        q.done("b")
        assert (len(q), q.urgent) == (3, 3)
        assert [await q.get() for _ in range(3)] == ["b", "a", "c"]

    run(scenario())
