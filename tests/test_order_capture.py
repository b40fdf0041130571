"""captureOrder: capture, customer matching, idempotency, validation with nothing written on refusal."""

from __future__ import annotations

import asyncio

import pytest

from app.domain.principals import Role
from app.services.container import Services
from tests.conftest import GraphQLClient
from tests.factories import World, customer
from tests.order_helpers import CAPTURE, capture_input, capture_request, counts, network, pickup, reserved

pytestmark = pytest.mark.usefixtures("reservations_consistent")


async def test_capture_routes_reserves_and_events(world: World, gql: GraphQLClient, services: Services) -> None:
    await network(world)
    given = capture_input(lines=[{"sku": "SKU-1", "quantity": 2}, {"sku": "SKU-2", "quantity": 1, "unitPriceCents": 2000}])
    result = (await gql.data(CAPTURE, {"input": given}))["captureOrder"]
    assert result["__typename"] == "CaptureOrderPayload", result
    order = result["order"]
    assert result["replayed"] is False
    assert order["status"] == "ALLOCATED"
    assert order["customer"]["email"] == "ada@example.com"
    assert [(a["lineId"], a["sku"], a["locationCode"], a["quantity"], a["status"]) for a in order["allocations"]] == [
        ("1", "SKU-1", "ST-BOS", 2, "OPEN"),
        ("2", "SKU-2", "ST-BOS", 1, "OPEN"),
    ]
    assert order["totals"]["subtotal"]["cents"] == 2 * 1000 + 2000  # catalog price for line 1, given price for line 2
    assert await reserved(world) == {"SKU-1@ST-BOS": 2, "SKU-2@ST-BOS": 1}
    types = [doc["type"] async for doc in services.mongo.db["events"].find().sort("_id", 1)]
    # The same transaction plans the order's shipment (fulfilment's sync).
    assert types == ["CustomerCreated", "OrderCaptured", "OrderStatusChanged", "StockLevelChanged", "StockLevelChanged", "ShipmentCreated"]
    change = await services.mongo.db["events"].find_one({"type": "OrderStatusChanged"})
    assert change["payload"] == {"from": "CREATED", "to": "ALLOCATED"}


async def test_unfillable_quantity_is_backordered_or_refused_per_channel(world: World, gql: GraphQLClient) -> None:
    await network(world)
    big = [{"sku": "SKU-HOT", "quantity": 15}]
    web = (await gql.data(CAPTURE, {"input": capture_input("W-BIG", lines=big)}))["captureOrder"]["order"]
    assert web["status"] == "PARTIALLY_ALLOCATED"
    assert web["lines"][0]["allocatedQuantity"] == 10 and web["lines"][0]["backorderedQuantity"] == 5

    before = await counts(world)
    amazon = (await gql.data(CAPTURE, {"input": capture_input("A-BIG", channel="amazon", lines=[{"sku": "SKU-HOT", "quantity": 1}])}))
    refused = amazon["captureOrder"]
    assert (refused["__typename"], refused["code"], refused["field"]) == ("ConflictError", "INSUFFICIENT_STOCK", ["lines", "0", "quantity"])
    assert await counts(world) == before
    assert await reserved(world) == {"SKU-HOT@DC-CHI": 10}


async def test_replay_returns_the_same_order_and_a_changed_payload_is_refused(world: World, gql: GraphQLClient) -> None:
    await network(world)
    given = capture_input("W-7")
    first = (await gql.data(CAPTURE, {"input": given}))["captureOrder"]
    before = await counts(world)
    again = (await gql.data(CAPTURE, {"input": given | {"customer": {"email": " ADA@example.com ", "firstName": "Ada", "lastName": "Lovelace"}}}))["captureOrder"]
    assert again["replayed"] is True and again["order"] == first["order"]
    assert await counts(world) == before

    changed = (await gql.data(CAPTURE, {"input": given | {"lines": [{"sku": "SKU-1", "quantity": 3}]}}))["captureOrder"]
    assert (changed["__typename"], changed["code"], changed["field"]) == ("ConflictError", "DUPLICATE_EXTERNAL_ID", ["externalId"])
    assert await counts(world) == before
    assert await reserved(world) == {"SKU-1@ST-BOS": 2}


