"""Backorders of orders already in fulfilment: the part that waits for stock is filled when stock
arrives even after the rest has shipped or been collected, gets its own shipment, and the order stays
PARTIALLY_SHIPPED until that ships too."""

from __future__ import annotations

import httpx
import pytest

from app.domain.order_capture import LineRequest
from app.domain.order_edits import OrderEdit
from app.domain.principals import SYSTEM, Principal, Role
from app.domain.shipments import Shipment, ShipmentStatus
from app.services.container import Services
from app.services.fulfilment import PackageInput, PickedLine
from tests.factories import World
from tests.fulfilment_world import BOS, DC, FulfilmentWorld, hours_from_now, post_tracking, tracking_event
from tests.order_helpers import capture_input, capture_request, pickup

pytestmark = pytest.mark.usefixtures("reservations_consistent")

PICKER = Principal(subject="picker", role=Role.WAREHOUSE, location_ids=frozenset({DC.id}))
BOS_STAFF = Principal(subject="bos-staff", role=Role.STORE_STAFF, location_ids=frozenset({BOS.id}))
ADMIN = Principal(subject="admin", role=Role.ADMIN)
BOX = PackageInput(1500, 30, 20, 15)


async def _world(world: World, services: Services, stock: dict[tuple[str, str], int]) -> FulfilmentWorld:
    fw = FulfilmentWorld(world, services)
    await fw.setup(stock)
    return fw


async def _shipments(services: Services, order_id: str) -> list[Shipment]:
    return sorted((await services.shipments.for_orders(ADMIN, [order_id]))[order_id], key=lambda s: s.number)


async def _ship(services: Services, shipment: Shipment) -> Shipment:
    await services.fulfilment.start_picking(PICKER, [shipment.id])
    await services.fulfilment.confirm_pick(PICKER, shipment.id, [PickedLine(ln.allocation_id, ln.quantity) for ln in shipment.lines])
    await services.fulfilment.pack(PICKER, shipment.id, [BOX])
    return await services.shipping.ship(PICKER, shipment.id)


async def _partially_shipped(fw: FulfilmentWorld, services: Services) -> tuple[str, Shipment]:
    """An order for 1 kettle and 3 cold brews with 1 brew in stock: the allocated part is shipped,
    2 brews wait for stock."""
    given = capture_input("W-PS", lines=[{"sku": "SKU-KETTLE", "quantity": 1}, {"sku": "SKU-BREW", "quantity": 3}])
    order = (await services.order_capture.capture(SYSTEM, capture_request(given))).order
    assert order.status.value == "PARTIALLY_ALLOCATED"
    [first] = await _shipments(services, order.id)
    shipped = await _ship(services, first)
    doc = await fw.order_doc(order.id)
    assert doc["status"] == "PARTIALLY_SHIPPED"
    # Waiting for stock: the field the fill and the sweep look orders up by.
    assert doc.get("backordered_skus") == ["SKU-BREW"]
    return order.id, shipped


