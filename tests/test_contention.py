"""Captures in different processes on one hot SKU: they collide in MongoDB, retry, never oversell,
and every one finishes. Two service containers share the database but not their in-process queues,
which is what two server processes are to each other."""

from __future__ import annotations

import asyncio

import pytest

from app import metrics
from app.domain.inventory import InsufficientStock
from app.domain.principals import SYSTEM
from app.repositories.database import Mongo
from app.services.container import Services, build_services
from tests.factories import World
from tests.order_helpers import capture_input, capture_request, network, reserved

pytestmark = pytest.mark.usefixtures("reservations_consistent")

HOT = {"sku": "SKU-HOT", "quantity": 1}  # 10 units in the whole network (DC-CHI)


def _attempts() -> tuple[float, float]:
    """Captures that committed, and the transactions they ran (from the attempts histogram)."""
    samples = {s.name: s.value for s in metrics.CAPTURE_ATTEMPTS.collect()[0].samples}
    return samples["oms_capture_transaction_attempts_count"], samples["oms_capture_transaction_attempts_sum"]


async def test_two_processes_on_one_hot_sku_never_oversell_and_every_capture_finishes(
    world: World, services: Services, mongo: Mongo
) -> None:
    await network(world)
    other = build_services(mongo, scheduler_interval_seconds=0)
    conflicts, (captures, attempts) = metrics.TRANSACTION_CONFLICTS._value.get(), _attempts()
    requests = [
        capture_request(capture_input(f"W-{i}", lines=[HOT, {"sku": "SKU-1", "quantity": 1}], customer={"email": f"c{i}@example.com"}))
        for i in range(40)
    ]
    results = await asyncio.gather(*[(services if i % 2 else other).order_capture.capture(SYSTEM, r) for i, r in enumerate(requests)])
    assert sorted(r.order.status.value for r in results) == ["ALLOCATED"] * 10 + ["PARTIALLY_ALLOCATED"] * 30
    assert sum(a.quantity for r in results for a in r.order.open_allocations if a.sku == "SKU-HOT") == 10
    assert (await reserved(world))["SKU-HOT@DC-CHI"] == 10
    # Every write conflict a capture met ran its transaction once more (here, not in the driver's backoff).
    new_captures, new_attempts = (now - before for now, before in zip(_attempts(), (captures, attempts), strict=True))
    assert new_captures == 40
    assert new_attempts - new_captures == metrics.TRANSACTION_CONFLICTS._value.get() - conflicts


async def test_refused_captures_in_two_processes_end_with_an_error_and_never_oversell(world: World, services: Services, mongo: Mongo) -> None:
    """A marketplace refuses backorders: captures that lose the stock end with an error, and free
    the SKU's line in their process for the next."""
    await network(world)
    other = build_services(mongo, scheduler_interval_seconds=0)
    requests = [
        capture_request(capture_input(f"A-{i}", channel="amazon", lines=[HOT], customer={"email": f"c{i}@example.com"}))
        for i in range(30)
    ]
    results = await asyncio.gather(
        *[(services if i % 2 else other).order_capture.capture(SYSTEM, r) for i, r in enumerate(requests)], return_exceptions=True
    )
    refused = [r for r in results if isinstance(r, InsufficientStock)]
    captured = [r for r in results if not isinstance(r, BaseException)]
    assert (len(captured), len(refused)) == (10, 20)
    assert (await reserved(world))["SKU-HOT@DC-CHI"] == 10
