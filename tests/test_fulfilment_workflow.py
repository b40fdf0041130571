"""The warehouse work flow: short picks, pick-up in store, holds, schedules, cancels, refused steps, races."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from app.domain.errors import DomainError, InvalidInput, NotFound
from app.domain.events import Actor
from app.domain.orders import OrderStatus
from app.domain.principals import Principal, Role
from app.domain.shipments import IllegalShipmentTransition, Shipment, ShipmentStatus
from app.services.container import Services
from app.services.fulfilment import PackageInput, PickedLine
from tests.conftest import GraphQLClient
from tests.factories import World
from tests.fulfilment_world import BOS, DC, NYC, FulfilmentWorld
from tests.test_customers import gid
from tests.test_fulfilment_flow import CONFIRM, PACK

pytestmark = pytest.mark.usefixtures("reservations_consistent")

PICKER = Principal(subject="picker", role=Role.WAREHOUSE, location_ids=frozenset({DC.id}))
BOS_STAFF = Principal(subject="bos-staff", role=Role.STORE_STAFF, location_ids=frozenset({BOS.id}))
NYC_STAFF = Principal(subject="nyc-staff", role=Role.STORE_STAFF, location_ids=frozenset({NYC.id}))
ADMIN = Principal(subject="admin", role=Role.ADMIN)
BOX = PackageInput(1500, 30, 20, 15)


@pytest.fixture
async def fw(world: World, services: Services) -> FulfilmentWorld:
    w = FulfilmentWorld(world, services)
    await w.setup()
    return w


async def shipments_of(services: Services, order_id: str) -> list[Shipment]:
    return (await services.shipments.for_orders(ADMIN, [order_id]))[order_id]


async def pick_all(services: Services, principal: Principal, shipment: Shipment, short: dict[str, int] | None = None) -> Shipment:
    await services.fulfilment.start_picking(principal, [shipment.id])
    picks = [PickedLine(line.allocation_id, line.quantity - (short or {}).get(line.sku, 0)) for line in shipment.lines]
    return await services.fulfilment.confirm_pick(principal, shipment.id, picks)


async def snapshot(fw: FulfilmentWorld) -> tuple[Any, ...]:
    """Everything a refused step must leave untouched."""
    db = fw.mongo.db
    return (
        [d async for d in db["shipments"].find({}, {"status": 1, "version": 1, "lines": 1}).sort("_id", 1)],
        [d async for d in db["orders"].find({}, {"status": 1, "version": 1, "allocations": 1}).sort("_id", 1)],
        [d async for d in db["inventory"].find({}, {"on_hand": 1, "reserved": 1}).sort("_id", 1)],
        await db["events"].count_documents({}),
    )


async def test_short_pick_writes_off_the_missing_units_and_reroutes_the_shortfall(fw: FulfilmentWorld, services: Services) -> None:
    order = await fw.order([("SKU-SHOE", 3, DC.id), ("SKU-KETTLE", 1, DC.id)])
    [shipment] = await shipments_of(services, order.id)
    dc_before = await fw.level("SKU-SHOE", DC.id)

    picked = await pick_all(services, PICKER, shipment, short={"SKU-SHOE": 2})

    assert picked.status is ShipmentStatus.PICKED
    assert {(line.sku, line.quantity, line.picked_quantity) for line in picked.lines} == {("SKU-SHOE", 1, 1), ("SKU-KETTLE", 1, 1)}
    dc_after = await fw.level("SKU-SHOE", DC.id)
    # Two units were not there: on hand and the reservation both fall by two; available is unchanged.
    assert (dc_after["on_hand"], dc_after["reserved"]) == (dc_before["on_hand"] - 2, dc_before["reserved"] - 2)
    [write_off] = await fw.events(type="StockLevelChanged", sku="SKU-SHOE", location_id=DC.id, **{"payload.cause": "SHORT_PICK"})
    assert write_off["reason"] == f"short pick on shipment {shipment.number}: 2 x SKU-SHOE not found"
    assert write_off["actor"] == {"subject": "picker", "role": "WAREHOUSE"} and write_off["order_id"] == order.id
    # Routing moved the shortfall to a store that has it, reserved there, with its own shipment.
    doc = await fw.order_doc(order.id)
    moved = [a for a in doc["allocations"] if a["sku"] == "SKU-SHOE" and a["location_id"] != DC.id]
    assert len(moved) == 1 and moved[0]["quantity"] == 2 and moved[0]["status"] == "OPEN"
    assert moved[0]["location_id"] in (BOS.id, NYC.id)
    after = await shipments_of(services, order.id)
    new = [s for s in after if s.location_id == moved[0]["location_id"]]
    assert len(new) == 1 and new[0].status is ShipmentStatus.PENDING and [(ln.sku, ln.quantity) for ln in new[0].lines] == [("SKU-SHOE", 2)]
    [recorded] = await fw.events(type="ShortPickRecorded")
    assert recorded["payload"]["reroutedTo"] == [{"locationId": moved[0]["location_id"], "quantity": 2}]
    assert recorded["payload"]["backordered"] == 0
    assert doc["status"] == "IN_FULFILLMENT"
    await fw.assert_invariant()


async def test_short_pick_with_nowhere_to_go_is_backordered_and_an_empty_pick_cancels_the_shipment(
    fw: FulfilmentWorld, services: Services
) -> None:
    order = await fw.order([("SKU-BREW", 3, DC.id)])  # cold brew is stocked only at the DC
    [shipment] = await shipments_of(services, order.id)
    picked = await pick_all(services, PICKER, shipment, short={"SKU-BREW": 3})
    assert picked.status is ShipmentStatus.CANCELLED and picked.lines == ()
    doc = await fw.order_doc(order.id)
    assert doc["status"] == "BACKORDERED" and doc.get("backordered_skus") == ["SKU-BREW"]
    assert {a["status"] for a in doc["allocations"]} == {"RELEASED"}
    level = await fw.level("SKU-BREW", DC.id)
    assert (level["on_hand"], level["reserved"]) == (5, 0)
    [recorded] = await fw.events(type="ShortPickRecorded")
    assert recorded["payload"]["backordered"] == 3 and recorded["payload"]["reroutedTo"] == []
    await fw.assert_invariant()


async def test_pickup_in_store_becomes_ready_and_is_handed_over_by_store_staff(fw: FulfilmentWorld, services: Services) -> None:
    order = await fw.order([("SKU-SHOE", 1, BOS.id)], pickup_at=BOS.id)
    [shipment] = await shipments_of(services, order.id)
    assert shipment.method.value == "PICKUP" and shipment.destination == BOS.address
    await pick_all(services, BOS_STAFF, shipment)
    ready = await services.fulfilment.pack(BOS_STAFF, shipment.id, [])
    assert ready.status is ShipmentStatus.READY_FOR_PICKUP
    assert (await fw.order_doc(order.id))["status"] == "READY_FOR_PICKUP"
    with pytest.raises(DomainError) as no_carrier:
        await services.shipping.ship(BOS_STAFF, shipment.id)
    assert no_carrier.value.code.value == "ILLEGAL_TRANSITION"

    before = await snapshot(fw)
    with pytest.raises(NotFound):
        await services.fulfilment.confirm_pickup(NYC_STAFF, shipment.id)  # another store's staff: not theirs to see, so NOT_FOUND
    assert await snapshot(fw) == before

    level = await fw.level("SKU-SHOE", BOS.id)
    handed = await services.fulfilment.confirm_pickup(BOS_STAFF, shipment.id)
    assert handed.status is ShipmentStatus.PICKED_UP and handed.eta == datetime.now(timezone.utc).date()
    after = await fw.level("SKU-SHOE", BOS.id)
    assert (after["on_hand"], after["reserved"]) == (level["on_hand"] - 1, level["reserved"] - 1)
    doc = await fw.order_doc(order.id)
    assert doc["status"] == "PICKED_UP" and doc["allocations"][0]["status"] == "FULFILLED"


async def test_held_and_scheduled_orders_have_no_pickable_shipments_until_released(fw: FulfilmentWorld, services: Services) -> None:
    later = datetime.now(timezone.utc) + timedelta(days=10)
    scheduled = await fw.order([("SKU-SHOE", 1, DC.id)], status=OrderStatus.SCHEDULED, release_at=later)
    ready = await fw.order([("SKU-KETTLE", 1, DC.id)])
    [held] = await shipments_of(services, scheduled.id)
    assert held.held and held.status is ShipmentStatus.PENDING
    assert held.eta is not None and held.eta >= later.date()  # the promise counts from the release date
    wave = await services.picking.pick_list(PICKER, DC.id)
    assert [s.order_id for s in wave.shipments] == [ready.id]
    before = await snapshot(fw)
    with pytest.raises(IllegalShipmentTransition):
        await services.fulfilment.start_picking(PICKER, [held.id])
    assert await snapshot(fw) == before

    # A hold placed on an order that is being picked stops it from being packed or shipped.
    [active] = await shipments_of(services, ready.id)
    await pick_all(services, PICKER, active)
    await services.order_lifecycle.hold(ADMIN, ready.id, "fraud check")
    [active] = await shipments_of(services, ready.id)
    assert active.held
    with pytest.raises(IllegalShipmentTransition):
        await services.fulfilment.pack(PICKER, active.id, [BOX])
    await services.order_lifecycle.release_hold(ADMIN, ready.id, "cleared")
    packed = await services.fulfilment.pack(PICKER, active.id, [BOX])
    assert packed.status is ShipmentStatus.PACKED and not packed.held

    # The scheduler releases the scheduled order: its shipment becomes pickable.
    await fw.mongo.db["orders"].update_one({"_id": scheduled.id}, {"$set": {"release_at": datetime.now(timezone.utc) - timedelta(minutes=1)}})
    assert await services.order_lifecycle.release_scheduled(scheduled.id, actor=Actor.system("scheduler"))
    wave = await services.picking.pick_list(PICKER, DC.id)
    assert [s.order_id for s in wave.shipments] == [scheduled.id]


async def test_cancelling_an_order_cancels_its_unshipped_shipments_and_releases_stock(fw: FulfilmentWorld, services: Services) -> None:
    order = await fw.order([("SKU-SHOE", 2, DC.id), ("SKU-KETTLE", 1, BOS.id)])
    dc_shipment, bos_shipment = sorted(await shipments_of(services, order.id), key=lambda s: s.location_id)
    await pick_all(services, PICKER, dc_shipment)  # one picked, one still pending
    await services.order_lifecycle.cancel(ADMIN, order.id, "customer changed their mind")
    assert {s.status for s in await shipments_of(services, order.id)} == {ShipmentStatus.CANCELLED}
    assert (await fw.level("SKU-SHOE", DC.id))["reserved"] == 0 and (await fw.level("SKU-KETTLE", BOS.id))["reserved"] == 0
    with pytest.raises(IllegalShipmentTransition):
        await services.fulfilment.pack(PICKER, dc_shipment.id, [BOX])
    await fw.assert_invariant()


async def test_refused_steps_get_typed_errors_and_write_nothing(fw: FulfilmentWorld, services: Services, gql: GraphQLClient) -> None:
    order = await fw.order([("SKU-SHOE", 2, DC.id)])
    [shipment] = await shipments_of(services, order.id)
    sid = gid("Shipment", shipment.id)
    line = shipment.lines[0].allocation_id
    before = await snapshot(fw)

    packed = (await gql.data(PACK, {"id": sid, "packages": [{"weightGrams": 100, "lengthCm": 1, "widthCm": 1, "heightCm": 1}]}))["packShipment"]
    assert packed == {"__typename": "ConflictError", "code": "ILLEGAL_TRANSITION", "message": "a shipment that is PENDING cannot become PACKED", "field": ["status"]}
    early = (await gql.data(CONFIRM, {"id": sid, "lines": [{"lineId": line, "pickedQuantity": 2}]}))["confirmPick"]
    assert early["code"] == "ILLEGAL_TRANSITION"
    bad_box = (await gql.data(PACK, {"id": sid, "packages": [{"weightGrams": 0, "lengthCm": 1, "widthCm": 500, "heightCm": 1}]}))["packShipment"]
    assert bad_box["__typename"] == "InvalidInputError" and bad_box["field"] == ["packages", "0", "weightGrams"]
    wrong_type = (await gql.data(PACK, {"id": gid("Order", order.id), "packages": []}))["packShipment"]
    assert wrong_type["__typename"] == "InvalidInputError" and wrong_type["field"] == ["shipmentId"]
    assert await snapshot(fw) == before

    await services.fulfilment.start_picking(PICKER, [shipment.id])
    before = await snapshot(fw)
    too_many = (await gql.data(CONFIRM, {"id": sid, "lines": [{"lineId": line, "pickedQuantity": 3}]}))["confirmPick"]
    assert too_many["__typename"] == "InvalidInputError" and too_many["field"] == ["lines", "0", "pickedQuantity"]
    with pytest.raises(InvalidInput) as missing:
        await services.fulfilment.confirm_pick(PICKER, shipment.id, [])
    assert missing.value.field == ("lines",)
    with pytest.raises(NotFound):
        await services.fulfilment.confirm_pick(BOS_STAFF, shipment.id, [PickedLine(line, 2)])
    assert await snapshot(fw) == before

    await services.fulfilment.confirm_pick(PICKER, shipment.id, [PickedLine(line, 2)])
    await services.fulfilment.pack(PICKER, shipment.id, [BOX])
    shipped = await services.shipping.ship(PICKER, shipment.id)
    before = await snapshot(fw)
    with pytest.raises(IllegalShipmentTransition):
        await services.shipping.ship(PICKER, shipment.id)
    assert await snapshot(fw) == before and shipped.status is ShipmentStatus.SHIPPED


async def test_concurrent_ships_of_one_shipment_consume_stock_once(fw: FulfilmentWorld, services: Services) -> None:
    order = await fw.order([("SKU-SHOE", 2, DC.id)])
    [shipment] = await shipments_of(services, order.id)
    await pick_all(services, PICKER, shipment)
    await services.fulfilment.pack(PICKER, shipment.id, [BOX])
    level = await fw.level("SKU-SHOE", DC.id)
    results = await asyncio.gather(*[services.shipping.ship(PICKER, shipment.id) for _ in range(4)], return_exceptions=True)
    ok = [r for r in results if isinstance(r, Shipment)]
    refused = [r for r in results if isinstance(r, DomainError)]
    assert len(ok) == 1 and len(refused) == 3, results
    after = await fw.level("SKU-SHOE", DC.id)
    assert (after["on_hand"], after["reserved"]) == (level["on_hand"] - 2, level["reserved"] - 2)
    assert len(await fw.events(type="ShipmentStatusChanged", **{"payload.to": "SHIPPED"})) == 1
    await fw.assert_invariant()


async def test_a_requested_date_makes_cheapest_on_time_the_default_policy(fw: FulfilmentWorld, services: Services) -> None:
    from datetime import date

    from app.domain.carriers import add_business_days

    soon = add_business_days(date.today(), 2)
    order = await fw.order([("SKU-SHOE", 1, DC.id)], requested_date=soon)
    [shipment] = await shipments_of(services, order.id)
    assert shipment.shipping_policy == "CHEAPEST_ON_TIME" and shipment.promised_date == soon
    _, quotes, chosen = await services.shipping.rates(ADMIN, shipment.id)
    on_time = [q for q in quotes if q.estimated_delivery <= soon]
    assert on_time and chosen == min(on_time, key=lambda q: (q.amount.cents, q.estimated_delivery, q.carrier, q.service))
    cheapest = quotes[0]
    assert cheapest.estimated_delivery > soon and chosen != cheapest  # ground would be late: paying for speed
