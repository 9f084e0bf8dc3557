"""A de-duplicating work queue with delayed adds and per-key retry backoff, in the manner of
client-go's workqueue: a key is never processed by two workers at once, and a key added while
it is being processed is processed once more afterwards.

Keys wait in one of three lanes, served in order: a lane is served only while the ones before
it are empty. `add_front` puts a key in the front lane (it has something urgent to act on),
`add` in the middle one, `add_deferred` in the last (its status write was deferred until the
others are done). A key added to two lanes waits in the one served first."""

from __future__ import annotations

import asyncio
from collections.abc import Hashable

FRONT, MIDDLE, DEFERRED = 0, 1, 2


class WorkQueue:
    def __init__(self, base_backoff: float = 0.5, max_backoff: float = 300.0) -> None:
        # Insertion-ordered sets: first in, first out, and a key moves lanes in O(1).
        self._lanes: tuple[dict[Hashable, None], ...] = ({}, {}, {})
        self._waiting = asyncio.Semaphore(0)  # one count per waiting key
        self._processing: set[Hashable] = set()
        self._again: dict[Hashable, int] = {}  # added while being processed: to which lane
        self._failures: dict[Hashable, int] = {}
        self._timers: dict[Hashable, asyncio.TimerHandle] = {}
        self._base, self._max = base_backoff, max_backoff

    def __len__(self) -> int:
        return sum(map(len, self._lanes))

    @property
    def urgent(self) -> int:
        """How many keys wait in the front and middle lanes."""
        return len(self._lanes[FRONT]) + len(self._lanes[MIDDLE])

    def add_front(self, key: Hashable) -> None:
        self._put(key, FRONT)

    def add(self, key: Hashable) -> None:
        self._put(key, MIDDLE)

    def add_deferred(self, key: Hashable) -> None:
        self._put(key, DEFERRED)

    def _put(self, key: Hashable, lane: int) -> None:
        if key in self._processing:
            self._again[key] = min(lane, self._again.get(key, lane))
            return
        waits_in = next((i for i, keys in enumerate(self._lanes) if key in keys), None)
        if waits_in is None:
            self._waiting.release()
        elif waits_in <= lane:
            return
        else:
            del self._lanes[waits_in][key]
        self._lanes[lane][key] = None

    def add_after(self, key: Hashable, delay: float) -> None:
        """Add the key after `delay` seconds; an earlier pending delayed add wins."""
        loop = asyncio.get_running_loop()
        timer = self._timers.get(key)
        when = loop.time() + delay
        if timer is not None and not timer.cancelled() and timer.when() <= when:
            return
        if timer is not None:
            timer.cancel()
        self._timers[key] = loop.call_at(when, self._fire, key)

    def _fire(self, key: Hashable) -> None:
        self._timers.pop(key, None)
        self.add(key)

    async def get(self) -> Hashable:
        await self._waiting.acquire()
        lane = next(lane for lane in self._lanes if lane)
        key = next(iter(lane))
        del lane[key]
        self._processing.add(key)
        return key

    def done(self, key: Hashable) -> None:
        self._processing.discard(key)
        lane = self._again.pop(key, None)
        if lane is not None:
            self._put(key, lane)

    def retry(self, key: Hashable) -> float:
        """Schedule the key again after an exponential backoff; returns the delay."""
        failures = self._failures.get(key, 0)
        self._failures[key] = failures + 1
        delay = float(min(self._max, self._base * 2**failures))
        self.add_after(key, delay)
        return delay

    def forget(self, key: Hashable) -> None:
        """The key succeeded: its next failure starts the backoff afresh."""
        self._failures.pop(key, None)
