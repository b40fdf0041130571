"""In-process jobs: release scheduled orders when due, sweep backorders the stock can now fill,
complete refunds left PENDING (the provider was asked, but the refund was never settled), and mark
customer service cases whose SLA targets passed unmet.

Every instance runs one. Nothing lives in memory between ticks: due orders are found in MongoDB on
every tick, so a restart loses nothing. Several instances may tick at once: an order is leased
before it is worked on (saves duplicate work) and the release itself is a transaction guarded by
status and version, so an order is released exactly once even if a lease expires mid-work.
Refunds are leased the same way; settling one is guarded on PENDING, and the provider is asked
again with the same idempotency key, so a refund is paid and recorded once. Cases too: marking a
breach is guarded on it being unmarked, so `CaseSlaBreached` is emitted once per breach.
"""

from __future__ import annotations

import asyncio
import logging
import os
import random
import socket
from dataclasses import dataclass
from datetime import timedelta

from app import metrics
from app.domain.clock import utcnow
from app.domain.cases import SlaKind
from app.domain.events import Actor
from app.repositories.cases import CaseRepository
from app.repositories.orders import OrderRepository
from app.repositories.refunds import RefundRepository
from app.services.backorders import BackorderService
from app.services.case_sla import CaseSla
from app.services.cases import CaseService
from app.services.order_lifecycle import OrderLifecycleService
from app.services.refunds import PENDING_GRACE, RefundService

log = logging.getLogger("oms.scheduler")

SCHEDULER = Actor.system("scheduler")


@dataclass(frozen=True, slots=True)
class TickReport:
    released: int
    filled: int
    refunds_completed: int = 0
    sla_breaches: int = 0


class Scheduler:
    def __init__(
        self,
        *,
        orders: OrderRepository,
        lifecycle: OrderLifecycleService,
        backorders: BackorderService,
        refunds: RefundService | None = None,
        refund_records: RefundRepository | None = None,
        case_sla: CaseSla | None = None,
        case_records: CaseRepository | None = None,
        cases: CaseService | None = None,
        interval_seconds: float = 5.0,
        lease_seconds: float = 60.0,
        sweep_every: int = 12,
        max_releases_per_tick: int = 500,
    ):
        self._orders = orders
        self._lifecycle = lifecycle
        self._backorders = backorders
        self._refunds = refunds
        self._refund_records = refund_records
        self._case_sla = case_sla
        self._case_records = case_records
        self._cases = cases
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

    async def complete_refunds(self) -> int:
        """Completes refunds PENDING for longer than PENDING_GRACE (up to a bound per tick)."""
        if self._refunds is None or self._refund_records is None:
            return 0
        completed = 0
        for _ in range(self._max_releases):
            now = utcnow()
            claimed = await self._refund_records.claim_pending(now - PENDING_GRACE, now, now + self._lease, self._owner)
            if claimed is None:
                break
            try:
                if await self._refunds.complete_pending(claimed.id, actor=SCHEDULER) is not None:
                    completed += 1
            except Exception:  # noqa: BLE001 - one refund must not stop the others; its lease expires
                log.exception("completing a pending refund failed", extra={"refund_id": claimed.id})
        return completed

    async def mark_sla_breaches(self) -> int:
        """Marks every case whose first-response or resolution target passed unmet (up to a bound per tick)."""
        if self._case_sla is None or self._case_records is None:
            return 0
        marked = 0
        for kind in SlaKind:
            for _ in range(self._max_releases):
                now = utcnow()
                claimed = await self._case_records.claim_breach(kind, now, now + self._lease, self._owner)
                if claimed is None:
                    break
                try:
                    if await self._case_sla.mark_breach(claimed.id, kind, actor=SCHEDULER):
                        marked += 1
                except Exception:  # noqa: BLE001 - one case must not stop the others; its lease expires
                    log.exception("marking an SLA breach failed", extra={"case_id": claimed.id})
                    continue
                # Done with it: its other target may fall due while this lease would still hold it.
                await self._case_records.release_lease(claimed.id, self._owner)
        return marked

    async def log_pending_claims(self) -> int:
        """Logs the events of case claims whose claimer died before logging them (older than a lease)."""
        if self._cases is None:
            return 0
        return await self._cases.log_pending_claims(utcnow() - self._lease / 4)

    async def tick(self, *, sweep: bool = True) -> TickReport:
        released = await self.release_due()
        refunds_completed = await self.complete_refunds()
        sla_breaches = await self.mark_sla_breaches()
        await self.log_pending_claims()
        filled = await self._backorders.sweep(actor=SCHEDULER) if sweep else 0
        for kind, count in (("scheduled_order", released), ("backorder", filled), ("refund", refunds_completed), ("case_sla_breach", sla_breaches)):
            if count:
                metrics.SCHEDULER_RELEASES.labels(kind).inc(count)
        return TickReport(released=released, filled=filled, refunds_completed=refunds_completed, sla_breaches=sla_breaches)

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
                if report.released or report.filled or report.refunds_completed or report.sla_breaches:
                    log.info(
                        "scheduler tick",
                        extra={"released": report.released, "filled": report.filled, "refunds_completed": report.refunds_completed,
                               "sla_breaches": report.sla_breaches},
                    )
            except asyncio.CancelledError:
                raise
            except Exception:  # noqa: BLE001 - keep ticking; MongoDB may be failing over
                metrics.SCHEDULER_FAILURES.inc()
                log.exception("scheduler tick failed")
