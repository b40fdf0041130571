"""Reading shipments: scope per role, Relay pages, no N+1 for Order.shipments, and a captured order end to end."""

from __future__ import annotations

from collections import Counter
from typing import Any

import httpx
import pytest

from app.asgi import create_app
from app.domain.principals import Role
from app.repositories.database import Mongo
from app.services.container import Services
from app.settings import Settings
from tests.command_counter import CommandCounter
from tests.conftest import GraphQLClient, lifespan_of
from tests.factories import World
from tests.fulfilment_world import BOS, DC, NYC, SHOPPER_POINT, FulfilmentWorld, hours_from_now, post_tracking, tracking_event
from tests.test_customers import gid
from tests.test_fulfilment_flow import ORDER_SHIPMENTS, SHIP, picked_and_packed

pytestmark = pytest.mark.usefixtures("reservations_consistent")

SHIPMENTS = """
query($filter: ShipmentFilterInput, $first: Int, $after: String) {
  shipments(filter: $filter, first: $first, after: $after) {
    edges { cursor node { number locationCode status order { externalId } } }
    pageInfo { hasNextPage endCursor }
  }
}
"""


@pytest.fixture
async def fw(world: World, services: Services) -> FulfilmentWorld:
    w = FulfilmentWorld(world, services)
    await w.setup()
    return w


async def test_shipments_are_scoped_by_role_and_paginate(fw: FulfilmentWorld, services: Services, gql: GraphQLClient) -> None:
    ada = await fw.order([("SKU-SHOE", 1, DC.id), ("SKU-KETTLE", 1, BOS.id)], external_id="A-1")
    await fw.order([("SKU-KETTLE", 1, NYC.id)], external_id="B-1")
    await fw.order([("SKU-SHOE", 1, DC.id)], external_id="C-1")

    async def numbers(token: str | None, selection: dict[str, Any] | None = None) -> list[str]:
        client = gql.as_(token) if token else gql
        body = await client(SHIPMENTS, {"filter": selection, "first": 100})
        if body.get("errors"):
            return [f"error:{body['errors'][0]['extensions']['code']}"]
        return sorted(e["node"]["number"] for e in body["data"]["shipments"]["edges"])

    assert await numbers(None) == ["A-1-1", "A-1-2", "B-1-1", "C-1-1"]
    _, dc_token = await services.auth.create_api_key(name="dc", role=Role.WAREHOUSE, location_ids=frozenset({DC.id}))
    _, ada_token = await services.auth.create_api_key(name="ada", role=Role.CUSTOMER, customer_id=ada.customer_id)
    _, csr_token = await services.auth.create_api_key(name="csr", role=Role.CSR)
    dc_numbers = await numbers(dc_token)
    assert len(dc_numbers) == 2 and all(n in ("A-1-1", "A-1-2", "C-1-1") for n in dc_numbers)
    assert await numbers(dc_token, {"locations": [NYC.id]}) == ["error:FORBIDDEN"]
    assert await numbers(ada_token) == ["A-1-1", "A-1-2"]
    assert len(await numbers(csr_token)) == 4
    assert await numbers(None, {"locations": [NYC.id]}) == ["B-1-1"]
    assert await numbers(None, {"orderId": gid("Order", ada.id)}) == ["A-1-1", "A-1-2"]

    # The warehouse sees only its own shipment of a split order through Order.shipments too.
    seen = await gql.as_(dc_token).data(ORDER_SHIPMENTS, {"id": gid("Order", ada.id)})
    assert [s["locationCode"] for s in seen["order"]["shipments"]] == [DC.id]

    seen_ids: list[str] = []
    after = None
    while True:
        page = (await gql.data(SHIPMENTS, {"first": 3, "after": after}))["shipments"]
        seen_ids += [e["node"]["number"] for e in page["edges"]]
        if not page["pageInfo"]["hasNextPage"]:
            break
        after = page["pageInfo"]["endCursor"]
    assert sorted(seen_ids) == ["A-1-1", "A-1-2", "B-1-1", "C-1-1"]
    too_many = await gql(SHIPMENTS, {"first": 101})
    assert too_many["errors"][0]["extensions"]["code"] == "INVALID_INPUT"


