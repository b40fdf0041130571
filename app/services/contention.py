"""In-process queueing for transactions that would collide on the same documents.

MongoDB does not make a transaction wait for a document another transaction is writing: the later
writer fails with a WriteConflict and retries from scratch. Fifty captures racing for one hot SKU
therefore burn hundreds of aborted attempts. Queueing them per SKU inside the process turns that
storm into an orderly line. This is an optimisation only: correctness rests on the transaction and
its guarded updates, and contenders in other processes still meet as write conflicts (retried with
jittered backoff).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Iterable

from app import metrics


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
        try:
            for key in ordered:
                lock = self._locks[key]
                if lock.locked():
                    metrics.CONTENTION_WAITS.inc()
                await lock.acquire()
                taken.append(lock)
            yield
        finally:
            for lock in reversed(taken):
                lock.release()
            for key in ordered:
                self._users[key] -= 1
                if self._users[key] == 0:  # forget idle keys: the map stays as small as the current contention
                    del self._users[key]
                    del self._locks[key]
