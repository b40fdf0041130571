"""Outbound webhooks against a real local receiver: signed, in order per aggregate, retried with
backoff, dead-lettered, replayed, isolated per endpoint, and resumed after a worker restart."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import replace
from typing import Any

import pytest

from app.domain.clock import utcnow
from app.domain.events import Actor, DomainEvent
from app.domain.ids import new_id
from app.domain.principals import Principal, Role
from app.domain.webhooks import DeliveryFilter, DeliveryStatus, EndpointDraft, WebhookDelivery, WebhookOptions
from app.repositories.database import Mongo
from app.repositories.events import EventRepository
from app.services.container import Services, build_services
from app.services.webhook_delivery import WebhookWorker
from app.domain.pagination import PageRequest
from tests.webhook_receiver import Receiver, running_receiver

ADMIN = Principal(subject="admin", role=Role.ADMIN)
FAST = WebhookOptions(
    max_attempts=3,
    backoff_base_seconds=0.05,
    backoff_max_seconds=0.4,
    timeout_seconds=1.0,
    concurrency_per_endpoint=4,
    allow_private_targets=True,
    poll_seconds=0.1,
    lease_seconds=1.0,
)


@pytest.fixture
def services(mongo: Mongo) -> Services:
    return build_services(mongo, scheduler_interval_seconds=0, webhook_options=FAST)


@pytest.fixture
async def relay(services: Services) -> AsyncIterator[None]:
    """The sequencer, stamping what tests append (no fan-out needed here)."""

    async def nowhere(events: list[DomainEvent]) -> None:
        return None

    sequencer = services.sequencer(on_sequenced=nowhere, follow=False, lease_seconds=1.0)
    task = asyncio.create_task(sequencer.run())
    await asyncio.wait_for(sequencer.leading.wait(), 30)
    yield
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    async with running_receiver() as running:
        yield running


@contextlib.asynccontextmanager
async def worker(services: Services, options: WebhookOptions = FAST, owner: str | None = None) -> AsyncIterator[WebhookWorker]:
    running = services.webhook_worker(options=options, owner=owner)
    running.start()
    try:
        await asyncio.wait_for(running.leading.wait(), 30)
        yield running
    finally:
        await running.stop()


async def register(services: Services, receiver: Receiver, path: str = "/hook", types: tuple[str, ...] = ()) -> str:
    endpoint, secret = await services.webhooks.register(ADMIN, EndpointDraft(url=receiver.url(path), event_types=types))
    receiver.secrets[path] = secret
    return endpoint.id


def order_event(order_id: str, kind: str = "OrderStatusChanged", **payload: Any) -> DomainEvent:
    return DomainEvent(
        id=new_id(), type=kind, aggregate_type="Order", aggregate_id=order_id, at=utcnow(),
        actor=Actor.system("test"), payload=payload, order_id=order_id,
    )


async def append(mongo: Mongo, *events: DomainEvent) -> None:
    await EventRepository(mongo.db).append(list(events), session=None)


async def deliveries(services: Services, endpoint_id: str) -> list[WebhookDelivery]:
    page = await services.webhooks.deliveries_page(ADMIN, DeliveryFilter(endpoint_id=endpoint_id), PageRequest(first=100))
    return list(page.items)


async def until(check: Any, *, timeout: float = 60.0) -> None:
    """Waits for an async condition on stored state (deliveries are recorded after the answer)."""
    async with asyncio.timeout(timeout):
        while not await check():
            await asyncio.sleep(0.02)


def in_log_order_per_order(events: list[dict[str, Any]]) -> bool:
    """First receipts of each order's events come in seq order (duplicates allowed: at least once)."""
    seen: dict[str, list[int]] = {}
    firsts: set[str] = set()
    for event in events:
        if event["id"] in firsts:
            continue
        firsts.add(event["id"])
        seen.setdefault(event["aggregateId"], []).append(event["seq"])
    return all(seqs == sorted(seqs) for seqs in seen.values())