async def test_a_partially_shipped_order_gets_its_backorder_filled_shipped_and_delivered(
    world: World, services: Services, http: httpx.AsyncClient
) -> None:
    fw = await _world(world, services, {("SKU-KETTLE", DC.id): 10, ("SKU-BREW", DC.id): 1})
    order_id, first = await _partially_shipped(fw, services)

    change = await services.inventory_changes.receive(SYSTEM, "SKU-BREW", DC.id, 5, "PO-9")

    assert change.filled_order_ids == (order_id,)
    doc = await fw.order_doc(order_id)
    # The remainder is reserved; the order keeps its place in the life cycle (part of it has left).
    assert doc["status"] == "PARTIALLY_SHIPPED" and "backordered_skus" not in doc
    assert sorted((a["sku"], a["quantity"], a["status"]) for a in doc["allocations"]) == [
        ("SKU-BREW", 1, "FULFILLED"), ("SKU-BREW", 2, "OPEN"), ("SKU-KETTLE", 1, "FULFILLED")
    ]
    level = await fw.level("SKU-BREW", DC.id)
    assert (level["on_hand"], level["reserved"], level["available"]) == (5, 2, 3)
    # The fulfilment sync planned a shipment for the new allocation, ready to pick.
    shipments = await _shipments(services, order_id)
    [second] = [s for s in shipments if s.id != first.id]
    assert second.status is ShipmentStatus.PENDING and not second.held
    assert [(ln.sku, ln.quantity) for ln in second.lines] == [("SKU-BREW", 2)]
    [filled] = await fw.events(type="OrderAllocated", order_id=order_id)
    assert filled["reason"] == "backordered stock became available"
    assert await fw.events(type="ShipmentCreated", shipment_id=second.id) != []

    # Picking it is more of the same partial shipment; shipping it completes the order.
    await services.fulfilment.start_picking(PICKER, [second.id])
    assert (await fw.order_doc(order_id))["status"] == "PARTIALLY_SHIPPED"
    await services.fulfilment.confirm_pick(PICKER, second.id, [PickedLine(second.lines[0].allocation_id, 2)])
    await services.fulfilment.pack(PICKER, second.id, [BOX])
    assert (await fw.order_doc(order_id))["status"] == "PARTIALLY_SHIPPED"
    second = await services.shipping.ship(PICKER, second.id)
    assert (await fw.order_doc(order_id))["status"] == "SHIPPED"

    for n, shipment in enumerate((first, second)):
        assert shipment.label is not None and shipment.tracking_number
        delivered = tracking_event(f"d{n}", shipment.tracking_number, "DELIVERED", hours_from_now(-1))
        sent = await post_tracking(http, shipment.label.carrier, [delivered])
        assert sent.status_code == 200, sent.text
    assert (await fw.order_doc(order_id))["status"] == "DELIVERED"
    moves = [(e["payload"]["from"], e["payload"]["to"]) for e in await fw.events(order_id=order_id, type="OrderStatusChanged")]
    assert moves == [
        ("CREATED", "PARTIALLY_ALLOCATED"),
        ("PARTIALLY_ALLOCATED", "PARTIALLY_SHIPPED"),  # stayed so through the fill and the second pick
        ("PARTIALLY_SHIPPED", "SHIPPED"),
        ("SHIPPED", "DELIVERED"),
    ]
    level = await fw.level("SKU-BREW", DC.id)
    assert (level["on_hand"], level["reserved"]) == (3, 0)
    await fw.assert_invariant()


async def test_the_sweep_finds_a_partially_shipped_order_waiting_for_stock(world: World, services: Services) -> None:
    fw = await _world(world, services, {("SKU-KETTLE", DC.id): 10, ("SKU-BREW", DC.id): 1})
    order_id, first = await _partially_shipped(fw, services)
    # Stock written behind the service's back fills nothing until the scheduler's sweep runs.
    await fw.mongo.db["inventory"].update_one({"_id": f"SKU-BREW@{DC.id}"}, {"$inc": {"on_hand": 2, "available": 2}})

    report = await services.scheduler.tick()

    assert (report.released, report.filled) == (0, 1)
    doc = await fw.order_doc(order_id)
    assert doc["status"] == "PARTIALLY_SHIPPED" and "backordered_skus" not in doc
    [second] = [s for s in await _shipments(services, order_id) if s.id != first.id]
    assert [(ln.sku, ln.quantity) for ln in second.lines] == [("SKU-BREW", 2)]
    assert (await services.scheduler.tick()).filled == 0
    await fw.assert_invariant()


async def test_orders_stored_without_the_field_by_an_older_version_are_found_after_start_up(
    world: World, services: Services
) -> None:
    fw = await _world(world, services, {("SKU-KETTLE", DC.id): 10, ("SKU-BREW", DC.id): 1})
    order_id, _ = await _partially_shipped(fw, services)
    # As every version before this one stored a partially shipped order waiting for stock
    await fw.mongo.db["orders"].update_one({"_id": order_id}, {"$unset": {"backordered_skus": ""}})

    assert await services.backorders.index_waiting_orders() == 1  # what start-up runs

    assert (await fw.order_doc(order_id))["backordered_skus"] == ["SKU-BREW"]
    assert await services.backorders.index_waiting_orders() == 0
    await services.inventory_changes.receive(ADMIN, "SKU-BREW", DC.id, 2, None)
    assert "backordered_skus" not in await fw.order_doc(order_id)
    await fw.assert_invariant()


