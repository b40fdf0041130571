"""Ending a dead process's open transactions within seconds.

A process killed mid-transaction (kill -9, a lost host) leaves the transaction open on the server,
holding its document locks until the server's lifetime limit reaps it (60 s by default): every
write to those documents waits that long, and with them whatever queues behind them. So each API
process beats on its entry in `instances` and names there, once each, the sessions it runs
transactions in. When a process's beat lapses, whichever process notices first ends its sessions
(`killSessions`), which aborts their transactions and frees the locks.

A process that only stalled (a long pause, a database stall that froze every clock-driven write)
must not lose its transactions: it is taken for dead only once its entry has stayed lapsed, with no
new beat, for a further `lease_seconds` of the watcher's own time. After a database stall every
entry lapses at once; the live processes beat again before that confirmation runs out.

Where the database user may not run `killSessions` (it may always end its own user's sessions;
ending another user's needs the killAnySession privilege), the failure is logged and the server's
`transactionLifetimeLimitSeconds` is the bound: set it low (e.g. 5) on such deployments.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Mapping
from typing import Any

from app.repositories.database import Mongo
from app.repositories.instances import InstanceRegistry, LapsedInstance

log = logging.getLogger("oms.instances")


class InstanceWatch:
    def __init__(
        self, mongo: Mongo, registry: InstanceRegistry, *, owner: str, beat_seconds: float = 0.5, lease_seconds: float = 1.5
    ):
        self._mongo = mongo
        self._registry = registry
        self.owner = owner
        self._beat = beat_seconds
        self._lease = lease_seconds
        self._sessions: dict[bytes, Mapping[str, Any]] = {}
        # Lapsed entries seen, with the beat count they had and when they were first seen so.
        self._suspects: dict[str, tuple[int, float]] = {}
        self._task: asyncio.Task[None] | None = None
        self.reaped = 0  # processes whose sessions this one ended (tests, metrics)

    async def track(self, session_id: Mapping[str, Any]) -> None:
        """Called before a session's first transaction: named before it can hold a lock."""
        key = bytes(session_id["id"])
        if key not in self._sessions:
            await self._registry.add_sessions(self.owner, [session_id], self._lease)
            self._sessions[key] = session_id

    async def start(self) -> None:
        await self._registry.beat(self.owner, self._lease)
        self._mongo.session_tracker = self.track
        self._task = asyncio.create_task(self._run(), name="instance-watch")

    async def stop(self) -> None:
        self._mongo.session_tracker = None
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        # Nothing of ours may outlive us: a transaction a cancelled task left open would otherwise
        # hold its locks until the server's limit, with no entry left to tell anyone about it.
        with contextlib.suppress(Exception):
            if self._sessions:
                await self._mongo.kill_sessions(list(self._sessions.values()))
            await self._registry.remove(self.owner)

    async def _run(self) -> None:
        while True:
            try:
                await self.tick()
            except Exception:  # noqa: BLE001 - the database may be away; beat again next time
                log.warning("instance beat failed", exc_info=True)
            await asyncio.sleep(self._beat)

    async def tick(self) -> None:
        if await self._registry.beat(self.owner, self._lease) and self._sessions:
            # Taken for dead while we were stalled, and our entry removed: name our sessions again.
            await self._registry.add_sessions(self.owner, list(self._sessions.values()), self._lease)
        await self.reap()

    async def reap(self) -> None:
        now = time.monotonic()
        lapsed = {entry.owner: entry for entry in await self._registry.lapsed() if entry.owner != self.owner}
        self._suspects = {owner: seen for owner, seen in self._suspects.items() if owner in lapsed}
        for owner, entry in lapsed.items():
            beats, since = self._suspects.get(owner, (None, now))
            if beats != entry.beats:
                self._suspects[owner] = (entry.beats, now)
            elif now - since >= self._lease:
                await self._end(entry)
                self._suspects.pop(owner, None)

    async def _end(self, entry: LapsedInstance) -> None:
        if entry.sessions:
            try:
                await self._mongo.kill_sessions(list(entry.sessions))
            except Exception:  # noqa: BLE001 - e.g. not authorized: the server's lifetime limit applies
                log.warning("could not end a lapsed process's sessions", exc_info=True, extra={"instance": entry.owner})
                return
        if await self._registry.forget(entry):
            self.reaped += 1
            log.warning(
                "ended the sessions of a process that stopped beating",
                extra={"instance": entry.owner, "sessions": len(entry.sessions)},
            )
