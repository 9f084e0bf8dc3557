"""A de-duplicating work queue with delayed adds and per-key retry backoff, in the manner of
client-go's workqueue: a key is never processed by two workers at once, and a key added while
it is being processed is processed once more afterwards.

Keys wait in one of two lanes. `add` puts a key in the first lane; `add_later` in the second,
which is served only while the first is empty. A key in both is in the first."""

from __future__ import annotations

import asyncio
from collections.abc import Hashable


class WorkQueue:
    def __init__(self, base_backoff: float = 0.5, max_backoff: float = 300.0) -> None:
        # Insertion-ordered sets: first in, first out, and a key moves lanes in O(1).
        self._first: dict[Hashable, None] = {}
        self._later: dict[Hashable, None] = {}
        self._waiting = asyncio.Semaphore(0)  # one count per key in either lane
        self._processing: set[Hashable] = set()
        self._again: dict[Hashable, bool] = {}  # added while being processed: to the first lane?
        self._failures: dict[Hashable, int] = {}
        self._timers: dict[Hashable, asyncio.TimerHandle] = {}
        self._base, self._max = base_backoff, max_backoff

    def __len__(self) -> int:
        return len(self._first) + len(self._later)

    @property
    def urgent(self) -> int:
        """How many keys wait in the first lane."""
        return len(self._first)

    def add(self, key: Hashable) -> None:
        if key in self._processing:
            self._again[key] = True
        elif key in self._later:
            del self._later[key]
            self._first[key] = None
        elif key not in self._first:
            self._first[key] = None
            self._waiting.release()

    def add_later(self, key: Hashable) -> None:
        """Add the key to the second lane, unless it waits in the first already."""
        if key in self._processing:
            self._again.setdefault(key, False)
        elif key not in self._first and key not in self._later:
            self._later[key] = None
            self._waiting.release()

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
        lane = self._first or self._later
        key = next(iter(lane))
        del lane[key]
        self._processing.add(key)
        return key

    def done(self, key: Hashable) -> None:
        self._processing.discard(key)
        first = self._again.pop(key, None)
        if first is not None:
            (self.add if first else self.add_later)(key)

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
