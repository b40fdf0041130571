"""Reorder-point crossings become exactly one purchase-order line each (or a transfer, by policy)."""

from __future__ import annotations

import asyncio

import pytest

from app.domain.pagination import PageRequest
from app.domain.principals import SYSTEM
from app.domain.purchase_orders import PurchaseOrderFilter, PurchaseOrderSource, PurchaseOrderStatus
from app.domain.replenishment import ReplenishmentMode, ReplenishmentPolicy, TransferMode
from app.services.container import Services
from tests.factories import World, level
from tests.replenishment_world import replenishment_world, sell, set_reorder_point

pytestmark = pytest.mark.usefixtures("reservations_consistent", "incoming_consistent")


async def _lines(services: Services) -> list[tuple[str, str, str, int]]:
    """(crossing, sku, location, quantity) of every PO line a crossing raised."""
    docs = await services.mongo.db["purchase_orders"].find({}).to_list()
    return sorted(
        (line["crossing_id"], line["sku"], doc["location_id"], line["quantity"])
        for doc in docs
        for line in doc["lines"]
        if "crossing_id" in line
    )


async def test_crossing_the_reorder_point_adds_a_rounded_line_to_the_open_draft(world: World, services: Services) -> None:
    await replenishment_world(world, services)
    await set_reorder_point(services, "SKU-1", "DC-CHI", 95, 7)
    await set_reorder_point(services, "SKU-HOT", "DC-CHI", 5, 8)
    await sell(services, "W-1", "SKU-1", 2)  # ST-BOS fills it (nearest): DC-CHI untouched
    assert await services.mongo.db["reorder_crossings"].count_documents({}) == 0
    await services.inventory_changes.adjust(SYSTEM, "SKU-1", "DC-CHI", delta=-6, count=None, reason="count")  # 100 → 94
    await services.inventory_changes.adjust(SYSTEM, "SKU-HOT", "DC-CHI", delta=-5, count=None, reason="count")  # 10 → 5
    assert await services.replenishment.process_pending() == 2
    assert await services.replenishment.process_pending() == 0  # done once
    drafts = [doc async for doc in services.mongo.db["purchase_orders"].find({})]
    assert len(drafts) == 1 and drafts[0]["status"] == "DRAFT" and drafts[0]["source"] == "REPLENISHMENT"
    # ACME: SKU-1 packs of 6 with MOQ 12 → 12; SKU-HOT packs of 5 → 10.
    assert [(line["id"], line["sku"], line["quantity"]) for line in drafts[0]["lines"]] == [("1", "SKU-1", 12), ("2", "SKU-HOT", 10)]
    assert (await services.mongo.db["inventory"].find_one({"_id": "SKU-1@DC-CHI"}))["incoming"] == 0  # a draft is not incoming
    types = [doc["type"] async for doc in services.mongo.db["events"].find({"aggregate_type": "PurchaseOrder"}).sort("_id", 1)]
    assert types == ["PurchaseOrderCreated", "PurchaseOrderLineAdded"]
    # Falling further is not a new crossing.
    await services.inventory_changes.adjust(SYSTEM, "SKU-1", "DC-CHI", delta=-1, count=None, reason="count")
    assert await services.replenishment.process_pending() == 0


async def test_auto_submit_locations_get_a_submitted_po_and_incoming(world: World, services: Services) -> None:
    await replenishment_world(world, services)
    await services.replenishment.set_policy(SYSTEM, ReplenishmentPolicy("DC-CHI", mode=ReplenishmentMode.AUTO_SUBMIT, transfers=TransferMode.OFF))
    await set_reorder_point(services, "SKU-HOT", "DC-CHI", 4, 6)
    await sell(services, "W-1", "SKU-HOT", 6)
    assert await services.replenishment.process_pending() == 1
    po = (await services.purchase_orders.page(SYSTEM, PurchaseOrderFilter(), PageRequest())).items[0]
    assert po.status is PurchaseOrderStatus.SUBMITTED and po.source is PurchaseOrderSource.REPLENISHMENT
    assert po.lines[0].quantity == 10 and po.expected_at is not None
    assert (await services.mongo.db["inventory"].find_one({"_id": "SKU-HOT@DC-CHI"}))["incoming"] == 10
    figures = await services.dashboard.figures()
    assert (figures.open_purchase_orders, figures.units_incoming, figures.stock_outs_avoided) == (1, 10, 1)


