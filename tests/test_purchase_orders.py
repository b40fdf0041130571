"""Purchase orders: created as drafts rounded to packs and MOQ, submitted (incoming rises, expected
date = submit + lead time), cancelled (incoming falls back), received (on hand up through the
receiveStock path, backorders filled oldest first), all audited in the same transaction."""

from __future__ import annotations

from datetime import timedelta

import pytest

from app.domain.errors import ErrorCode, InvalidInput, Conflict
from app.domain.principals import SYSTEM
from app.domain.purchase_orders import LineReceipt, LineRequest, PurchaseOrderStatus
from app.domain.replenishment import ReplenishmentPolicy
from app.services.container import Services
from tests.factories import World
from tests.replenishment_world import replenishment_world, sell

pytestmark = pytest.mark.usefixtures("reservations_consistent", "incoming_consistent")


async def _level(services: Services, sku: str, location_id: str) -> dict:
    return await services.mongo.db["inventory"].find_one({"_id": f"{sku}@{location_id}"}) or {}


async def test_a_draft_rounds_up_to_pack_size_and_moq_and_changes_no_stock(world: World, services: Services) -> None:
    await replenishment_world(world, services)
    po = await services.purchase_orders.create(SYSTEM, "ACME", "DC-CHI", [LineRequest("SKU-1", 7), LineRequest("SKU-HOT", 13)])
    assert po.status is PurchaseOrderStatus.DRAFT and po.number.startswith("PO-")
    # SKU-1: MOQ 12 (two packs of 6); SKU-HOT: 13 → three packs of 5.
    assert [(line.sku, line.supplier_sku, line.quantity, line.unit_cost_cents) for line in po.lines] == [
        ("SKU-1", "A-100", 12, 450), ("SKU-HOT", "A-HOT", 15, 5000)
    ]
    assert po.total_cents == 12 * 450 + 15 * 5000
    assert (await _level(services, "SKU-1", "DC-CHI")).get("incoming", 0) == 0
    created = await services.mongo.db["events"].find_one({"type": "PurchaseOrderCreated", "aggregate_id": po.id})
    assert created["payload"]["totalCents"] == po.total_cents and created["location_id"] == "DC-CHI"


async def test_bad_input_is_refused_with_every_issue_and_writes_nothing(world: World, services: Services) -> None:
    await replenishment_world(world, services)
    with pytest.raises(InvalidInput) as refused:
        await services.purchase_orders.create(SYSTEM, "NOPE", "XX", [LineRequest("SKU-3", 0), LineRequest("SKU-3", 1)])
    fields = {issue.field for issue in refused.value.issues}
    assert ("lines", "0", "quantity") in fields and ("lines", "1", "sku") in fields
    with pytest.raises(InvalidInput) as refused:
        await services.purchase_orders.create(SYSTEM, "ACME", "XX", [LineRequest("SKU-3", 1)])
    assert {(i.code, i.field) for i in refused.value.issues} == {
        (ErrorCode.NOT_FOUND, ("location",)), (ErrorCode.UNKNOWN_SKU, ("lines", "0", "sku"))
    }
    assert await services.mongo.db["purchase_orders"].count_documents({}) == 0


