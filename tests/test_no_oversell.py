"""No oversell: concurrent captures racing for the same units never reserve more than exist."""

from __future__ import annotations

import asyncio

import pytest

from app.services.container import Services
from tests.conftest import GraphQLClient
from tests.factories import World
from tests.order_helpers import CAPTURE, capture_input, network, reserved

pytestmark = pytest.mark.usefixtures("reservations_consistent")

HOT = [{"sku": "SKU-HOT", "quantity": 1}]  # 10 units in the whole network (DC-CHI)


async def _race(gql: GraphQLClient, channel: str, n: int = 50) -> list[dict]:
    inputs = [capture_input(f"{channel}-{i}", channel=channel, lines=HOT, customer={"email": f"c{i}@example.com"}) for i in range(n)]
    bodies = await asyncio.gather(*[gql.data(CAPTURE, {"input": given}) for given in inputs])
    return [body["captureOrder"] for body in bodies]


async def test_fifty_captures_for_ten_units_backorder_the_rest(world: World, gql: GraphQLClient, services: Services) -> None:
    await network(world)
    results = await _race(gql, "web")
    statuses = sorted(r["order"]["status"] for r in results)
    assert statuses == ["ALLOCATED"] * 10 + ["BACKORDERED"] * 40
    assert await reserved(world) == {"SKU-HOT@DC-CHI": 10}
    level = await services.mongo.db["inventory"].find_one({"_id": "SKU-HOT@DC-CHI"})
    assert (level["on_hand"], level["reserved"], level["available"]) == (10, 10, 0)
    assert await services.mongo.db["events"].count_documents({"type": "StockLevelChanged"}) == 10


async def test_fifty_captures_for_ten_units_on_a_refusing_channel(world: World, gql: GraphQLClient, services: Services) -> None:
    await network(world)
    results = await _race(gql, "amazon")
    kinds = sorted(r["__typename"] if r["__typename"] != "ConflictError" else r["code"] for r in results)
    assert kinds == ["CaptureOrderPayload"] * 10 + ["INSUFFICIENT_STOCK"] * 40
    assert await reserved(world) == {"SKU-HOT@DC-CHI": 10}
    assert await services.mongo.db["orders"].count_documents({}) == 10
    # Refused orders wrote nothing: one customer per accepted order, no events for the others.
    assert await services.mongo.db["customers"].count_documents({}) == 10
    assert await services.mongo.db["events"].count_documents({"type": "OrderCaptured"}) == 10


async def test_two_instances_racing_meet_as_write_conflicts_and_still_never_oversell(world: World, services: Services) -> None:
    """Two service containers share the database but not their in-process queues, like two servers."""
    from app.domain.principals import SYSTEM
    from app.services.container import build_services
    from tests.order_helpers import capture_request

    await network(world)
    other = build_services(services.mongo, scheduler_interval_seconds=0)
    requests = [capture_request(capture_input(f"W-{i}", lines=HOT + [{"sku": "SKU-1", "quantity": 1}], customer={"email": f"c{i}@example.com"})) for i in range(30)]
    results = await asyncio.gather(*[(services if i % 2 else other).order_capture.capture(SYSTEM, r) for i, r in enumerate(requests)])
    hot_allocated = sum(a.quantity for r in results for a in r.order.open_allocations if a.sku == "SKU-HOT")
    assert hot_allocated == 10
    assert sorted(r.order.status.value for r in results) == ["ALLOCATED"] * 10 + ["PARTIALLY_ALLOCATED"] * 20
    assert (await reserved(world))["SKU-HOT@DC-CHI"] == 10
