"""An allocated order picked, packed, shipped, tracked and delivered through the API and the webhook."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from app.domain.carriers import is_valid_tracking_number
from app.services.container import Services
from tests.conftest import GraphQLClient
from tests.factories import World
from tests.fulfilment_world import BOS, DC, FulfilmentWorld, hours_from_now, post_tracking, tracking_event
from tests.test_customers import gid

SHIPMENT_FIELDS = """
  id number status method onHold locationCode eta promisedDate late itemCount handling trackingNumber
  lines { id lineId sku quantity pickedQuantity handling }
  packages { number weightGrams }
  label { carrier service serviceName trackingNumber zone billableWeightGrams estimatedDelivery cost { cents } }
  trackingEvents { id kind }
  packingSlipUrl labelUrl
"""
ORDER_SHIPMENTS = f"""
query($id: ID!) {{ order(id: $id) {{ status eta shipments {{ {SHIPMENT_FIELDS} }} }} }}
"""
PICK_LIST = """
query($loc: String!, $ids: [ID!]) {
  pickList(locationId: $loc, shipmentIds: $ids) {
    locationCode unitCount pdfUrl
    shipments { tote shipmentNumber itemCount handling }
    lines { sequence sku quantity bin { code } zoneName handling shares { tote shipmentNumber quantity } }
  }
}
"""
START = """
mutation($ids: [ID!]!) { startPicking(input: {shipmentIds: $ids}) {
  __typename ... on StartPickingPayload { shipments { status } pickList { unitCount } }
  ... on Error { code message field }
} }
"""
CONFIRM = """
mutation($id: ID!, $lines: [PickedLineInput!]!) { confirmPick(input: {shipmentId: $id, lines: $lines}) {
  __typename ... on ConfirmPickPayload { shipment { status lines { sku quantity pickedQuantity } } order { status } }
  ... on Error { code message field }
} }
"""
PACK = """
mutation($id: ID!, $packages: [PackageInput!]!) { packShipment(input: {shipmentId: $id, packages: $packages}) {
  __typename ... on PackShipmentPayload { shipment { status packages { number weightGrams } } }
  ... on Error { code message field }
} }
"""
SHIP = """
mutation($id: ID!, $carrier: String, $service: String, $policy: ShippingPolicy) {
  shipShipment(input: {shipmentId: $id, carrier: $carrier, service: $service, policy: $policy}) {
  __typename ... on ShipShipmentPayload { shipment { status trackingNumber eta label { carrier service } labelUrl } }
  ... on Error { code message field }
} }
"""
RATES = """
query($id: ID!) { shippingRates(shipmentId: $id) {
  policy recommended { carrier service }
  quotes { carrier service level amount { cents } zone transitDays estimatedDelivery meetsPromise billableWeightGrams }
} }
"""

pytestmark = pytest.mark.usefixtures("reservations_consistent")

BOX = {"weightGrams": 2600, "lengthCm": 40, "widthCm": 30, "heightCm": 25}


async def picked_and_packed(gql: GraphQLClient, shipment: dict[str, Any]) -> None:
    started = await gql.data(START, {"ids": [shipment["id"]]})
    assert started["startPicking"]["__typename"] == "StartPickingPayload", started
    lines = [{"lineId": line["id"], "pickedQuantity": line["quantity"]} for line in shipment["lines"]]
    picked = await gql.data(CONFIRM, {"id": shipment["id"], "lines": lines})
    assert picked["confirmPick"]["__typename"] == "ConfirmPickPayload", picked
    packed = await gql.data(PACK, {"id": shipment["id"], "packages": [BOX]})
    assert packed["packShipment"]["shipment"]["status"] == "PACKED", packed


@pytest.fixture
async def fw(world: World, services: Services) -> FulfilmentWorld:
    w = FulfilmentWorld(world, services)
    await w.setup()
    return w


async def test_order_is_picked_packed_shipped_tracked_and_delivered(fw: FulfilmentWorld, gql: GraphQLClient, http: httpx.AsyncClient) -> None:
    order = await fw.order([("SKU-KETTLE", 1, DC.id), ("SKU-SHOE", 2, DC.id)])
    await fw.assert_invariant()
    data = await gql.data(ORDER_SHIPMENTS, {"id": gid("Order", order.id)})
    [shipment] = data["order"]["shipments"]
    assert shipment["status"] == "PENDING" and shipment["locationCode"] == DC.id and shipment["itemCount"] == 3
    assert shipment["eta"] is not None and data["order"]["eta"] == shipment["eta"] == shipment["promisedDate"]
    assert shipment["handling"] == ["FRAGILE"] and shipment["labelUrl"] is None

    # The pick list walks zone A (walk order 1) before zone C (3).
    wave = (await gql.data(PICK_LIST, {"loc": DC.id, "ids": None}))["pickList"]
    assert [(line["sku"], line["bin"]["code"], line["quantity"]) for line in wave["lines"]] == [
        ("SKU-SHOE", "A-10-2-01", 2), ("SKU-KETTLE", "C-02-1-05", 1)
    ]
    assert wave["shipments"][0]["tote"] == 1 and wave["pdfUrl"].startswith("/documents/pick-lists/DC-OH-COL.pdf?token=")

    await picked_and_packed(gql, shipment)
    assert (await fw.order_doc(order.id))["status"] == "IN_FULFILLMENT"

    rates = (await gql.data(RATES, {"id": shipment["id"]}))["shippingRates"]
    carriers = {q["carrier"] for q in rates["quotes"]}
    assert carriers == {"ups", "usps", "fedex"} and len(rates["quotes"]) == 9
    cents = [q["amount"]["cents"] for q in rates["quotes"]]
    assert cents == sorted(cents)
    assert rates["policy"] == "CHEAPEST" and (rates["recommended"]["carrier"], rates["recommended"]["service"]) == (
        rates["quotes"][0]["carrier"], rates["quotes"][0]["service"])
    # A 40x30x25 box is billed on dimensional weight (30000 cm³ / 139 in³ per lb -> 14 lb), not its 2.6 kg.
    ups_ground = next(q for q in rates["quotes"] if q["service"] == "UPS_GROUND")
    assert ups_ground["billableWeightGrams"] == round(14 * 453.59237)

    before = {sku: await fw.level(sku, DC.id) for sku in ("SKU-KETTLE", "SKU-SHOE")}
    shipped = (await gql.data(SHIP, {"id": shipment["id"], "carrier": "ups", "service": "UPS_GROUND"}))["shipShipment"]
    assert shipped["shipment"]["status"] == "SHIPPED", shipped
    tracking = shipped["shipment"]["trackingNumber"]
    assert tracking.startswith("1Z") and is_valid_tracking_number("ups", tracking)
    assert shipped["shipment"]["labelUrl"].startswith("/documents/shipments/") and "/label.pdf?token=" in shipped["shipment"]["labelUrl"]
    # On hand and reserved fall together; allocations are fulfilled; the invariant holds.
    for sku, qty in (("SKU-KETTLE", 1), ("SKU-SHOE", 2)):
        after = await fw.level(sku, DC.id)
        assert (after["on_hand"], after["reserved"]) == (before[sku]["on_hand"] - qty, before[sku]["reserved"] - qty)
        assert after["available"] == before[sku]["available"]
    doc = await fw.order_doc(order.id)
    assert doc["status"] == "SHIPPED" and {a["status"] for a in doc["allocations"]} == {"FULFILLED"}
    await fw.assert_invariant()

    # The carrier reports progress; the shipment and the order follow.
    for n, kind in enumerate(("PICKED_UP", "IN_TRANSIT", "OUT_FOR_DELIVERY")):
        response = await post_tracking(http, "ups", [tracking_event(f"ev-{n}", tracking, kind, hours_from_now(-10 + n))])
        assert response.status_code == 200, response.text
    data = await gql.data(ORDER_SHIPMENTS, {"id": gid("Order", order.id)})
    assert data["order"]["shipments"][0]["status"] == "OUT_FOR_DELIVERY" and data["order"]["status"] == "SHIPPED"
    delivered_at = hours_from_now(-1)
    response = await post_tracking(http, "ups", [tracking_event("ev-9", tracking, "DELIVERED", delivered_at, location="Cambridge, MA")])
    assert response.json()["results"] == [{"eventId": "ev-9", "trackingNumber": tracking, "outcome": "APPLIED", "status": "DELIVERED"}]
    data = await gql.data(ORDER_SHIPMENTS, {"id": gid("Order", order.id)})
    assert data["order"]["status"] == "DELIVERED"
    assert data["order"]["shipments"][0]["eta"] == data["order"]["eta"] == delivered_at.date().isoformat()
    assert [e["kind"] for e in data["order"]["shipments"][0]["trackingEvents"]] == ["PICKED_UP", "IN_TRANSIT", "OUT_FOR_DELIVERY", "DELIVERED"]

    # The audit trail: every step is an event carrying the order, customer, channel and shipment.
    shipment_events = await fw.events(order_id=order.id, aggregate_type="Shipment")
    kinds = [e["type"] for e in shipment_events]
    assert kinds.count("TrackingEventReceived") == 4
    transitions = [(e["payload"]["from"], e["payload"]["to"]) for e in shipment_events if e["type"] == "ShipmentStatusChanged"]
    assert transitions == [
        ("PENDING", "PICKING"), ("PICKING", "PICKED"), ("PICKED", "PACKED"), ("PACKED", "SHIPPED"),
        ("SHIPPED", "IN_TRANSIT"), ("IN_TRANSIT", "OUT_FOR_DELIVERY"), ("OUT_FOR_DELIVERY", "DELIVERED"),
    ]
    assert all(e["order_id"] == order.id and e["customer_id"] == order.customer_id and e["channel_id"] == "web" for e in shipment_events)
    order_moves = [(e["payload"]["from"], e["payload"]["to"]) for e in await fw.events(order_id=order.id, type="OrderStatusChanged")]
    assert order_moves == [("ALLOCATED", "IN_FULFILLMENT"), ("IN_FULFILLMENT", "SHIPPED"), ("SHIPPED", "DELIVERED")]
    stock_events = await fw.events(type="StockLevelChanged", order_id=order.id)
    assert {(e["sku"], e["payload"]["cause"]) for e in stock_events} == {("SKU-KETTLE", "SHIPMENT"), ("SKU-SHOE", "SHIPMENT")}


async def test_split_order_rolls_up_partially_shipped_then_shipped_then_delivered(
    fw: FulfilmentWorld, gql: GraphQLClient, http: httpx.AsyncClient
) -> None:
    order = await fw.order([("SKU-KETTLE", 1, DC.id), ("SKU-SHOE", 1, BOS.id)])
    shipments = (await gql.data(ORDER_SHIPMENTS, {"id": gid("Order", order.id)}))["order"]["shipments"]
    assert sorted(s["locationCode"] for s in shipments) == sorted([DC.id, BOS.id])
    numbers = []
    for n, shipment in enumerate(sorted(shipments, key=lambda s: s["locationCode"])):
        await picked_and_packed(gql, shipment)
        quotes = (await gql.data(RATES, {"id": shipment["id"]}))["shippingRates"]["quotes"]
        shipped = (await gql.data(SHIP, {"id": shipment["id"], "policy": "FASTEST"}))["shipShipment"]
        assert shipped["__typename"] == "ShipShipmentPayload", shipped
        # FASTEST: the earliest delivery of all quotes (ties go to the cheaper).
        fastest = min(quotes, key=lambda q: (q["estimatedDelivery"], q["amount"]["cents"]))
        assert shipped["shipment"]["eta"] == fastest["estimatedDelivery"]
        assert shipped["shipment"]["label"]["service"] == fastest["service"]
        numbers.append(shipped["shipment"]["trackingNumber"])
        expected = "PARTIALLY_SHIPPED" if n == 0 else "SHIPPED"
        assert (await fw.order_doc(order.id))["status"] == expected
    carrier_of = {s["trackingNumber"]: s["label"]["carrier"] for s in (await gql.data(ORDER_SHIPMENTS, {"id": gid("Order", order.id)}))["order"]["shipments"]}
    first, second = numbers
    await post_tracking(http, carrier_of[first], [tracking_event("d1", first, "DELIVERED", hours_from_now(-1))])
    assert (await fw.order_doc(order.id))["status"] == "SHIPPED"  # one of two delivered
    await post_tracking(http, carrier_of[second], [tracking_event("d2", second, "DELIVERED", hours_from_now(-1))])
    assert (await fw.order_doc(order.id))["status"] == "DELIVERED"
    await fw.assert_invariant()
