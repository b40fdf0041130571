"""editOrder: address (re-routing), quantities, added/cancelled/removed lines; atomic and audited."""

from __future__ import annotations

import pytest

from app.domain.principals import Role
from app.services.container import Services
from tests.conftest import GraphQLClient
from tests.factories import NEW_YORK, World, level
from tests.order_helpers import CAPTURE, ERRORS, ORDER_FIELDS, PICKUP_ERROR, capture_input, counts, network, pickup, reserved

pytestmark = pytest.mark.usefixtures("reservations_consistent")

EDIT = f"""
mutation($input: EditOrderInput!) {{
  editOrder(input: $input) {{ __typename ... on EditOrderPayload {{ order {{ {ORDER_FIELDS} }} }} {ERRORS} {PICKUP_ERROR} }}
}}
"""
NYC_ADDRESS = {"line1": "350 5th Ave", "city": "New York", "postalCode": "10118", "region": "NY"}
NOWHERE = {"line1": "1 Main St", "city": "Nowhereville", "postalCode": "00000", "region": "NY"}  # geocodes to nothing


async def _capture(gql: GraphQLClient, external_id: str = "W-1", **kw: object) -> dict:
    result = (await gql.data(CAPTURE, {"input": capture_input(external_id, **kw)}))["captureOrder"]
    assert result["__typename"] == "CaptureOrderPayload", result
    return result["order"]


async def _edit(gql: GraphQLClient, order: dict, **changes: object) -> dict:
    return (await gql.data(EDIT, {"input": {"orderId": order["id"], "reason": "customer called", **changes}}))["editOrder"]


async def test_quantities_and_lines_change_with_their_reservations(world: World, gql: GraphQLClient, services: Services) -> None:
    await network(world)
    order = await _capture(gql, lines=[{"sku": "SKU-1", "quantity": 2}, {"sku": "SKU-2", "quantity": 2}])
    assert await reserved(world) == {"SKU-1@ST-BOS": 2, "SKU-2@ST-BOS": 2}

    edited = await _edit(
        gql, order,
        lines=[{"lineId": "1", "quantity": 6}],  # 4 more: Chicago can fill everything new, so it gets all of it
        cancelLines=["2"],
        addLines=[{"sku": "SKU-3", "quantity": 4}],
    )
    assert edited["__typename"] == "EditOrderPayload", edited
    after = edited["order"]
    assert [(line["id"], line["sku"], line["openQuantity"], line["allocatedQuantity"]) for line in after["lines"]] == [
        ("1", "SKU-1", 6, 6), ("2", "SKU-2", 0, 0), ("3", "SKU-3", 4, 4)
    ]
    assert after["status"] == "ALLOCATED"
    assert after["totals"]["subtotal"]["cents"] == 6 * 1000 + 4 * 400
    assert await reserved(world) == {"SKU-1@ST-BOS": 2, "SKU-1@DC-CHI": 4, "SKU-3@DC-CHI": 4}

    # Lowered quantities give back the newest allocations first: Chicago's 4, then one of Boston's 2.
    smaller = (await _edit(gql, order, lines=[{"lineId": "1", "quantity": 1}], removeLines=["3"]))["order"]
    assert [(line["id"], line["openQuantity"]) for line in smaller["lines"]] == [("1", 1), ("2", 0)]
    assert await reserved(world) == {"SKU-1@ST-BOS": 1}
    edited_events = [doc async for doc in services.mongo.db["events"].find({"type": "OrderEdited"}).sort("_id", 1)]
    assert [e["reason"] for e in edited_events] == ["customer called", "customer called"]
    assert edited_events[0]["actor"] == {"subject": "apikey:test-admin", "role": "ADMIN"}
    assert edited_events[0]["payload"]["routing"]["v"] >= 1  # why the new units went where they did
    assert edited_events[0]["payload"]["lines"] == [
        {"lineId": "1", "sku": "SKU-1", "from": 2, "to": 6},
        {"lineId": "2", "sku": "SKU-2", "from": 2, "to": 0},
        {"lineId": "3", "sku": "SKU-3", "from": 0, "to": 4},
    ]


