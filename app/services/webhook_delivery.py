"""The delivery worker: the sequenced event log → every active endpoint, at least once, in order per
aggregate.

One worker per deployment delivers: every process runs a candidate, and the one holding the
`webhooks` lease (the sequencer's leasing, app/repositories/sequencer.py) works; the others retry
the lease. Per endpoint, one task:

1. **Enqueue**: reads the endpoint's matching events after its cursor (up to the relay's last
   stamped seq) and, in one transaction, inserts a delivery per event (unique per endpoint and
   event) and moves the cursor, guarded on its old value. A restart resumes at the stored cursor;
   a deposed leader's scan aborts on the guard. Nothing is skipped and nothing enqueued twice.
2. **Send**: the oldest open delivery of each aggregate (the head), when due, up to
   `concurrency_per_endpoint` at once, never two of one aggregate: events of an order reach the
   receiver in the log's order. A 2xx answer marks it DELIVERED; anything else (an error status,
   a refused connection, the deadline) schedules a retry after exponential backoff with jitter,
   and after `max_attempts` failures it is DEAD and the aggregate's next event goes out.

Each endpoint has its own task, HTTP deadline and concurrency, so a slow or failing receiver delays
only itself. The worker wakes when the relay stamps a batch (a change stream on the relay state)
and at least every `poll_seconds` (retries fall due with the clock). A send whose result was not
recorded (a crash, a lost lease) is sent again by the next leader: at least once.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections.abc import Iterable
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

from app.domain.clock import utcnow
from app.domain.events import DomainEvent
from app.domain.webhooks import (
    ENDPOINT_AGGREGATE,
    DeliveryAttempt,
    OPEN_STATUSES,
    DeliveryStatus,
    WebhookDelivery,
    WebhookEndpoint,
    WebhookOptions,
    after_failure,
    backoff_seconds,
)
from app.repositories.database import Mongo, Session
from app.repositories.events import EventRepository
from app.repositories.sequencer import Lease, LeaseRepository, RelayStateRepository
from app.services.leased_role import LeasedRole
from app.repositories.webhooks import WebhookDeliveryRepository, WebhookEndpointRepository
from app.services.webhook_sender import WebhookSender

log = logging.getLogger("oms.webhooks")

WEBHOOKS_LEASE = "webhooks"
ENQUEUE_BATCH = 500
QUEUE_WINDOW = 500  # open deliveries per endpoint held in memory


class _Superseded(Exception):
    """Another worker moved the endpoint's cursor first."""


