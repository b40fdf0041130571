"""Who may subscribe to what, and the connection rules: authentication in connection_init, its
deadline, heartbeats."""

from __future__ import annotations

import asyncio
import json
import time

import websockets

from app.domain.principals import Role
from app.services.container import Services
from app.settings import Settings
from tests.factories import BOSTON, CAMBRIDGE, CHICAGO, World, customer, location, order
from tests.realtime import GraphQLWs, append, order_event, realtime_settings, serve, stock_event
from tests.security_helpers import refused
from tests.test_customers import gid

ORDER_UPDATED = """
subscription($orderId: ID, $customerId: ID) {
  orderUpdated(orderId: $orderId, customerId: $customerId) { cursor orderId event { type } }
}
"""
STOCK = """
subscription($skus: [String!], $locationIds: [String!], $near: GeoPointInput, $radiusKm: Float) {
  stockLevelChanged(skus: $skus, locationIds: $locationIds, near: $near, radiusKm: $radiusKm) {
    cursor sku locationId available previousAvailable
  }
}
"""


async def test_a_customer_receives_only_their_own_orders_events(
    world: World, settings: Settings, services: Services, mongo
) -> None:
    ada, bob = customer("Ada"), customer("Bob", "Builder")
    await world.add_customers(ada, bob)
    adas, bobs = order(ada.id), order(bob.id)
    await world.add_orders(adas, bobs)
    _, ada_token = await services.auth.create_api_key(name="ada", role=Role.CUSTOMER, customer_id=ada.id)
    async with serve(realtime_settings(settings)) as server, GraphQLWs.connect(server.ws_url, ada_token) as client:
        await client.subscribe(ORDER_UPDATED)  # no filter: scoped to her orders
        await client.subscribe(ORDER_UPDATED, {"orderId": gid("Order", bobs.id)})
        await client.subscribe(ORDER_UPDATED, {"customerId": gid("Customer", bob.id)})
        await client.subscribe(STOCK, {"skus": ["SKU-1"]})
        # Refused before they start: the protocol's `error` message for each operation, no `next`.
        errors = {}
        for _ in range(3):
            error = await refused(client)
            errors[error["extensions"]["code"]] = errors.get(error["extensions"]["code"], 0) + 1
        assert errors == {"FORBIDDEN": 3}
        await server.subscribed(1)
        await append(mongo, order_event(bobs, to="ALLOCATED"), order_event(adas, to="ALLOCATED"))
        await append(mongo, stock_event("SKU-1", "ST-1", available=1, previous=2))
        got = await client.next_data("orderUpdated")
        assert got["orderId"] == gid("Order", adas.id)
        await client.nothing_more()


async def test_store_staff_receive_only_their_stores_stock(
    world: World, settings: Settings, services: Services, mongo
) -> None:
    await world.add_locations(location("ST-BOS", BOSTON), location("ST-CAM", CAMBRIDGE), location("ST-CHI", CHICAGO))
    _, staff = await services.auth.create_api_key(name="bos", role=Role.STORE_STAFF, location_ids=frozenset({"ST-BOS"}))
    async with serve(realtime_settings(settings)) as server, GraphQLWs.connect(server.ws_url, staff) as client:
        await client.subscribe(STOCK, {"locationIds": ["ST-CAM"]})
        assert (await refused(client))["extensions"]["code"] == "FORBIDDEN"
        await client.subscribe(STOCK, {"skus": ["SKU-1"]})  # defaults to their stores
        # Stores near Boston are Boston and Cambridge; staff keep only their own.
        await client.subscribe(STOCK, {"near": {"lat": BOSTON.lat, "lng": BOSTON.lng}, "radiusKm": 20})
        await server.subscribed(2)
        await append(
            mongo,
            stock_event("SKU-1", "ST-CAM", available=5, previous=6),
            stock_event("SKU-1", "ST-BOS", available=4, previous=5),
            stock_event("SKU-2", "ST-BOS", available=9, previous=8),
            stock_event("SKU-1", "ST-CHI", available=1, previous=2),
        )
        received = sorted(
            (m["id"], m["payload"]["data"]["stockLevelChanged"]["sku"], m["payload"]["data"]["stockLevelChanged"]["locationId"])
            for m in [await client.receive() for _ in range(3)]
        )
        await client.nothing_more()
    assert received == [("2", "SKU-1", "ST-BOS"), ("3", "SKU-1", "ST-BOS"), ("3", "SKU-2", "ST-BOS")]