async def test_submit_sets_the_expected_date_and_incoming_cancel_takes_it_back(world: World, services: Services) -> None:
    await replenishment_world(world, services)
    po = await services.purchase_orders.create(SYSTEM, "GLOBEX", "ST-BOS", [LineRequest("SKU-3", 25)])
    submitted = await services.purchase_orders.submit(SYSTEM, po.id)
    assert submitted.status is PurchaseOrderStatus.SUBMITTED and submitted.lines[0].quantity == 30
    assert submitted.submitted_at is not None and submitted.expected_at is not None
    # GLOBEX: 12 days, cut-off 12:00 UTC: after noon the order counts from the next day.
    days = 12 + (1 if submitted.submitted_at.hour >= 12 else 0)
    assert submitted.expected_at.date() == (submitted.submitted_at + timedelta(days=days)).date()
    assert (await _level(services, "SKU-3", "ST-BOS"))["incoming"] == 30
    with pytest.raises(Conflict):
        await services.purchase_orders.submit(SYSTEM, po.id)
    cancelled = await services.purchase_orders.cancel(SYSTEM, po.id, "supplier out of stock")
    assert cancelled.status is PurchaseOrderStatus.CANCELLED
    assert (await _level(services, "SKU-3", "ST-BOS"))["incoming"] == 0
    types = [doc["type"] async for doc in services.mongo.db["events"].find({"aggregate_id": po.id}).sort("_id", 1)]
    assert types == ["PurchaseOrderCreated", "PurchaseOrderSubmitted", "PurchaseOrderCancelled"]
    causes = [doc["payload"]["cause"] async for doc in services.mongo.db["events"].find({"sku": "SKU-3", "location_id": "ST-BOS"}).sort("_id", 1)]
    assert causes == ["PO_INCOMING", "PO_INCOMING"]


async def test_receiving_raises_on_hand_lowers_incoming_and_fills_backorders_oldest_first(world: World, services: Services) -> None:
    await replenishment_world(world, services)
    first = await sell(services, "W-A", "SKU-HOT", 12)  # DC-CHI has 10: 2 backordered
    second = await sell(services, "W-B", "SKU-HOT", 3)
    po = await services.purchase_orders.create(SYSTEM, "ACME", "DC-CHI", [LineRequest("SKU-HOT", 10)])
    po = await services.purchase_orders.submit(SYSTEM, po.id)
    assert (await _level(services, "SKU-HOT", "DC-CHI"))["incoming"] == 10
    receipt = await services.purchase_order_receiving.receive(SYSTEM, po.id, [LineReceipt("1", received=3, damaged=1)])
    assert receipt.purchase_order.status is PurchaseOrderStatus.PARTIALLY_RECEIVED
    assert receipt.filled_order_ids == (first, second)
    level = await _level(services, "SKU-HOT", "DC-CHI")
    assert (level["on_hand"], level["reserved"], level["incoming"]) == (13, 13, 6)
    movement = await services.mongo.db["events"].find_one({"payload.cause": "PO_RECEIPT"})
    assert movement["payload"]["purchaseOrderNumber"] == po.number and movement["payload"]["damaged"] == 1
    assert movement["payload"]["onHandDelta"] == 3
    done = await services.purchase_order_receiving.receive(SYSTEM, po.id, [LineReceipt("1", received=6)])
    assert done.purchase_order.status is PurchaseOrderStatus.RECEIVED
    assert (await _level(services, "SKU-HOT", "DC-CHI"))["incoming"] == 0


async def test_over_receipt_is_refused_unless_the_location_accepts_it(world: World, services: Services) -> None:
    await replenishment_world(world, services)
    po = await services.purchase_orders.create(SYSTEM, "ACME", "DC-CHI", [LineRequest("SKU-HOT", 5)])
    await services.purchase_orders.submit(SYSTEM, po.id)
    with pytest.raises(InvalidInput) as refused:
        await services.purchase_order_receiving.receive(SYSTEM, po.id, [LineReceipt("1", received=6)])
    assert refused.value.issues[0].code is ErrorCode.CONFLICT
    assert (await _level(services, "SKU-HOT", "DC-CHI"))["on_hand"] == 10
    await services.replenishment.set_policy(SYSTEM, ReplenishmentPolicy(location_id="DC-CHI", allow_over_receipt=True))
    receipt = await services.purchase_order_receiving.receive(SYSTEM, po.id, [LineReceipt("1", received=6)])
    assert receipt.purchase_order.status is PurchaseOrderStatus.RECEIVED
    level = await _level(services, "SKU-HOT", "DC-CHI")
    assert (level["on_hand"], level["incoming"]) == (16, 0)  # the extra unit is stock, incoming stops at 0
