"""End to end: mutations over HTTP reach WebSocket subscribers through the log, the sequencer and the hub."""

from __future__ import annotations

import httpx

from app.settings import Settings
from tests.factories import World
from tests.order_helpers import CAPTURE, capture_input, network
from tests.realtime import GraphQLWs, realtime_settings, serve
from tests.test_order_lifecycle import HOLD

ORDERS = "subscription { orderUpdated(channel: \"web\") { cursor status orderId event { type reason } } }"
STOCK = "subscription { stockLevelChanged(skus: [\"SKU-1\"]) { cursor locationId reserved available previousAvailable cause } }"


async def test_a_websocket_client_receives_the_events_of_mutations_made_over_http(
    world: World, settings: Settings, admin_token: str
) -> None:
    await network(world)
    headers = {"Authorization": f"Bearer {admin_token}"}
    async with serve(realtime_settings(settings)) as server, GraphQLWs.connect(server.ws_url, admin_token) as client:
        await client.subscribe(ORDERS)
        await client.subscribe(STOCK)
        await server.subscribed(2)
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{server.port}", headers=headers) as http:
            captured = (await http.post("/graphql", json={"query": CAPTURE, "variables": {"input": capture_input()}})).json()
            order = captured["data"]["captureOrder"]["order"]
            assert order["status"] == "ALLOCATED"
            # The capture: the order's events and the reservation's stock movement, from one transaction.
            first = [await client.receive() for _ in range(3)]
            order_events = [m["payload"]["data"]["orderUpdated"] for m in first if m["id"] == "1"]
            assert [(e["event"]["type"], e["status"]) for e in order_events] == [
                ("OrderCaptured", "ALLOCATED"),
                ("OrderStatusChanged", "ALLOCATED"),
            ]
            assert {e["orderId"] for e in order_events} == {order["id"]}
            [stock] = [m["payload"]["data"]["stockLevelChanged"] for m in first if m["id"] == "2"]
            assert (stock["locationId"], stock["reserved"], stock["available"], stock["previousAvailable"]) == ("ST-BOS", 2, 3, 5)
            held = await http.post("/graphql", json={"query": HOLD, "variables": {"input": {"orderId": order["id"], "reason": "fraud check"}}})
            assert held.json()["data"]["holdOrder"]["order"]["status"] == "ON_HOLD"
            updates = [await client.next_data("orderUpdated") for _ in range(2)]
            await client.nothing_more()
    assert {u["event"]["type"] for u in updates} == {"OrderHeld", "OrderStatusChanged"}
    assert {u["status"] for u in updates} == {"ON_HOLD"}
    assert all(u["event"]["reason"] == "fraud check" for u in updates)
    cursors = [int(e["cursor"]) for e in order_events + updates]
    assert cursors == sorted(cursors)
