"""The `dashboard` subscription: one computation per tick for every subscriber of the process."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncGenerator

from app import metrics
from app.domain.dashboard import DashboardFigures
from app.domain.errors import DomainError, Unauthenticated
from app.services.dashboard import DashboardService
from graphql_schema.context import Info
from graphql_schema.types.dashboard import Dashboard
from subscriptions.hub import EventHub
from subscriptions.stream import SendLimit, as_graphql_error

log = logging.getLogger("oms.dashboard")

# After an event, wait this long for more before recomputing: a burst costs one computation.
DEBOUNCE_SECONDS = 0.25


class DashboardFeed:
    """Recomputes the figures every `interval` seconds and soon after events, while anyone listens.

    Each subscriber has a one-slot mailbox holding the latest figures: a slow client skips stale
    figures instead of queueing them, and never delays the others.
    """

    def __init__(self, service: DashboardService, hub: EventHub, *, interval: float):
        self._service = service
        self._hub = hub
        self._interval = interval
        self._mailboxes: set[asyncio.Queue[DashboardFigures]] = set()
        self._changed = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._latest: DashboardFigures | None = None
        self.computations = 0

    @contextlib.asynccontextmanager
    async def subscribe(self) -> AsyncGenerator[asyncio.Queue[DashboardFigures], None]:
        mailbox: asyncio.Queue[DashboardFigures] = asyncio.Queue(maxsize=1)
        self._mailboxes.add(mailbox)
        if self._latest is not None:
            mailbox.put_nowait(self._latest)
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._run(), name="dashboard")
        try:
            yield mailbox
        finally:
            self._mailboxes.discard(mailbox)

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _run(self) -> None:
        unsubscribe = self._hub.on_activity(self._changed.set)
        try:
            while self._mailboxes:
                try:
                    figures = await self._service.figures()
                    self.computations += 1
                    self._latest = figures
                    for mailbox in list(self._mailboxes):
                        if mailbox.full():
                            mailbox.get_nowait()
                        mailbox.put_nowait(figures)
                except Exception:  # noqa: BLE001 - keep the cadence; the next tick retries
                    log.exception("dashboard computation failed")
                self._changed.clear()
                with contextlib.suppress(asyncio.TimeoutError):
                    await asyncio.wait_for(self._changed.wait(), timeout=self._interval)
                    await asyncio.sleep(DEBOUNCE_SECONDS)
        finally:
            unsubscribe()
            self._latest = None


async def dashboard(info: Info) -> AsyncGenerator[Dashboard, None]:
    context = info.context
    try:
        if context.principal is None:
            raise Unauthenticated("Authentication required: send a credential in connection_init.")
        context.services.dashboard.authorize(context.principal)
    except DomainError as exc:
        raise as_graphql_error(exc) from None
    if context.realtime is None:
        return
    send_limit = SendLimit.of(context)
    active = metrics.SUBSCRIPTIONS.labels(info.field_name)
    active.inc()
    try:
        async with context.realtime.dashboard.subscribe() as mailbox:
            while True:
                figures = await mailbox.get()
                if send_limit is not None:
                    await send_limit.room()  # a client that stopped reading costs one mailbox
                while not mailbox.empty():  # newer figures arrived while the client caught up
                    figures = mailbox.get_nowait()
                yield Dashboard.from_domain(figures)
    finally:
        active.dec()