class WebhookWorker:
    def __init__(
        self,
        *,
        mongo: Mongo,
        endpoints: WebhookEndpointRepository,
        deliveries: WebhookDeliveryRepository,
        events: EventRepository,
        relay_state: RelayStateRepository,
        leases: LeaseRepository,
        options: WebhookOptions,
        owner: str,
    ):
        self._mongo = mongo
        self._endpoints = endpoints
        self._deliveries = deliveries
        self._events = events
        self._relay_state = relay_state
        self._role = LeasedRole(leases, WEBHOOKS_LEASE, owner, options.lease_seconds)
        self._options = options
        self.owner = owner
        self._task: asyncio.Task[None] | None = None
        self._stamped = asyncio.Event()  # replaced after each wake-up; waiters hold the one they saw
        self.leading = self._role.leading

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self.run(), name="oms-webhooks")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def run(self) -> None:
        """Deliver while holding the lease, else keep trying for it. Runs until cancelled."""
        await self._role.run(self._lead)

    async def _lead(self, lease: Lease) -> None:
        sender = WebhookSender(timeout_seconds=self._options.timeout_seconds, allow_private=self._options.allow_private_targets)
        tasks: dict[str, asyncio.Task[None]] = {}
        keeper = asyncio.create_task(self._role.keep(lease))
        watcher: asyncio.Task[None] | None = None  # only while some endpoint is active: a change stream costs
        try:
            while not keeper.done():
                active = {endpoint.id for endpoint in await self._endpoints.active()}
                for endpoint_id in list(tasks):
                    task = tasks[endpoint_id]
                    if task.done() and not task.cancelled() and task.exception() is not None:
                        log.error("webhook endpoint task failed; restarting it", exc_info=task.exception())
                    if endpoint_id not in active or task.done():
                        await _cancel(tasks.pop(endpoint_id))
                for endpoint_id in active - tasks.keys():
                    tasks[endpoint_id] = asyncio.create_task(self._serve(endpoint_id, sender), name=f"webhook-{endpoint_id}")
                if tasks and (watcher is None or watcher.done()):
                    watcher = asyncio.create_task(self._watch_stamps())
                elif not tasks and watcher is not None:
                    await _cancel(watcher)
                    watcher = None
                await asyncio.wait({keeper}, timeout=self._options.poll_seconds)
            keeper.result()  # raises why the lease was lost
        finally:
            await _cancel_all([*tasks.values(), keeper, *([watcher] if watcher else [])])
            await sender.close()

    async def _watch_stamps(self) -> None:
        """Wakes the endpoint tasks as soon as the relay stamps a batch (the poll is the fallback)."""
        while True:
            try:
                async with self._relay_state.progress() as progress:
                    async for _ in progress:
                        self._wake()
            except asyncio.CancelledError:
                raise
            except Exception:  # noqa: BLE001 - the poll keeps delivering; try the stream again
                log.warning("webhook worker lost the relay's progress stream", exc_info=True)
                await asyncio.sleep(self._options.poll_seconds)

    def _wake(self) -> None:
        stamped, self._stamped = self._stamped, asyncio.Event()
        stamped.set()

    # --- one endpoint ------------------------------------------------------------------------------

    async def _serve(self, endpoint_id: str, sender: WebhookSender) -> None:
        """One endpoint: scan the log into deliveries, and send the heads of its aggregates.

        The endpoint's oldest open deliveries (up to QUEUE_WINDOW, in seq order) are kept in memory
        and reloaded after a scan enqueued something, or every poll (replays, other changes); the
        first of each aggregate in that window is its head, since anything older is in it too."""
        in_flight: dict[asyncio.Task[WebhookDelivery | None], WebhookDelivery] = {}
        queue: dict[str, WebhookDelivery] = {}  # by id, in seq order
        endpoint: WebhookEndpoint | None = None
        read_at = scanned_at = loaded_at = -1.0  # monotonic
        woken = self._stamped
        more = True
        try:
            while True:
                for task in [t for t in in_flight if t.done()]:
                    sent = in_flight.pop(task)
                    queue.pop(sent.id, None)
                    if task.cancelled() or task.exception() is not None:
                        if not task.cancelled():
                            log.error("webhook attempt failed", exc_info=task.exception())
                        loaded_at = -1.0  # unknown outcome: reload
                    elif (still_open := task.result()) is not None:
                        queue[sent.id] = still_open  # a retry, due later
                now = time.monotonic()
                if endpoint is None or now - read_at >= self._options.poll_seconds:
                    endpoint, read_at = await self._endpoints.get(endpoint_id), now
                    if endpoint is None or not endpoint.enabled:
                        return  # deleted or disabled (changes apply within a poll)
                if more or woken.is_set() or now - scanned_at >= self._options.poll_seconds:
                    woken, scanned_at = self._stamped, now
                    cursor = await self._enqueue(endpoint)
                    more = cursor is None or cursor != endpoint.cursor
                    if more and len(queue) < QUEUE_WINDOW:
                        loaded_at = -1.0  # new deliveries may belong in the window
                    endpoint = replace(endpoint, cursor=cursor) if cursor is not None else None
                    if endpoint is None:
                        continue  # another worker moved the cursor: re-read it
                else:
                    more = False
                if now - loaded_at >= self._options.poll_seconds:
                    loaded = await self._deliveries.open_in_order(endpoint.id, limit=QUEUE_WINDOW)
                    queue, loaded_at = {d.id: d for d in loaded}, now
                heads = _heads(
                    queue.values(), busy={d.aggregate for d in in_flight.values()}, now=utcnow(),
                    limit=self._options.concurrency_per_endpoint - len(in_flight),
                )
                found = {e.id: e for e in await self._events.by_ids([d.event_id for d in heads])} if heads else {}
                for delivery in heads:
                    in_flight[asyncio.create_task(self._attempt(endpoint, delivery, found.get(delivery.event_id), sender))] = delivery
                if more:
                    continue  # catch up with the log before waiting
                wake = asyncio.ensure_future(woken.wait())
                try:
                    await asyncio.wait({*in_flight, wake}, timeout=self._options.poll_seconds, return_when=asyncio.FIRST_COMPLETED)
                finally:
                    wake.cancel()  # not awaited: awaiting it could swallow a cancellation meant for this task
        finally:
            await _cancel_all(list(in_flight))

    async def _enqueue(self, endpoint: WebhookEndpoint) -> int | None:
        """Deliveries for the next matching events after the cursor (a batch); the new cursor, or
        None when another worker moved it first."""
        upto = await self._relay_state.last_seq()
        if upto <= endpoint.cursor:
            return endpoint.cursor
        events = await self._events.between(
            endpoint.cursor, upto, endpoint.selection(), limit=ENQUEUE_BATCH, excluded_aggregates=(ENDPOINT_AGGREGATE,)
        )
        new_cursor = events[-1].seq if len(events) == ENQUEUE_BATCH else upto
        assert new_cursor is not None

        async def work(session: Session) -> None:
            await self._deliveries.enqueue(endpoint.id, events, at=utcnow(), session=session)
            if not await self._endpoints.advance_cursor(endpoint.id, from_seq=endpoint.cursor, to_seq=new_cursor, session=session):
                raise _Superseded(endpoint.id)

        try:
            await self._mongo.transaction(work)
        except _Superseded:
            return None
        return new_cursor

    async def _attempt(
        self, endpoint: WebhookEndpoint, delivery: WebhookDelivery, found: DomainEvent | None, sender: WebhookSender
    ) -> WebhookDelivery | None:
        """Sends once and records it; the delivery as it stands now if it stays open, else None."""
        if found is not None:
            attempt = await sender.send(endpoint, delivery, found)
        else:
            attempt = DeliveryAttempt(at=utcnow(), response_code=None, latency_ms=0, error="the event is no longer in the log")
        attempts = delivery.attempts + 1
        if attempt.error is None:
            status = DeliveryStatus.DELIVERED
        elif found is None:
            status = DeliveryStatus.DEAD
        else:
            status = after_failure(attempts, self._options.max_attempts)
        delay = backoff_seconds(
            attempts, base=self._options.backoff_base_seconds, cap=self._options.backoff_max_seconds, jitter=random.random()  # noqa: S311
        )
        next_attempt_at = attempt.at + timedelta(seconds=delay)
        recorded = await self._deliveries.record_attempt(delivery, attempt, status=status, next_attempt_at=next_attempt_at)
        if recorded and status is DeliveryStatus.DEAD:
            log.warning(
                "webhook delivery dead-lettered",
                extra={"endpoint_id": endpoint.id, "delivery_id": delivery.id, "event_seq": delivery.seq, "error": attempt.error},
            )
        if not recorded or status not in OPEN_STATUSES:
            return None  # done, or changed meanwhile (a replay): the next reload shows it
        return replace(delivery, status=status, attempts=attempts, next_attempt_at=next_attempt_at)


