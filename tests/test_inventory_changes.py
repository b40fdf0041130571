"""Stock mutations: adjust, receive, transfer, set policy; movements, events, scope, refusals."""

from __future__ import annotations

import asyncio

import pytest

from app.domain.locations import LocationKind
from app.domain.principals import Role
from app.services.container import Services
from tests.conftest import GraphQLClient
from tests.factories import BOSTON, CHICAGO, World, level, location, product

pytestmark = pytest.mark.usefixtures("reservations_consistent")

LEVEL = "level { sku locationCode onHand reserved safetyStock available reorderPoint reorderQuantity }"
ERRORS = "... on Error { __typename code message field } ... on InvalidInputError { issues { code field message } }"

ADJUST = f"""
mutation($input: AdjustStockInput!) {{
  adjustStock(input: $input) {{ __typename ... on AdjustStockPayload {{ {LEVEL} }} {ERRORS} }}
}}
"""
RECEIVE = f"""
mutation($input: ReceiveStockInput!) {{
  receiveStock(input: $input) {{ __typename ... on ReceiveStockPayload {{ {LEVEL} backordersFilled {{ externalId status }} }} {ERRORS} }}
}}
"""
TRANSFER = f"""
mutation($input: TransferStockInput!) {{
  transferStock(input: $input) {{
    __typename
    ... on TransferStockPayload {{ fromLevel {{ locationCode onHand available }} toLevel {{ locationCode onHand available }} }}
    {ERRORS}
  }}
}}
"""
POLICY = f"""
mutation($input: SetStockPolicyInput!) {{
  setStockPolicy(input: $input) {{ __typename ... on SetStockPolicyPayload {{ {LEVEL} }} {ERRORS} }}
}}
"""
MOVEMENTS = """
query($sku: String!) {
  inventory(sku: $sku) { levels { locationCode movements(first: 10) {
    edges { node { cause onHandDelta reservedDelta onHand available reason transferId actor { subject role } } }
  } } }
}
"""


async def _network(world: World) -> None:
    await world.add_locations(
        location("ST-BOS", BOSTON),
        location("DC-CHI", CHICAGO, LocationKind.DISTRIBUTION_CENTER),
    )
    await world.add_products(product("SKU-1"), product("SKU-2"))
    await world.add_stock(level("SKU-1", "ST-BOS", 10), level("SKU-1", "DC-CHI", 50, safety_stock=5))


async def _events(services: Services, **match: object) -> list[dict]:
    return [doc async for doc in services.mongo.db["events"].find(match).sort("_id", 1)]


async def test_adjust_by_delta_and_by_count_records_movements(world: World, gql: GraphQLClient, services: Services) -> None:
    await _network(world)
    down = await gql.data(ADJUST, {"input": {"sku": "SKU-1", "location": "ST-BOS", "delta": -3, "reason": "damaged in store"}})
    assert down["adjustStock"]["level"] == {
        "sku": "SKU-1", "locationCode": "ST-BOS", "onHand": 7, "reserved": 0, "safetyStock": 0, "available": 7,
        "reorderPoint": 0, "reorderQuantity": 0,
    }
    counted = await gql.data(ADJUST, {"input": {"sku": "SKU-1", "location": "ST-BOS", "count": 12, "reason": "cycle count"}})
    assert counted["adjustStock"]["level"]["onHand"] == 12

    stored = await services.mongo.db["inventory"].find_one({"_id": "SKU-1@ST-BOS"})
    assert (stored["on_hand"], stored["available"]) == (12, 12)
    movements = await gql.data(MOVEMENTS, {"sku": "SKU-1"})
    boston = next(lvl for lvl in movements["inventory"]["levels"] if lvl["locationCode"] == "ST-BOS")
    assert [e["node"] for e in boston["movements"]["edges"]] == [
        {"cause": "ADJUSTMENT", "onHandDelta": 5, "reservedDelta": 0, "onHand": 12, "available": 12, "reason": "cycle count",
         "transferId": None, "actor": {"subject": "apikey:test-admin", "role": "ADMIN"}},
        {"cause": "ADJUSTMENT", "onHandDelta": -3, "reservedDelta": 0, "onHand": 7, "available": 7, "reason": "damaged in store",
         "transferId": None, "actor": {"subject": "apikey:test-admin", "role": "ADMIN"}},
    ]
    events = await _events(services, type="StockLevelChanged")
    assert events[0]["payload"]["previousAvailable"] == 10 and events[0]["sku"] == "SKU-1" and events[0]["location_id"] == "ST-BOS"


async def test_refused_adjustments_write_nothing(world: World, gql: GraphQLClient, services: Services) -> None:
    await _network(world)
    cases = [
        ({"sku": "SKU-1", "location": "ST-BOS", "delta": -11, "reason": "x"}, "INVALID_INPUT", ["delta"]),
        ({"sku": "SKU-1", "location": "ST-BOS", "delta": 1, "count": 3, "reason": "x"}, "INVALID_INPUT", ["delta"]),
        ({"sku": "SKU-1", "location": "ST-BOS", "delta": 2, "reason": "  "}, "INVALID_INPUT", ["reason"]),
        ({"sku": "NOPE", "location": "ST-BOS", "delta": 2, "reason": "x"}, "UNKNOWN_SKU", ["sku"]),
        ({"sku": "SKU-1", "location": "ST-NOPE", "delta": 2, "reason": "x"}, "NOT_FOUND", ["location"]),
        ({"sku": "SKU-1", "location": "ST-BOS", "count": -1, "reason": "x"}, "INVALID_INPUT", ["count"]),
    ]
    for given, code, field in cases:
        result = (await gql.data(ADJUST, {"input": given}))["adjustStock"]
        assert result["__typename"] == "InvalidInputError", (given, result)
        assert (result["code"], result["field"]) == (code, field), (given, result)
    assert await services.mongo.db["events"].count_documents({}) == 0
    stored = await services.mongo.db["inventory"].find_one({"_id": "SKU-1@ST-BOS"})
    assert stored["on_hand"] == 10