async def test_matching_events_arrive_signed_and_in_order_per_aggregate(
    services: Services, mongo: Mongo, relay: None, receiver: Receiver
) -> None:
    endpoint_id = await register(services, receiver, types=("OrderStatusChanged", "OrderCaptured"))
    orders = [new_id() for _ in range(3)]
    async with worker(services):
        for step in range(5):
            await append(mongo, *(order_event(o, "OrderCaptured" if step == 0 else "OrderStatusChanged", step=step) for o in orders))
        await append(mongo, order_event(orders[0], "OrderHeld"))  # not selected
        await receiver.wait_for(lambda r: len(r.received) >= 15)
        await until(lambda: _all_delivered(services, endpoint_id, 15))

    events = receiver.events()
    assert len(events) == 15 and all(r.verified for r in receiver.received)
    assert {e["type"] for e in events} == {"OrderCaptured", "OrderStatusChanged"}
    assert in_log_order_per_order(events)
    for order_id in orders:
        assert [e["payload"]["step"] for e in events if e["aggregateId"] == order_id] == [0, 1, 2, 3, 4]
    headers = receiver.received[0].headers
    assert headers["x-oms-event-type"] == events[0]["type"] and headers["x-oms-event-seq"] == str(events[0]["seq"])
    stored = await deliveries(services, endpoint_id)
    assert {(d.status, d.attempts, d.response_code) for d in stored} == {(DeliveryStatus.DELIVERED, 1, 200)}
    assert all(d.latency_ms is not None and d.last_error is None for d in stored)


async def _all_delivered(services: Services, endpoint_id: str, count: int) -> bool:
    found = await deliveries(services, endpoint_id)
    return len(found) == count and all(d.status is DeliveryStatus.DELIVERED for d in found)


async def test_a_failing_receiver_is_retried_with_backoff_dead_lettered_then_replayed(
    services: Services, mongo: Mongo, relay: None, receiver: Receiver
) -> None:
    endpoint_id = await register(services, receiver)
    order_id = new_id()
    receiver.status = 500
    async with worker(services):
        await append(mongo, order_event(order_id, step=1))
        await until(lambda: _statuses(services, endpoint_id, [DeliveryStatus.DEAD]))
        [dead] = await deliveries(services, endpoint_id)
        assert dead.attempts == 3 and dead.response_code == 500 and dead.last_error == "HTTP 500"
        assert [a.response_code for a in dead.log] == [500, 500, 500]
        gaps = [(b.at - a.at).total_seconds() for a, b in zip(dead.log, dead.log[1:])]
        # 0.05 × 2^(n-1) with at most half taken off by jitter: ≥ 0.025 s, then ≥ 0.05 s.
        assert gaps[0] >= 0.025 and gaps[1] >= 0.05, gaps

        # The order's next event is not held back by the dead one; the receiver has recovered.
        receiver.status = 200
        await append(mongo, order_event(order_id, step=2))
        await receiver.wait_for(lambda r: len(r.received) == 1)
        assert receiver.events()[0]["payload"]["step"] == 2

        endpoint, replayed = await services.webhooks.replay(ADMIN, delivery_id=dead.id, reason="receiver fixed")
        assert replayed == 1 and endpoint.id == endpoint_id
        await receiver.wait_for(lambda r: len(r.received) == 2)
        await until(lambda: _statuses(services, endpoint_id, [DeliveryStatus.DELIVERED, DeliveryStatus.DELIVERED]))
    assert receiver.events()[1]["payload"]["step"] == 1
    revived = next(d for d in await deliveries(services, endpoint_id) if d.id == dead.id)
    assert revived.attempts == 1 and len(revived.log) == 4 and revived.delivered_at is not None
    audit = await mongo.db.events.find_one({"type": "WebhookDeliveriesReplayed"})
    assert audit["payload"] == {"deliveryId": dead.id, "count": 1} and audit["reason"] == "receiver fixed"


async def _statuses(services: Services, endpoint_id: str, expected: list[DeliveryStatus]) -> bool:
    return sorted(d.status for d in await deliveries(services, endpoint_id)) == sorted(expected)


async def test_a_receiver_that_times_out_is_retried_until_it_recovers(
    services: Services, mongo: Mongo, relay: None, receiver: Receiver
) -> None:
    endpoint_id = await register(services, receiver)
    receiver.hold = True
    options = replace(FAST, max_attempts=20, timeout_seconds=0.3)
    async with worker(services, options):
        await append(mongo, order_event(new_id(), step=1))
        await receiver.wait_for(lambda r: r.attempts >= 2)
        [waiting] = await deliveries(services, endpoint_id)
        assert waiting.status in (DeliveryStatus.RETRYING, DeliveryStatus.PENDING)
        await until(lambda: _first_error(services, endpoint_id))
        receiver.release()
        await receiver.wait_for(lambda r: len(r.received) >= 1)
        await until(lambda: _statuses(services, endpoint_id, [DeliveryStatus.DELIVERED]))
    [done] = await deliveries(services, endpoint_id)
    assert done.log[0].error == "timed out after 0.3 s" and done.log[0].response_code is None
    assert done.log[-1].response_code == 200
    nonces = [r.nonce for r in receiver.received]
    assert len(nonces) == len(set(nonces)), "every attempt is signed with a fresh nonce"