def _heads(queue: Iterable[WebhookDelivery], *, busy: set[str], now: datetime, limit: int) -> list[WebhookDelivery]:
    """The first delivery of each aggregate in `queue` (seq order), if due and its aggregate not in flight."""
    heads: list[WebhookDelivery] = []
    seen: set[str] = set()
    for delivery in sorted(queue, key=lambda d: d.seq):
        if len(heads) >= limit:
            break
        if delivery.aggregate in seen:
            continue
        seen.add(delivery.aggregate)
        if delivery.aggregate not in busy and delivery.next_attempt_at <= now:
            heads.append(delivery)
    return heads


async def _cancel(task: asyncio.Future[object] | asyncio.Task[None] | None) -> None:
    """Cancels `task` and waits for it to end, without swallowing a cancellation of the caller."""
    if task is None or task.done():
        return
    task.cancel()
    try:
        await task
    except asyncio.CancelledError:
        current = asyncio.current_task()
        if current is not None and current.cancelling():
            raise


async def _cancel_all(tasks: list[asyncio.Task[Any]]) -> None:
    """For clean-up (also while this task is being cancelled): every task ends before we go on."""
    pending = [task for task in tasks if not task.done()]
    for task in pending:
        task.cancel()
    if pending:
        await asyncio.gather(*pending, return_exceptions=True)