async def test_stock_near_a_point_and_low_stock_alerts_for_admins(
    world: World, settings: Settings, admin_token: str, mongo
) -> None:
    await world.add_locations(location("ST-BOS", BOSTON), location("ST-CAM", CAMBRIDGE), location("ST-CHI", CHICAGO))
    alerts = "subscription($l: [String!]) { lowStockAlerts(locationIds: $l) { sku locationId available reorderPoint cursor } }"
    async with serve(realtime_settings(settings)) as server, GraphQLWs.connect(server.ws_url, admin_token) as client:
        await client.subscribe(STOCK, {"near": {"lat": BOSTON.lat, "lng": BOSTON.lng}, "radiusKm": 20})
        await client.subscribe(alerts, {"l": ["ST-BOS", "ST-CHI"]})
        await server.subscribed(2)
        await append(
            mongo,
            stock_event("SKU-1", "ST-CHI", available=2, previous=3, reorder_point=2),  # crosses: alert
            stock_event("SKU-1", "ST-CAM", available=1, previous=9, reorder_point=2),  # near, crosses, not watched
            stock_event("SKU-1", "ST-BOS", available=1, previous=2, reorder_point=2),  # already at/below: no alert
            stock_event("SKU-2", "ST-BOS", available=5, previous=3, reorder_point=2),  # going up: no alert
        )
        messages = [await client.receive() for _ in range(4)]
        await client.nothing_more()
    near = [m["payload"]["data"]["stockLevelChanged"]["locationId"] for m in messages if m["id"] == "1"]
    low = [m["payload"]["data"]["lowStockAlerts"] for m in messages if m["id"] == "2"]
    assert near == ["ST-CAM", "ST-BOS", "ST-BOS"]
    assert [(a["sku"], a["locationId"], a["available"], a["reorderPoint"]) for a in low] == [("SKU-1", "ST-CHI", 2, 2)]


async def test_connection_init_carries_the_credential_and_a_bad_one_is_refused(
    settings: Settings, admin_token: str
) -> None:
    async with serve(realtime_settings(settings)) as server:
        async with websockets.connect(server.ws_url, subprotocols=["graphql-transport-ws"]) as ws:  # type: ignore[list-item]
            await ws.send(json.dumps({"type": "connection_init", "payload": {"authorization": "Bearer oms_nope"}}))
            await ws.wait_closed()
            assert ws.close_code == 4403
        async with GraphQLWs.connect(server.ws_url, None) as anonymous:
            await anonymous.subscribe(ORDER_UPDATED)
            assert (await refused(anonymous))["extensions"]["code"] == "UNAUTHENTICATED"
        async with GraphQLWs.connect(server.ws_url, params={"apiKey": admin_token}) as client:
            await client.subscribe(ORDER_UPDATED)
            await client.nothing_more(0.3)  # accepted, waiting for events


async def test_connection_init_must_arrive_in_time_and_idle_connections_get_heartbeats(
    settings: Settings, admin_token: str
) -> None:
    assert Settings().ws_init_timeout_seconds == 10.0  # the production deadline; shortened below to keep the test fast
    quick = realtime_settings(settings, ws_init_timeout_seconds=0.5, ws_heartbeat_seconds=0.3)
    async with serve(quick) as server:
        async with websockets.connect(server.ws_url, subprotocols=["graphql-transport-ws"]) as ws:  # type: ignore[list-item]
            await asyncio.wait_for(ws.wait_closed(), 5)
            assert (ws.close_code, ws.close_reason) == (4408, "Connection initialisation timeout")
        async with GraphQLWs.connect(server.ws_url, admin_token) as client:
            await client.subscribe(ORDER_UPDATED)
            # Pings keep coming while nothing else does (the client answers each).
            deadline = time.monotonic() + 30
            while client.pings < 2:
                assert time.monotonic() < deadline, f"{client.pings} pings"
                await client.nothing_more(0.3)
