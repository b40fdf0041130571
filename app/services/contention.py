"""Queueing for transactions that would collide on the same documents: in the process, and across
processes on SKUs where captures have collided.

MongoDB does not make a transaction wait for a document another transaction is writing: the later
writer fails with a WriteConflict and retries from scratch. Fifty captures racing for one hot SKU
therefore burn hundreds of aborted attempts. Queueing them per SKU inside the process (KeyedLocks)
turns that storm into an orderly line. Across processes, SkuTurns lines up the head of each
process's line (see app/repositories/contention.py): a capture that collided claims the SKU's turn
as its transaction's first write, so a loser fails before reading or planning anything, waits in the
database for the holder's commit rather than backing off for up to half a second, and gets the next
turn, so no process starves behind another's line. Both are optimisations only: correctness rests
on the transaction and its guarded updates.
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
from app.domain.ids import new_id
from app.repositories.contention import NotYourTurn, TurnRepository
from app.repositories.database import Mongo, Session, WriteConflict

T = TypeVar("T")

# A SKU stays hot (its captures claim turns) this long after this process last met a collision on it.
HOT_SECONDS = 10.0
# The longest a capture keeps trying under contention before it gives up with a Conflict. Requests
# end sooner anyway, at their database deadline.
CONTENTION_BUDGET_SECONDS = 30.0
# While another capture is registered as next: short jittered pauses, doubling up to a few milliseconds.
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


class SkuTurns:
    """Turns across processes on hot SKUs, for transactions that reserve their stock."""

    def __init__(self, *, mongo: Mongo, turns: TurnRepository, hot_seconds: float = HOT_SECONDS):
        self._mongo = mongo
        self._turns = turns
        self._hot_seconds = hot_seconds
        self._hot_until: dict[str, float] = {}

    async def transaction(self, skus: Iterable[str], work: Callable[[Session], Awaitable[T]]) -> T:
        """`work` in a transaction that first claims the turn of each of `skus` that is hot here.

        A write conflict or a refused claim makes every one of `skus` hot here and runs `work` again
        in a new transaction: right after the holder's commit when this caller met it at the turn
        (queued in the database), after a short jittered pause otherwise."""
        keys = sorted(set(skus))
        me = new_id()
        started = time.monotonic()
        pause = _FIRST_PAUSE_SECONDS
        in_line = False
        try:
            while True:
                hot = self._hot(keys)
                at_turn = bool(hot)

                async def attempt(session: Session) -> T:
                    nonlocal at_turn
                    at_turn = bool(hot)
                    if hot:
                        await self._turns.claim(session, hot, me)
                        at_turn = False
                    return await work(session)

                try:
                    result = await self._mongo.transaction(attempt, raise_conflicts=True)
                    in_line = False  # the granted claim cleared the registration in the same commit
                    return result
                except (WriteConflict, NotYourTurn):
                    metrics.SKU_TURN_WAITS.inc()
                    self.mark_hot(keys)
                if time.monotonic() - started > CONTENTION_BUDGET_SECONDS:
                    raise Conflict("the order could not be captured under contention; retry it (it is idempotent)")
                if at_turn:  # met the holder at the turn: queue behind it, in the database
                    in_line = await self._turns.wait_in_line(keys, me)
                    if in_line:
                        pause = _FIRST_PAUSE_SECONDS
                        continue
                    if len(keys) > 1:  # someone else is next: hold no place in other lines (no hold-and-wait)
                        await self._turns.leave_line(keys, me)
                # Someone else is next, or the collision came past the turn (a writer that takes no
                # turns, such as a process that has not met this SKU's contention yet).
                await asyncio.sleep(random.uniform(0, pause))  # noqa: S311
                pause = min(pause * 2, _MAX_PAUSE_SECONDS)
        finally:
            if in_line:  # ended without taking the turn (an error, a refusal): let the next one go
                # Best effort: past the request's deadline this fails too, and the lease ends it.
                with contextlib.suppress(Exception):
                    await self._turns.leave_line(keys, me)

    def _hot(self, keys: list[str]) -> list[str]:
        now = time.monotonic()
        hot = [key for key in keys if self._hot_until.get(key, 0.0) > now]
        if len(self._hot_until) > 10_000:  # forget long-cold SKUs: the map stays as small as recent contention
            self._hot_until = {key: until for key, until in self._hot_until.items() if until > now}
        return hot

    def cool(self, skus: Iterable[str]) -> None:
        """Captures of these SKUs stop taking turns (a capture found none of them to reserve: with
        nothing to reserve there is nothing to collide on), until the next collision."""
        for key in skus:
            self._hot_until.pop(key, None)

    def mark_hot(self, skus: Iterable[str]) -> None:
        """Captures of these SKUs take turns from now on, for `hot_seconds` (what a collision does;
        also for a SKU known in advance to be contended, such as a flash sale's)."""
        until = time.monotonic() + self._hot_seconds
        for key in skus:
            self._hot_until[key] = until