async def _first_error(services: Services, endpoint_id: str) -> bool:
    found = await deliveries(services, endpoint_id)
    return bool(found and found[0].log)


async def test_a_slow_endpoint_does_not_stall_another(services: Services, mongo: Mongo, relay: None, receiver: Receiver) -> None:
    slow_id = await register(services, receiver, "/slow")
    await register(services, receiver, "/fast")
    receiver.hold_paths = {"/slow"}  # answers nothing until released, well within the 30 s deadline
    async with worker(services, replace(FAST, timeout_seconds=30.0)):
        await append(mongo, *(order_event(new_id(), step=i) for i in range(10)))
        await receiver.wait_for(lambda r: len(r.events("/fast")) == 10)
        assert receiver.events("/slow") == []
        assert all(d.status is DeliveryStatus.PENDING for d in await deliveries(services, slow_id))
        receiver.release()
        await receiver.wait_for(lambda r: len(r.events("/slow")) == 10)


async def test_a_worker_restart_mid_stream_loses_nothing(services: Services, mongo: Mongo, relay: None, receiver: Receiver) -> None:
    endpoint_id = await register(services, receiver)
    orders = [new_id() for _ in range(5)]
    async with worker(services, owner="first"):
        for step in range(10):
            await append(mongo, *(order_event(o, step=step) for o in orders))
        await receiver.wait_for(lambda r: len(r.received) >= 10)
    # The first worker stopped mid-stream (its lease released); more happens before the next starts.
    for step in range(10, 20):
        await append(mongo, *(order_event(o, step=step) for o in orders))
    async with worker(services, owner="second"):
        await receiver.wait_for(lambda r: len({e["id"] for e in r.events()}) == 100)
        await until(lambda: _all_delivered(services, endpoint_id, 100))
    events = receiver.events()
    assert in_log_order_per_order(events)
    assert len(events) - 100 <= FAST.concurrency_per_endpoint, "only requests in flight at the stop are sent twice"
    for order_id in orders:
        firsts = list(dict.fromkeys(e["payload"]["step"] for e in events if e["aggregateId"] == order_id))
        assert firsts == list(range(20))


async def test_a_range_replay_sends_an_endpoints_events_again(services: Services, mongo: Mongo, relay: None, receiver: Receiver) -> None:
    endpoint_id = await register(services, receiver, types=("OrderStatusChanged",))
    start = (await services.webhooks.endpoint(ADMIN, endpoint_id)).cursor  # type: ignore[union-attr]
    order_id = new_id()
    async with worker(services):
        await append(mongo, *(order_event(order_id, step=i) for i in range(4)), order_event(order_id, "OrderHeld"))
        await receiver.wait_for(lambda r: len(r.received) == 4)
        await until(lambda: _all_delivered(services, endpoint_id, 4))
        endpoint, replayed = await services.webhooks.replay(ADMIN, endpoint_id=endpoint_id, after=start)
        assert replayed == 4 and endpoint.cursor >= start + 5
        await receiver.wait_for(lambda r: len(r.received) == 8)
    assert [e["payload"]["step"] for e in receiver.events()] == [0, 1, 2, 3, 0, 1, 2, 3]


async def test_a_disabled_endpoint_catches_up_when_enabled(services: Services, mongo: Mongo, relay: None, receiver: Receiver) -> None:
    endpoint_id = await register(services, receiver)
    await services.webhooks.update(ADMIN, endpoint_id, EndpointDraft(enabled=False))
    async with worker(services):
        await append(mongo, *(order_event(new_id(), step=i) for i in range(3)))
        await until(lambda: _relay_caught_up(mongo))
        assert receiver.received == [] and await deliveries(services, endpoint_id) == []
        await services.webhooks.update(ADMIN, endpoint_id, EndpointDraft(enabled=True))
        await receiver.wait_for(lambda r: len(r.received) == 3)


async def _relay_caught_up(mongo: Mongo) -> bool:
    return await mongo.db.events.count_documents({"seq": None}) == 0


async def test_private_targets_are_refused_when_not_allowed(services: Services, mongo: Mongo, relay: None, receiver: Receiver) -> None:
    """Registered while allowed; a worker of a deployment that refuses private targets never connects."""
    endpoint_id = await register(services, receiver)
    async with worker(services, replace(FAST, allow_private_targets=False, max_attempts=1)):
        await append(mongo, order_event(new_id()))
        await until(lambda: _statuses(services, endpoint_id, [DeliveryStatus.DEAD]))
    [dead] = await deliveries(services, endpoint_id)
    assert dead.last_error == "refused target: 127.0.0.1 is a loopback address"
    assert receiver.attempts == 0
