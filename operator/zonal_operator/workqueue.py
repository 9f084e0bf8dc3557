"""A de-duplicating work queue with delayed adds and per-key retry backoff, in the manner of
client-go's workqueue: a key is never processed by two workers at once, and a key added while
it is being processed is processed once more afterwards."""

from __future__ import annotations

import asyncio
from collections.abc import Hashable


class WorkQueue:
    def __init__(self, base_backoff: float = 0.5, max_backoff: float = 300.0) -> None:
        self._queue: asyncio.Queue[Hashable] = asyncio.Queue()
        self._dirty: set[Hashable] = set()  # waiting in the queue
        self._processing: set[Hashable] = set()
        self._again: set[Hashable] = set()  # added while being processed
        self._failures: dict[Hashable, int] = {}
        self._timers: dict[Hashable, asyncio.TimerHandle] = {}
        self._base, self._max = base_backoff, max_backoff

    def __len__(self) -> int:
        return len(self._dirty)

    def add(self, key: Hashable) -> None:
        if key in self._processing:
            self._again.add(key)
        elif key not in self._dirty:
            self._dirty.add(key)
            self._queue.put_nowait(key)

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
        key = await self._queue.get()
        self._dirty.discard(key)
        self._processing.add(key)
        return key

    def done(self, key: Hashable) -> None:
        self._processing.discard(key)
        if key in self._again:
            self._again.discard(key)
            self.add(key)

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