async def test_concurrent_replays_create_one_order(world: World, services: Services) -> None:
    await network(world)
    from app.domain.principals import SYSTEM

    request = capture_request(capture_input("W-RACE"))
    results = await asyncio.gather(*[services.order_capture.capture(SYSTEM, request) for _ in range(10)])
    assert len({r.order.id for r in results}) == 1
    assert sum(not r.replayed for r in results) == 1
    assert await services.mongo.db["orders"].count_documents({}) == 1
    assert await services.mongo.db["customers"].count_documents({}) == 1
    assert await reserved(world) == {"SKU-1@ST-BOS": 2}


async def test_customers_are_matched_by_identity_email_or_phone(world: World, gql: GraphQLClient, services: Services) -> None:
    await network(world)
    known = customer("Grace", "Hopper", email="grace@example.com", phone="+16175550101")
    await world.add_customers(known)
    by_phone = capture_input("P-1", channel="pos", customer={"phone": "+1 (617) 555-0101", "channelCustomerId": "LOYALTY-9"})
    first = (await gql.data(CAPTURE, {"input": by_phone}))["captureOrder"]["order"]
    by_identity = capture_input("P-2", channel="pos", customer={"channelCustomerId": "LOYALTY-9"})
    second = (await gql.data(CAPTURE, {"input": by_identity}))["captureOrder"]["order"]
    by_email = capture_input("W-9", customer={"email": "GRACE@example.com"})
    third = (await gql.data(CAPTURE, {"input": by_email}))["captureOrder"]["order"]
    assert first["customer"]["email"] == second["customer"]["email"] == third["customer"]["email"] == "grace@example.com"
    assert await services.mongo.db["customers"].count_documents({}) == 1
    stored = await services.mongo.db["customers"].find_one({"_id": known.id})
    assert stored["identities"] == [{"channel_id": "pos", "external_id": "LOYALTY-9"}]


async def test_concurrent_first_orders_of_one_new_customer_create_one_customer(world: World, services: Services) -> None:
    await network(world)
    from app.domain.principals import SYSTEM

    requests = [
        capture_request(capture_input(f"W-NEW-{i}", customer={"email": "new@example.com", "phone": "+16175550199"}))
        for i in range(8)
    ] + [capture_request(capture_input(f"W-PH-{i}", customer={"phone": "+1 212 555 0100"})) for i in range(4)]
    results = await asyncio.gather(*[services.order_capture.capture(SYSTEM, r) for r in requests])
    assert len({r.order.customer_id for r in results[:8]}) == 1
    assert len({r.order.customer_id for r in results[8:]}) == 1
    assert await services.mongo.db["customers"].count_documents({}) == 2


async def test_pickup_reserves_at_the_store_or_names_stores_that_can(world: World, gql: GraphQLClient) -> None:
    await network(world)
    ok = (await gql.data(CAPTURE, {"input": capture_input("W-P1", lines=[{"sku": "SKU-2", "quantity": 3}], delivery=pickup("ST-CAM"))}))
    order = ok["captureOrder"]["order"]
    assert [(a["locationCode"], a["quantity"]) for a in order["allocations"]] == [("ST-CAM", 3)]

    before = await counts(world)
    refused = (await gql.data(CAPTURE, {"input": capture_input("W-P2", lines=[{"sku": "SKU-2", "quantity": 3}], delivery=pickup("ST-BOS"))}))
    error = refused["captureOrder"]
    assert (error["__typename"], error["code"], error["field"]) == ("PickupUnavailableError", "PICKUP_UNAVAILABLE", ["delivery", "pickupLocation"])
    assert [s["locationCode"] for s in error["nearbyStores"]] == ["ST-CAM"]
    assert await counts(world) == before

    no_pickup = (await gql.data(CAPTURE, {"input": capture_input("W-P3", delivery=pickup("DC-CHI"))}))["captureOrder"]
    assert no_pickup["issues"] == [{"code": "INVALID_INPUT", "field": ["delivery", "pickupLocation"], "message": "DC-CHI does not offer pick-up in store"}]


