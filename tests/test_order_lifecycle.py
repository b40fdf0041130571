"""Holds, releases, cancellation (reservations given back), illegal transitions, timeline."""

from __future__ import annotations

import pytest

from app.domain.principals import Role
from app.services.container import Services
from tests.conftest import GraphQLClient
from tests.factories import World
from tests.order_helpers import CAPTURE, ERRORS, ORDER_FIELDS, capture_input, network, reserved

pytestmark = pytest.mark.usefixtures("reservations_consistent")

HOLD = f"mutation($input: HoldOrderInput!) {{ holdOrder(input: $input) {{ __typename ... on HoldOrderPayload {{ order {{ {ORDER_FIELDS} }} }} {ERRORS} }} }}"
RELEASE = f"mutation($input: ReleaseOrderHoldInput!) {{ releaseOrderHold(input: $input) {{ __typename ... on ReleaseOrderHoldPayload {{ order {{ {ORDER_FIELDS} }} }} {ERRORS} }} }}"
CANCEL = f"mutation($input: CancelOrderInput!) {{ cancelOrder(input: $input) {{ __typename ... on CancelOrderPayload {{ order {{ {ORDER_FIELDS} }} }} {ERRORS} }} }}"
TIMELINE = "query($id: ID!) { order(id: $id) { timeline { type actor { subject role } reason payload } } }"


async def _capture(gql: GraphQLClient, external_id: str = "W-1", **kw: object) -> dict:
    result = (await gql.data(CAPTURE, {"input": capture_input(external_id, **kw)}))["captureOrder"]
    assert result["__typename"] == "CaptureOrderPayload", result
    return result["order"]


async def test_hold_and_release_keep_reservations_and_record_who_and_why(world: World, gql: GraphQLClient) -> None:
    await network(world)
    order = await _capture(gql)
    held = (await gql.data(HOLD, {"input": {"orderId": order["id"], "reason": "fraud check"}}))["holdOrder"]["order"]
    assert held["status"] == "ON_HOLD"
    assert held["hold"] == {"reason": "fraud check", "previousStatus": "ALLOCATED"}
    assert await reserved(world) == {"SKU-1@ST-BOS": 2}

    again = (await gql.data(HOLD, {"input": {"orderId": order["id"], "reason": "twice"}}))["holdOrder"]
    assert (again["__typename"], again["code"]) == ("ConflictError", "ILLEGAL_TRANSITION")

    released = (await gql.data(RELEASE, {"input": {"orderId": order["id"], "reason": "cleared"}}))["releaseOrderHold"]["order"]
    assert (released["status"], released["hold"], released["version"]) == ("ALLOCATED", None, 3)
    timeline = (await gql.data(TIMELINE, {"id": order["id"]}))["order"]["timeline"]
    changes = [(e["type"], e["reason"], e["payload"].get("from"), e["payload"].get("to")) for e in timeline if e["type"].startswith("Order")]
    assert changes == [
        ("OrderCaptured", None, None, None),
        ("OrderStatusChanged", None, "CREATED", "ALLOCATED"),
        ("OrderHeld", "fraud check", "ALLOCATED", None),
        ("OrderStatusChanged", "fraud check", "ALLOCATED", "ON_HOLD"),
        ("OrderHoldReleased", "cleared", None, "ALLOCATED"),
        ("OrderStatusChanged", "cleared", "ON_HOLD", "ALLOCATED"),
    ]
    assert {e["actor"]["subject"] for e in timeline} == {"apikey:test-admin"}