async def test_a_partly_collected_pickup_order_is_filled_and_ends_picked_up(world: World, services: Services) -> None:
    fw = await _world(world, services, {("SKU-SHOE", BOS.id): 2})
    given = capture_input("W-PU", lines=[{"sku": "SKU-SHOE", "quantity": 2}], delivery=pickup(BOS.id))
    order_id = (await services.order_capture.capture(SYSTEM, capture_request(given))).order.id
    [first] = await _shipments(services, order_id)
    # One pair is not on the shelf and no other store can hand it over here: it is backordered.
    await services.fulfilment.start_picking(BOS_STAFF, [first.id])
    await services.fulfilment.confirm_pick(BOS_STAFF, first.id, [PickedLine(first.lines[0].allocation_id, 1)])
    await services.fulfilment.pack(BOS_STAFF, first.id, [])
    await services.fulfilment.confirm_pickup(BOS_STAFF, first.id)
    doc = await fw.order_doc(order_id)
    assert doc["status"] == "PARTIALLY_SHIPPED" and doc.get("backordered_skus") == ["SKU-SHOE"]

    change = await services.inventory_changes.receive(SYSTEM, "SKU-SHOE", BOS.id, 1, "delivery from the DC")

    assert change.filled_order_ids == (order_id,)
    [second] = [s for s in await _shipments(services, order_id) if s.id != first.id]
    assert second.method.value == "PICKUP" and [(ln.sku, ln.quantity) for ln in second.lines] == [("SKU-SHOE", 1)]
    await services.fulfilment.start_picking(BOS_STAFF, [second.id])
    await services.fulfilment.confirm_pick(BOS_STAFF, second.id, [PickedLine(second.lines[0].allocation_id, 1)])
    ready = await services.fulfilment.pack(BOS_STAFF, second.id, [])
    assert ready.status is ShipmentStatus.READY_FOR_PICKUP
    assert (await fw.order_doc(order_id))["status"] == "PARTIALLY_SHIPPED"
    await services.fulfilment.confirm_pickup(BOS_STAFF, second.id)
    assert (await fw.order_doc(order_id))["status"] == "PICKED_UP"
    await fw.assert_invariant()


async def test_an_order_back_in_fulfilment_from_a_hold_gets_what_an_edit_left_short(world: World, services: Services) -> None:
    fw = await _world(world, services, {("SKU-KETTLE", DC.id): 10, ("SKU-BREW", DC.id): 1})
    order = await fw.order([("SKU-KETTLE", 1, DC.id)])
    [shipment] = await _shipments(services, order.id)
    await services.fulfilment.start_picking(PICKER, [shipment.id])
    await services.order_lifecycle.hold(SYSTEM, order.id, "customer called")
    await services.order_edits.edit(SYSTEM, order.id, OrderEdit(reason="add brew", add_lines=(LineRequest("SKU-BREW", 3, None),)))
    await services.order_lifecycle.release_hold(SYSTEM, order.id, "done")
    doc = await fw.order_doc(order.id)
    # Released to where it was, IN_FULFILLMENT, with 2 brews unreserved.
    assert doc["status"] == "IN_FULFILLMENT" and doc.get("backordered_skus") == ["SKU-BREW"]

    change = await services.inventory_changes.receive(SYSTEM, "SKU-BREW", DC.id, 5, "PO-10")

    assert change.filled_order_ids == (order.id,)
    doc = await fw.order_doc(order.id)
    assert doc["status"] == "IN_FULFILLMENT" and "backordered_skus" not in doc
    # The shipment still being picked at the DC takes the new units too.
    [picking] = await _shipments(services, order.id)
    assert sorted((ln.sku, ln.quantity) for ln in picking.lines) == [("SKU-BREW", 1), ("SKU-BREW", 2), ("SKU-KETTLE", 1)]
    await fw.assert_invariant()