async def test_without_a_supplier_the_crossing_is_recorded_and_nothing_is_bought(world: World, services: Services) -> None:
    await replenishment_world(world, services)
    await set_reorder_point(services, "SKU-2", "ST-CAM", 5, 4)
    await services.inventory_changes.adjust(SYSTEM, "SKU-2", "ST-CAM", delta=-1, count=None, reason="count")
    await services.replenishment.process_pending()
    crossing = await services.mongo.db["reorder_crossings"].find_one({})
    assert crossing["outcome"] == "NO_SUPPLIER" and await services.mongo.db["purchase_orders"].count_documents({}) == 0


async def test_a_nearby_surplus_is_suggested_or_by_policy_transferred_instead(world: World, services: Services) -> None:
    await replenishment_world(world, services)
    # ST-BOS holds 5 of SKU-1; DC-CHI (far) 100. ST-NYC gets a surplus of 30 within 400 km of Boston.
    await world.add_stock(level("SKU-1", "ST-NYC", 30))
    await services.replenishment.set_policy(SYSTEM, ReplenishmentPolicy("ST-BOS", transfers=TransferMode.SUGGEST, transfer_radius_km=400))
    await set_reorder_point(services, "SKU-1", "ST-BOS", 3, 10)
    await services.inventory_changes.adjust(SYSTEM, "SKU-1", "ST-BOS", delta=-2, count=None, reason="count")
    await services.replenishment.process_pending()
    crossing = await services.mongo.db["reorder_crossings"].find_one({})
    assert (crossing["outcome"], crossing["transfer_from"]) == ("PO_LINE", "ST-NYC")
    await services.replenishment.set_policy(SYSTEM, ReplenishmentPolicy("ST-BOS", transfers=TransferMode.CREATE, transfer_radius_km=400))
    await services.inventory_changes.adjust(SYSTEM, "SKU-1", "ST-BOS", delta=10, count=None, reason="count")  # 13: above again
    await services.inventory_changes.adjust(SYSTEM, "SKU-1", "ST-BOS", delta=-10, count=None, reason="count")  # 3: crosses
    await services.replenishment.process_pending()
    second = await services.mongo.db["reorder_crossings"].find_one({"outcome": "TRANSFER"})
    assert second["transfer_from"] == "ST-NYC"
    stock = {doc["location_id"]: doc["on_hand"] async for doc in services.mongo.db["inventory"].find({"sku": "SKU-1"})}
    assert stock["ST-BOS"] == 13 and stock["ST-NYC"] == 20
    assert len(await _lines(services)) == 1  # the transfer bought nothing


async def test_concurrent_orders_and_workers_raise_exactly_one_line_per_crossing(world: World, services: Services) -> None:
    await replenishment_world(world, services)
    await world.add_stock(*(level("SKU-HOT", loc, 10) for loc in ("ST-BOS", "ST-NYC")))
    for loc in ("ST-BOS", "ST-NYC", "DC-CHI"):
        await set_reorder_point(services, "SKU-HOT", loc, 6, 5)
    # 24 one-unit orders at once: the network has 30, so every location crosses 6 once.
    await asyncio.gather(*(sell(services, f"W-{n}", "SKU-HOT", 1) for n in range(24)))
    crossings = [doc async for doc in services.mongo.db["reorder_crossings"].find({})]
    assert sorted(c["location_id"] for c in crossings) == ["DC-CHI", "ST-BOS", "ST-NYC"]
    # Four workers race over every marker, twice.
    await asyncio.gather(*(services.replenishment.process(c["_id"]) for c in crossings * 4))
    lines = await _lines(services)
    assert sorted(line[0] for line in lines) == sorted(c["_id"] for c in crossings)
    assert {doc["outcome"] for doc in await services.mongo.db["reorder_crossings"].find({}).to_list()} == {"PO_LINE"}


async def test_the_demo_data_has_suppliers_with_one_preferred_per_sku(mongo) -> None:  # type: ignore[no-untyped-def]
    from datetime import date

    from app.services.demo_seed import SeedSize, seed_demo

    await seed_demo(mongo, SeedSize(locations=6, skus=30, customers=5, orders=10), seed=3, as_of=date(2026, 11, 1))
    assert await mongo.db["suppliers"].count_documents({}) == 4
    preferred = [doc["sku"] for doc in await mongo.db["supplier_items"].find({"preferred": True}).to_list()]
    assert len(preferred) == len(set(preferred)) == 30