async def test_cancel_releases_every_reservation(world: World, gql: GraphQLClient, services: Services) -> None:
    await network(world)
    # No location fills everything (SKU-HOT is short), so routing splits: Boston's 5, the rest from Chicago.
    order = await _capture(gql, lines=[{"sku": "SKU-1", "quantity": 12}, {"sku": "SKU-HOT", "quantity": 12}])
    assert await reserved(world) == {"SKU-1@ST-BOS": 5, "SKU-1@DC-CHI": 7, "SKU-HOT@DC-CHI": 10}
    cancelled = (await gql.data(CANCEL, {"input": {"orderId": order["id"], "reason": "customer changed mind"}}))["cancelOrder"]["order"]
    assert cancelled["status"] == "CANCELLED"
    assert {a["status"] for a in cancelled["allocations"]} == {"RELEASED"}
    assert await reserved(world) == {}
    releases = [doc async for doc in services.mongo.db["events"].find({"type": "StockLevelChanged", "payload.cause": "RELEASE"})]
    assert sorted((e["sku"], e["location_id"], e["payload"]["reservedDelta"]) for e in releases) == [
        ("SKU-1", "DC-CHI", -7), ("SKU-1", "ST-BOS", -5), ("SKU-HOT", "DC-CHI", -10)
    ]
    assert {e["reason"] for e in releases} == {"customer changed mind"} and len({e["order_id"] for e in releases}) == 1
    event = await services.mongo.db["events"].find_one({"type": "OrderCancelled"})
    assert event is not None and {a["status"] for a in event["payload"]["released"]} == {"RELEASED"}
    assert sorted(a["quantity"] for a in event["payload"]["released"]) == [5, 7, 10]

    twice = (await gql.data(CANCEL, {"input": {"orderId": order["id"], "reason": "again"}}))["cancelOrder"]
    assert (twice["__typename"], twice["code"]) == ("ConflictError", "ILLEGAL_TRANSITION")
    held = (await gql.data(HOLD, {"input": {"orderId": order["id"], "reason": "late"}}))["holdOrder"]
    assert held["code"] == "ILLEGAL_TRANSITION"


async def test_illegal_transitions_and_missing_reasons_write_nothing(world: World, gql: GraphQLClient, services: Services) -> None:
    await network(world)
    order = await _capture(gql)
    before = await services.mongo.db["events"].count_documents({})
    not_held = (await gql.data(RELEASE, {"input": {"orderId": order["id"]}}))["releaseOrderHold"]
    assert (not_held["code"], not_held["field"]) == ("ILLEGAL_TRANSITION", ["orderId"])
    no_reason = (await gql.data(CANCEL, {"input": {"orderId": order["id"], "reason": " "}}))["cancelOrder"]
    assert (no_reason["__typename"], no_reason["field"]) == ("InvalidInputError", ["reason"])
    wrong_type = (await gql.data(HOLD, {"input": {"orderId": "TG9jYXRpb246U1QtQk9T", "reason": "x"}}))["holdOrder"]
    assert (wrong_type["__typename"], wrong_type["field"]) == ("InvalidInputError", ["orderId"])
    await services.mongo.db["orders"].update_one({"external_id": "W-1"}, {"$set": {"status": "SHIPPED", "allocations.$[].status": "FULFILLED"}})
    await services.mongo.db["inventory"].update_one({"_id": "SKU-1@ST-BOS"}, {"$inc": {"reserved": -2, "on_hand": -2}})
    shipped = (await gql.data(CANCEL, {"input": {"orderId": order["id"], "reason": "too late"}}))["cancelOrder"]
    assert shipped["code"] == "ILLEGAL_TRANSITION"
    assert await services.mongo.db["events"].count_documents({}) == before


async def test_who_may_hold_and_cancel(world: World, gql: GraphQLClient, services: Services) -> None:
    await network(world)
    order = await _capture(gql, customer={"email": "ada@example.com"})
    customer_id = (await services.mongo.db["customers"].find_one({"email": "ada@example.com"}))["_id"]
    _, shopper = await services.auth.create_api_key(name="ada", role=Role.CUSTOMER, customer_id=customer_id)
    _, stranger = await services.auth.create_api_key(name="bob", role=Role.CUSTOMER, customer_id="0" * 24)
    _, amazon = await services.auth.create_api_key(name="amazon", role=Role.CHANNEL, channel_id="amazon")

    denied = (await gql.as_(shopper).data(HOLD, {"input": {"orderId": order["id"], "reason": "x"}}))["holdOrder"]
    assert denied["__typename"] == "PermissionDeniedError"
    for outsider in (stranger, amazon):
        hidden = (await gql.as_(outsider).data(CANCEL, {"input": {"orderId": order["id"], "reason": "x"}}))["cancelOrder"]
        assert (hidden["__typename"], hidden["code"]) == ("NotFoundError", "NOT_FOUND")
    own = (await gql.as_(shopper).data(CANCEL, {"input": {"orderId": order["id"], "reason": "changed my mind"}}))["cancelOrder"]
    assert own["order"]["status"] == "CANCELLED"
    assert await reserved(world) == {}
