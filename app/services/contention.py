"""Queueing and quick retries for transactions that would collide on the same documents.

MongoDB does not make a transaction wait for a document another transaction is writing: the later
writer fails with a WriteConflict and retries from scratch. Fifty captures racing for one hot SKU
therefore burn hundreds of aborted attempts. Queueing them per SKU inside the process (KeyedLocks)
turns that storm into an orderly line. Across processes the heads of the lines still collide: the
loser runs again after a short jittered pause (`retry_conflicts`), not after the driver's backoff,
which grows to half a second a try. Both are optimisations only: correctness rests on the
transaction and its guarded updates.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from typing import TypeVar

from app import metrics
from app.domain.errors import Conflict
from app.repositories.database import Mongo, Session, WriteConflict

T = TypeVar("T")

# The longest a capture keeps trying under contention before it gives up with a Conflict. Requests
# end sooner anyway, at their database deadline.
CONTENTION_BUDGET_SECONDS = 30.0
# After a write conflict: short jittered pauses, doubling up to a few milliseconds.
_FIRST_PAUSE_SECONDS = 0.001
_MAX_PAUSE_SECONDS = 0.016


class KeyedLocks:
    def __init__(self) -> None:
        self._locks: dict[str, asyncio.Lock] = {}
        self._users: dict[str, int] = {}

    @contextlib.asynccontextmanager
    async def hold(self, keys: Iterable[str]) -> AsyncIterator[None]:
        """Holds every key's lock, taken in sorted order so two holders cannot deadlock."""
        ordered = sorted(set(keys))
        for key in ordered:
            self._users[key] = self._users.get(key, 0) + 1
            self._locks.setdefault(key, asyncio.Lock())
        taken: list[asyncio.Lock] = []
        queued: float | None = None
        try:
            for key in ordered:
                lock = self._locks[key]
                if lock.locked():
                    metrics.CONTENTION_WAITS.inc()
                    queued = queued or time.perf_counter()
                await lock.acquire()
                taken.append(lock)
            if queued is not None:
                metrics.CONTENTION_WAIT.observe(time.perf_counter() - queued)
            yield
        finally:
            for lock in reversed(taken):
                lock.release()
            for key in ordered:
                self._users[key] -= 1
                if self._users[key] == 0:  # forget idle keys: the map stays as small as the current contention
                    del self._users[key]
                    del self._locks[key]


async def retry_conflicts(mongo: Mongo, work: Callable[[Session], Awaitable[T]]) -> T:
    """`work` in a transaction; after a write conflict, again in a new one after a pause of a few
    milliseconds (the other writer usually commits within that)."""
    started = time.monotonic()
    pause = _FIRST_PAUSE_SECONDS
    attempts = 0
    while True:
        attempts += 1
        try:
            result = await mongo.transaction(work, raise_conflicts=True)
        except WriteConflict:
            pass
        else:
            metrics.CAPTURE_ATTEMPTS.observe(attempts)
            metrics.CAPTURE_TRANSACTION.observe(time.monotonic() - started)
            return result
        if time.monotonic() - started > CONTENTION_BUDGET_SECONDS:
            raise Conflict("the order could not be captured under contention; retry it (it is idempotent)")
        await asyncio.sleep(random.uniform(0, pause))  # noqa: S311
        pause = min(pause * 2, _MAX_PAUSE_SECONDS)
