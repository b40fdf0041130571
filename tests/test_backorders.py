"""Backorders take arriving stock automatically, oldest order first, with events for both sides."""

from __future__ import annotations

import pytest

from app.domain.principals import SYSTEM
from app.services.container import Services
from tests.conftest import GraphQLClient
from tests.factories import World
from tests.order_helpers import CAPTURE, capture_input, capture_request, network, reserved

pytestmark = pytest.mark.usefixtures("reservations_consistent")

RECEIVE = """
mutation($input: ReceiveStockInput!) {
  receiveStock(input: $input) {
    __typename ... on ReceiveStockPayload { level { onHand reserved available } backordersFilled { externalId status } }
  }
}
"""


async def _backorder(services: Services, external_id: str, quantity: int, sku: str = "SKU-HOT") -> str:
    given = capture_input(external_id, lines=[{"sku": sku, "quantity": quantity}])
    return (await services.order_capture.capture(SYSTEM, capture_request(given))).order.id


async def _status(services: Services, order_id: str) -> tuple[str, int]:
    doc = await services.mongo.db["orders"].find_one({"_id": order_id})
    open_units = sum(a["quantity"] for a in doc["allocations"] if a["status"] == "OPEN")
    return doc["status"], open_units


async def test_receiving_stock_fills_backorders_oldest_first(world: World, gql: GraphQLClient, services: Services) -> None:
    await network(world)
    first = await _backorder(services, "W-A", 12)  # takes all 10, 2 backordered
    second = await _backorder(services, "W-B", 3)  # all 3 backordered
    third = await _backorder(services, "W-C", 1)
    assert [await _status(services, o) for o in (first, second, third)] == [
        ("PARTIALLY_ALLOCATED", 10), ("BACKORDERED", 0), ("BACKORDERED", 0)
    ]
    result = (await gql.data(RECEIVE, {"input": {"sku": "SKU-HOT", "location": "DC-CHI", "quantity": 4, "reason": "PO-77"}}))["receiveStock"]
    # 4 arrive: 2 complete the oldest order, 2 go to the next one (of 3); the newest still waits.
    assert result["backordersFilled"] == [{"externalId": "W-A", "status": "ALLOCATED"}, {"externalId": "W-B", "status": "PARTIALLY_ALLOCATED"}]
    assert result["level"] == {"onHand": 14, "reserved": 14, "available": 0}
    assert [await _status(services, o) for o in (first, second, third)] == [
        ("ALLOCATED", 12), ("PARTIALLY_ALLOCATED", 2), ("BACKORDERED", 0)
    ]
    allocated = [doc async for doc in services.mongo.db["events"].find({"type": "OrderAllocated"}).sort("_id", 1)]
    assert [e["order_id"] for e in allocated] == [first, second]
    assert allocated[0]["payload"]["allocations"] == [{"lineId": "1", "sku": "SKU-HOT", "locationId": "DC-CHI", "quantity": 2, "status": "OPEN"}]
    causes = [doc["payload"]["cause"] async for doc in services.mongo.db["events"].find({"type": "StockLevelChanged"}).sort("_id", 1)]
    assert causes[-3:] == ["RECEIPT", "RESERVATION", "RESERVATION"]


async def test_adjustment_transfer_and_cancellation_also_feed_backorders(world: World, services: Services) -> None:
    await network(world)
    holder = await _backorder(services, "W-A", 10)
    waiting = await _backorder(services, "W-B", 2)
    await services.inventory_changes.adjust(SYSTEM, "SKU-HOT", "DC-CHI", delta=1, count=None, reason="found one")
    assert await _status(services, waiting) == ("PARTIALLY_ALLOCATED", 1)
    await services.order_lifecycle.cancel(SYSTEM, holder, "customer cancelled")
    assert await _status(services, waiting) == ("ALLOCATED", 2)
    assert await reserved(world) == {"SKU-HOT@DC-CHI": 2}

    later = await _backorder(services, "W-C", 8, sku="SKU-2")  # 2 in Boston, 6 backordered (Cambridge does not ship)
    assert await _status(services, later) == ("PARTIALLY_ALLOCATED", 2)
    change = await services.inventory_changes.transfer(SYSTEM, "SKU-2", "ST-CAM", "ST-BOS", 6, "rebalance")
    assert change.filled_order_ids == (later,)
    assert await _status(services, later) == ("ALLOCATED", 8)


async def test_the_sweep_fills_what_a_stock_change_left(world: World, services: Services) -> None:
    await network(world)
    waiting = await _backorder(services, "W-A", 11)
    # Stock written behind the service's back (e.g. a bulk import) fills nothing until the sweep runs.
    await services.mongo.db["inventory"].update_one({"_id": "SKU-HOT@DC-CHI"}, {"$inc": {"on_hand": 5, "available": 5}})
    assert await _status(services, waiting) == ("PARTIALLY_ALLOCATED", 10)
    report = await services.scheduler.tick()
    assert (report.released, report.filled) == (0, 1)
    assert await _status(services, waiting) == ("ALLOCATED", 11)
    assert (await services.scheduler.tick()).filled == 0