async def test_a_new_address_reroutes_only_when_the_best_location_changes(world: World, gql: GraphQLClient) -> None:
    await network(world)
    order = await _capture(gql, lines=[{"sku": "SKU-1", "quantity": 2}])
    same_city = await _edit(gql, order, shippingAddress={"line1": "2 Beacon St", "city": "Boston", "postalCode": "02108"},
                            point={"lat": 42.358, "lng": -71.063})
    kept = same_city["order"]
    assert [(a["locationCode"], a["status"]) for a in kept["allocations"]] == [("ST-BOS", "OPEN")]

    await world.add_stock(level("SKU-1", "ST-NYC", 3))
    moved = (await _edit(gql, order, shippingAddress=NYC_ADDRESS, point={"lat": NEW_YORK.lat, "lng": NEW_YORK.lng}))["order"]
    assert [(a["locationCode"], a["quantity"], a["status"]) for a in moved["allocations"]] == [
        ("ST-BOS", 2, "RELEASED"), ("ST-NYC", 2, "OPEN")
    ]
    assert await reserved(world) == {"SKU-1@ST-NYC": 2}


async def test_refused_edits_write_nothing(world: World, gql: GraphQLClient, services: Services) -> None:
    await network(world)
    order = await _capture(gql, lines=[{"sku": "SKU-1", "quantity": 2}])
    amazon = await _capture(gql, "A-1", channel="amazon", lines=[{"sku": "SKU-HOT", "quantity": 9}])
    store = await _capture(gql, "W-P", lines=[{"sku": "SKU-2", "quantity": 1}], delivery=pickup("ST-CAM"))
    before = await counts(world), await reserved(world)
    cases = [
        (order, {}, "InvalidInputError", ["orderId"]),
        (order, {"lines": [{"lineId": "9", "quantity": 1}]}, "InvalidInputError", ["lines", "0", "lineId"]),
        (order, {"lines": [{"lineId": "1", "quantity": 0}]}, "InvalidInputError", ["lines", "0", "quantity"]),
        (order, {"addLines": [{"sku": "SKU-1", "quantity": 1}]}, "InvalidInputError", ["addLines", "0", "sku"]),
        (order, {"addLines": [{"sku": "NOPE", "quantity": 1}]}, "InvalidInputError", ["addLines", "0", "sku"]),
        (order, {"cancelLines": ["1"], "removeLines": ["1"]}, "InvalidInputError", ["removeLines", "0"]),
        (order, {"shippingAddress": NOWHERE}, "InvalidInputError", ["shippingAddress", "postalCode"]),
        (amazon, {"lines": [{"lineId": "1", "quantity": 11}]}, "ConflictError", ["lines"]),
        (store, {"lines": [{"lineId": "1", "quantity": 7}]}, "PickupUnavailableError", ["delivery", "pickupLocation"]),
        (store, {"shippingAddress": NYC_ADDRESS, "point": {"lat": 1, "lng": 1}}, "InvalidInputError", ["shippingAddress"]),
    ]
    for target, changes, typename, field in cases:
        result = await _edit(gql, target, **changes)
        assert (result["__typename"], result["field"]) == (typename, field), (changes, result)
    assert (await counts(world), await reserved(world)) == before

    await gql.data("mutation($id: ID!) { cancelOrder(input: {orderId: $id, reason: \"x\"}) { __typename } }", {"id": order["id"]})
    late = await _edit(gql, order, lines=[{"lineId": "1", "quantity": 1}])
    assert (late["__typename"], late["code"]) == ("ConflictError", "ILLEGAL_TRANSITION")


async def test_only_csrs_and_admins_edit(world: World, gql: GraphQLClient, services: Services) -> None:
    await network(world)
    order = await _capture(gql)
    _, csr = await services.auth.create_api_key(name="csr", role=Role.CSR)
    _, amazon = await services.auth.create_api_key(name="web", role=Role.CHANNEL, channel_id="web")
    denied = (await gql.as_(amazon).data(EDIT, {"input": {"orderId": order["id"], "reason": "x", "lines": [{"lineId": "1", "quantity": 1}]}}))
    assert denied["editOrder"]["__typename"] == "PermissionDeniedError"
    ok = (await gql.as_(csr).data(EDIT, {"input": {"orderId": order["id"], "reason": "x", "lines": [{"lineId": "1", "quantity": 1}]}}))
    assert ok["editOrder"]["order"]["lines"][0]["quantity"] == 1
    assert await reserved(world) == {"SKU-1@ST-BOS": 1}


async def test_cancelling_every_line_cancels_the_order(world: World, gql: GraphQLClient) -> None:
    await network(world)
    order = await _capture(gql, lines=[{"sku": "SKU-1", "quantity": 2}, {"sku": "SKU-3", "quantity": 1}])
    result = (await _edit(gql, order, cancelLines=["1", "2"]))["order"]
    assert result["status"] == "CANCELLED"
    assert await reserved(world) == {}