async def test_validation_reports_every_issue_with_field_paths_and_writes_nothing(world: World, gql: GraphQLClient) -> None:
    await network(world)
    given = capture_input(
        "W-BAD",
        lines=[
            {"sku": "SKU-1", "quantity": 1},
            {"sku": "NOPE", "quantity": 1},
            {"sku": "SKU-2", "quantity": 0},
            {"sku": "SKU-1", "quantity": 1},
        ],
        delivery={"method": "SHIP", "point": {"lat": 91, "lng": 0}},
        notes="x" * 2001,
        customer={"email": "not-an-email"},
    )
    result = (await gql.data(CAPTURE, {"input": given}))["captureOrder"]
    assert result["__typename"] == "InvalidInputError"
    assert sorted((tuple(i["field"]), i["code"]) for i in result["issues"]) == sorted([
        (("customer", "email"), "INVALID_INPUT"),
        (("lines", "1", "sku"), "UNKNOWN_SKU"),
        (("lines", "2", "quantity"), "INVALID_INPUT"),
        (("lines", "3", "sku"), "INVALID_INPUT"),
        (("delivery", "address"), "INVALID_INPUT"),
        (("delivery", "point"), "INVALID_INPUT"),
        (("notes",), "INVALID_INPUT"),
    ])
    for bad, field in (
        (capture_input("W-B2", channel="nope"), ["channel"]),
        (capture_input("W-B3", lines=[{"sku": f"S{i}", "quantity": 1} for i in range(101)]), ["lines"]),
        (capture_input("W-B4", externalId="x" * 101), ["externalId"]),
        (capture_input("W-B5", lines=[]), ["lines"]),
        (capture_input("W-B6", customer={}), ["customer"]),
        (capture_input("W-B7", requestedDeliveryDate="2020-01-01"), ["requestedDeliveryDate"]),
    ):
        refused = (await gql.data(CAPTURE, {"input": bad}))["captureOrder"]
        assert refused["__typename"] == "InvalidInputError", refused
        assert field in [i["field"] for i in refused["issues"]], refused
    assert await counts(world) == {"orders": 0, "customers": 0, "events": 0, "customer_keys": 0}
    assert await reserved(world) == {}


async def test_roles_and_scopes_for_capture(world: World, gql: GraphQLClient, services: Services) -> None:
    await network(world)
    ada = customer()
    await world.add_customers(ada)
    _, amazon = await services.auth.create_api_key(name="amazon", role=Role.CHANNEL, channel_id="amazon")
    _, shopper = await services.auth.create_api_key(name="ada", role=Role.CUSTOMER, customer_id=ada.id)
    _, staff = await services.auth.create_api_key(name="bos", role=Role.STORE_STAFF, location_ids=frozenset({"ST-BOS"}))

    own = (await gql.as_(amazon).data(CAPTURE, {"input": capture_input("A-1", channel="amazon")}))["captureOrder"]
    assert own["__typename"] == "CaptureOrderPayload"
    other = (await gql.as_(amazon).data(CAPTURE, {"input": capture_input("W-X")}))["captureOrder"]
    assert (other["__typename"], other["field"]) == ("PermissionDeniedError", ["channel"])

    mine = (await gql.as_(shopper).data(CAPTURE, {"input": capture_input("W-ADA", customer=None)}))["captureOrder"]
    assert mine["order"]["customer"]["email"] == ada.email
    again = (await gql.as_(shopper).data(CAPTURE, {"input": capture_input("W-ADA", customer=None)}))["captureOrder"]
    assert again["replayed"] is True
    _, other_shopper = await services.auth.create_api_key(name="eve", role=Role.CUSTOMER, customer_id=customer("Eve", "X").id)
    taken = (await gql.as_(other_shopper).data(CAPTURE, {"input": capture_input("W-ADA", customer=None)}))["captureOrder"]
    assert (taken["__typename"], taken["code"]) == ("ConflictError", "DUPLICATE_EXTERNAL_ID")  # same input, not hers to see
    via_pos = (await gql.as_(shopper).data(CAPTURE, {"input": capture_input("P-ADA", channel="pos", customer=None)}))["captureOrder"]
    assert via_pos["__typename"] == "PermissionDeniedError"
    by_staff = (await gql.as_(staff).data(CAPTURE, {"input": capture_input("W-S")}))["captureOrder"]
    assert by_staff["__typename"] == "PermissionDeniedError"
    assert await services.mongo.db["orders"].count_documents({}) == 2
