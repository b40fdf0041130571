"""In-process jobs: release scheduled orders when due, and sweep backorders the stock can now fill.

Every instance runs one. Nothing lives in memory between ticks: due orders are found in MongoDB on
every tick, so a restart loses nothing. Several instances may tick at once: an order is leased
before it is worked on (saves duplicate work) and the release itself is a transaction guarded by
status and version, so an order is released exactly once even if a lease expires mid-work.
"""

from __future__ import annotations

import asyncio
import logging
import os
import random
import socket
from dataclasses import dataclass
from datetime import timedelta

from app.domain.clock import utcnow
from app.domain.events import Actor
from app.repositories.orders import OrderRepository
from app.services.backorders import BackorderService
from app.services.order_lifecycle import OrderLifecycleService

log = logging.getLogger("oms.scheduler")

SCHEDULER = Actor.system("scheduler")


@dataclass(frozen=True, slots=True)
class TickReport:
    released: int
    filled: int


class Scheduler:
    def __init__(
        self,
        *,
        orders: OrderRepository,
        lifecycle: OrderLifecycleService,
        backorders: BackorderService,
        interval_seconds: float = 5.0,
        lease_seconds: float = 60.0,
        sweep_every: int = 12,
        max_releases_per_tick: int = 500,
    ):
        self._orders = orders
        self._lifecycle = lifecycle
        self._backorders = backorders
        self._interval = interval_seconds
        self._lease = timedelta(seconds=lease_seconds)
        self._sweep_every = max(1, sweep_every)
        self._max_releases = max_releases_per_tick
        self._owner = f"{socket.gethostname()}:{os.getpid()}:{id(self):x}"
        self._task: asyncio.Task[None] | None = None
        self._ticks = 0

    async def release_due(self) -> int:
        """Releases every scheduled order whose time has come (up to a bound per tick)."""
        released = 0
        for _ in range(self._max_releases):
            now = utcnow()
            claimed = await self._orders.claim_due(now, now + self._lease, self._owner)
            if claimed is None:
                break
            try:
                if await self._lifecycle.release_scheduled(claimed.id, actor=SCHEDULER) is not None:
                    released += 1
            except Exception:  # noqa: BLE001 - one bad order must not stop the others; its lease expires
                log.exception("releasing a scheduled order failed", extra={"order_id": claimed.id})
        return released

    async def tick(self, *, sweep: bool = True) -> TickReport:
        released = await self.release_due()
        filled = await self._backorders.sweep(actor=SCHEDULER) if sweep else 0
        return TickReport(released=released, filled=filled)

    def start(self) -> None:
        if self._interval > 0 and self._task is None:
            self._task = asyncio.create_task(self._run(), name="oms-scheduler")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass
            self._task = None

    async def _run(self) -> None:
        while True:
            # Jitter spreads instances' ticks so they do not all claim at the same instant.
            await asyncio.sleep(self._interval * random.uniform(0.8, 1.2))  # noqa: S311
            self._ticks += 1
            try:
                report = await self.tick(sweep=self._ticks % self._sweep_every == 0)
                if report.released or report.filled:
                    log.info("scheduler tick", extra={"released": report.released, "filled": report.filled})
            except asyncio.CancelledError:
                raise
            except Exception:  # noqa: BLE001 - keep ticking; MongoDB may be failing over
                log.exception("scheduler tick failed")