async def test_receive_creates_a_level_where_none_existed(world: World, gql: GraphQLClient) -> None:
    await _network(world)
    result = await gql.data(RECEIVE, {"input": {"sku": "SKU-2", "location": "ST-BOS", "quantity": 4, "reason": "PO-1"}})
    assert result["receiveStock"]["level"]["onHand"] == 4
    assert result["receiveStock"]["level"]["available"] == 4
    stores = await gql.data(
        '{ storeAvailability(skus: ["SKU-2"], near: {lat: 42.36, lng: -71.06}, radiusKm: 10) { locationCode items { available } } }'
    )
    # The new level carries the location's point and kind, so the geo query finds it.
    assert stores["storeAvailability"] == [{"locationCode": "ST-BOS", "items": [{"available": 4}]}]


async def test_transfer_moves_unreserved_units_atomically(world: World, gql: GraphQLClient, services: Services) -> None:
    await _network(world)
    await services.mongo.db["inventory"].update_one({"_id": "SKU-1@DC-CHI"}, {"$set": {"reserved": 0}})
    moved = await gql.data(TRANSFER, {"input": {"sku": "SKU-1", "from": "DC-CHI", "to": "ST-BOS", "quantity": 20}})
    assert moved["transferStock"]["fromLevel"] == {"locationCode": "DC-CHI", "onHand": 30, "available": 25}
    assert moved["transferStock"]["toLevel"] == {"locationCode": "ST-BOS", "onHand": 30, "available": 30}
    events = await _events(services, type="StockLevelChanged")
    assert [e["payload"]["cause"] for e in events] == ["TRANSFER_OUT", "TRANSFER_IN"]
    assert events[0]["payload"]["transferId"] == events[1]["payload"]["transferId"]

    too_many = (await gql.data(TRANSFER, {"input": {"sku": "SKU-1", "from": "DC-CHI", "to": "ST-BOS", "quantity": 31}}))["transferStock"]
    assert (too_many["__typename"], too_many["code"], too_many["field"]) == ("ConflictError", "INSUFFICIENT_STOCK", ["quantity"])
    same = (await gql.data(TRANSFER, {"input": {"sku": "SKU-1", "from": "ST-BOS", "to": "ST-BOS", "quantity": 1}}))["transferStock"]
    assert same["field"] == ["to"]
    levels = {d["_id"]: d["on_hand"] async for d in services.mongo.db["inventory"].find({"sku": "SKU-1"})}
    assert levels == {"SKU-1@DC-CHI": 30, "SKU-1@ST-BOS": 30}
    assert await services.mongo.db["events"].count_documents({}) == 2


async def test_set_stock_policy_changes_available_and_reorder_settings(world: World, gql: GraphQLClient) -> None:
    await _network(world)
    result = await gql.data(POLICY, {"input": {"sku": "SKU-1", "location": "ST-BOS", "safetyStock": 4, "reorderPoint": 3}})
    assert result["setStockPolicy"]["level"] == {
        "sku": "SKU-1", "locationCode": "ST-BOS", "onHand": 10, "reserved": 0, "safetyStock": 4, "available": 6,
        "reorderPoint": 3, "reorderQuantity": 0,
    }
    nothing = (await gql.data(POLICY, {"input": {"sku": "SKU-1", "location": "ST-BOS"}}))["setStockPolicy"]
    assert nothing["__typename"] == "InvalidInputError"


async def test_staff_change_stock_only_at_their_locations(world: World, gql: GraphQLClient, services: Services) -> None:
    await _network(world)
    _, boston_staff = await services.auth.create_api_key(name="bos", role=Role.STORE_STAFF, location_ids=frozenset({"ST-BOS"}))
    _, csr = await services.auth.create_api_key(name="csr", role=Role.CSR)
    staff = gql.as_(boston_staff)
    ok = await staff.data(ADJUST, {"input": {"sku": "SKU-1", "location": "ST-BOS", "delta": 1, "reason": "found"}})
    assert ok["adjustStock"]["__typename"] == "AdjustStockPayload"
    for client, query, given in (
        (staff, ADJUST, {"sku": "SKU-1", "location": "DC-CHI", "delta": 1, "reason": "x"}),
        (staff, TRANSFER, {"sku": "SKU-1", "from": "DC-CHI", "to": "ST-BOS", "quantity": 1}),
        (gql.as_(csr), RECEIVE, {"sku": "SKU-1", "location": "ST-BOS", "quantity": 1}),
    ):
        result = await client.data(query, {"input": given})
        payload = next(iter(result.values()))
        assert (payload["__typename"], payload["code"]) == ("PermissionDeniedError", "FORBIDDEN")
    assert await services.mongo.db["events"].count_documents({}) == 1


async def test_concurrent_adjustments_all_count(world: World, services: Services) -> None:
    await _network(world)
    from app.domain.principals import SYSTEM

    await asyncio.gather(
        *[services.inventory_changes.adjust(SYSTEM, "SKU-1", "ST-BOS", delta=1, count=None, reason="found") for _ in range(20)]
    )
    stored = await services.mongo.db["inventory"].find_one({"_id": "SKU-1@ST-BOS"})
    assert (stored["on_hand"], stored["available"]) == (30, 30)
    assert await services.mongo.db["events"].count_documents({"type": "StockLevelChanged"}) == 20