async def test_order_shipments_resolve_without_n_plus_one(fw: FulfilmentWorld, services: Services, mongo: Mongo, settings: Settings) -> None:
    async def commands(orders: int) -> Counter[str]:
        for n in range(orders):
            await fw.order([("SKU-SHOE", 1, DC.id), ("SKU-KETTLE", 1, NYC.id)])
        _, token = await services.auth.create_api_key(name=f"n1-{orders}", role=Role.ADMIN)
        counter = CommandCounter()
        app = create_app(settings, mongo_listeners=[counter])
        query = "{ orders(first: 50) { edges { node { eta shipments { number eta location { name } lines { product { name } } } } } } }"
        async with lifespan_of(app) as manager:
            async with httpx.AsyncClient(transport=httpx.ASGITransport(app=manager.app), base_url="http://t") as client:
                headers = {"Authorization": f"Bearer {token}"}
                await client.post("/graphql", json={"query": "{ channels { id } }"}, headers=headers)
                counter.recording = True
                response = await client.post("/graphql", json={"query": query}, headers=headers)
                counter.recording = False
        body = response.json()
        assert not body.get("errors"), body
        assert all(len(e["node"]["shipments"]) == 2 for e in body["data"]["orders"]["edges"])
        return counter.counts

    few = await commands(1)
    many = await commands(4)  # five orders in all
    assert few == many, f"commands grew with rows: {few} vs {many}"
    assert many["find:shipments"] == 1


async def test_captured_order_is_routed_picked_packed_shipped_tracked_and_delivered(
    fw: FulfilmentWorld, gql: GraphQLClient, http: httpx.AsyncClient
) -> None:
    from tests.order_helpers import CAPTURE

    captured = await gql.data(
        CAPTURE,
        {
            "input": {
                "channel": "web",
                "externalId": "WEB-5001",
                "customer": {"email": "grace@example.com", "firstName": "Grace", "lastName": "Hopper"},
                "lines": [{"sku": "SKU-BREW", "quantity": 2}, {"sku": "SKU-POWER", "quantity": 1}],
                "delivery": {
                    "method": "SHIP",
                    "address": {"name": "Grace Hopper", "line1": "77 Mass Ave", "city": "Cambridge", "postalCode": "02139", "region": "MA"},
                    "point": {"lat": SHOPPER_POINT.lat, "lng": SHOPPER_POINT.lng},
                },
            }
        },
    )
    order = captured["captureOrder"]["order"]
    assert order["status"] == "ALLOCATED", captured
    order_gid = order["id"]  # already a global id
    data = await gql.data(ORDER_SHIPMENTS, {"id": order_gid})
    [shipment] = data["order"]["shipments"]
    assert shipment["locationCode"] == DC.id and shipment["status"] == "PENDING"  # only the DC stocks cold brew
    assert sorted(shipment["handling"]) == ["COLD_CHAIN", "HAZMAT"] and data["order"]["eta"]

    await picked_and_packed(gql, shipment)
    shipped = (await gql.data(SHIP, {"id": shipment["id"], "policy": "CHEAPEST_ON_TIME"}))["shipShipment"]
    assert shipped["__typename"] == "ShipShipmentPayload", shipped
    assert shipped["shipment"]["label"]["service"].endswith(("GROUND", "GROUND_ADVANTAGE"))  # hazmat never flies
    number, carrier = shipped["shipment"]["trackingNumber"], shipped["shipment"]["label"]["carrier"]
    for n, kind in enumerate(("PICKED_UP", "IN_TRANSIT", "OUT_FOR_DELIVERY", "DELIVERED")):
        response = await post_tracking(http, carrier, [tracking_event(f"c-{n}", number, kind, hours_from_now(-8 + n))])
        assert response.status_code == 200, response.text
    final = await gql.data(ORDER_SHIPMENTS, {"id": order_gid})
    assert final["order"]["status"] == "DELIVERED" and final["order"]["shipments"][0]["status"] == "DELIVERED"
    assert (await fw.level("SKU-BREW", DC.id))["on_hand"] == 6
