"""Live results computed once per event for every alike subscription, never across scopes
(subscriptions/handover.py, subscriptions/shared_results.py, graphql_schema/live_frames.py)."""

from __future__ import annotations

import asyncio
import json
import time

import websockets

from app.domain.principals import Role
from app.services.container import Services
from app.settings import Settings
from subscriptions.shared_results import SharedResults
from tests.factories import World, customer, order
from tests.realtime import GraphQLWs, append, order_event, realtime_settings, serve
from tests.test_customers import gid

# One document, no variables: what each caller gets is decided by its scope alone.
EVERY_ORDER = "subscription { orderUpdated { cursor orderId status event { type payload actor { role } } } }"


async def until(condition, what: str, timeout: float = 30.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"still waiting for {what}")
        await asyncio.sleep(0.01)


async def test_alike_subscriptions_share_one_execution_per_event_and_scopes_never_mix(
    world: World, settings: Settings, services: Services, mongo
) -> None:
    ada = customer()
    await world.add_customers(ada)
    web, store = order(ada.id, channel_id="web"), order(ada.id, channel_id="store")
    await world.add_orders(web, store)
    # Two admins (two subjects, one scope) and a channel integration scoped to "web".
    _, first_admin = await services.auth.create_api_key(name="admin-1", role=Role.ADMIN)
    _, second_admin = await services.auth.create_api_key(name="admin-2", role=Role.ADMIN)
    _, web_channel = await services.auth.create_api_key(name="web-shop", role=Role.CHANNEL, channel_id="web")
    async with (
        serve(realtime_settings(settings)) as server,
        GraphQLWs.connect(server.ws_url, first_admin) as admin_1,
        GraphQLWs.connect(server.ws_url, second_admin) as admin_2,
        GraphQLWs.connect(server.ws_url, web_channel) as channel,
    ):
        clients = (admin_1, admin_2, channel)
        for client in clients:
            await client.subscribe(EVERY_ORDER)
        await server.subscribed(3)
        shared: SharedResults = server.realtime.shared_results
        # The first live result goes the ordinary way (it tells the result's extensions); then
        # each connection sends its subscription's events itself.
        await append(mongo, order_event(web, step=0))
        for client in clients:
            assert (await client.next_data("orderUpdated"))["event"]["payload"] == {"step": 0}
        await until(lambda: shared.senders == 3, "three subscriptions sent by their connections")
        executions, reused = shared.executions, shared.reused

        steps = [(web, 1), (store, 2), (web, 3), (store, 4), (web, 5)]
        for placed, step in steps:
            await append(mongo, order_event(placed, to="ALLOCATED", step=step))
        got = {name: await client.take("orderUpdated", count) for name, client, count in (
            ("admin_1", admin_1, 5), ("admin_2", admin_2, 5), ("channel", channel, 3)
        )}
        for client in clients:
            await client.nothing_more()

    # The same scope sees the same text; the channel sees its own channel's orders only.
    assert got["admin_1"] == got["admin_2"]
    assert [g["event"]["payload"]["step"] for g in got["admin_1"]] == [1, 2, 3, 4, 5]
    assert [g["event"]["payload"]["step"] for g in got["channel"]] == [1, 3, 5]
    assert {g["orderId"] for g in got["channel"]} == {gid("Order", web.id)}
    assert got["channel"] == [g for g in got["admin_1"] if g["orderId"] == gid("Order", web.id)]
    assert all(g["status"] == "ALLOCATED" for g in got["admin_1"])
    # One execution per event and scope: the admins' group ran each of the 5 events once (the
    # second admin reused them), the channel's group its 3, never the admins' result.
    assert shared.executions - executions == 5 + 3
    assert shared.reused - reused == 5


async def test_a_result_is_kept_for_its_group_and_event_only() -> None:
    shared = SharedResults(window=2)
    calls: list[str] = []

    def compute(text: str | None):  # type: ignore[no-untyped-def]
        async def run() -> str | None:
            calls.append(str(text))
            return text

        return run

    assert await shared.text(("doc", "ADMIN"), 1, compute('{"a":1}')) == '{"a":1}'
    assert await shared.text(("doc", "ADMIN"), 1, compute("never")) == '{"a":1}'
    assert await shared.text(("doc", "CHANNEL web"), 1, compute('{"a":2}')) == '{"a":2}'
    assert await shared.text(("doc", "ADMIN"), 2, compute('{"a":3}')) == '{"a":3}'
    # A result with errors is nobody else's: each asks for its own.
    assert await shared.text(("doc", "ADMIN"), 3, compute(None)) is None
    assert await shared.text(("doc", "ADMIN"), 3, compute("own")) is None
    # Past the window an old event is computed again.
    assert await shared.text(("doc", "ADMIN"), 1, compute('{"a":1}')) == '{"a":1}'
    assert calls == ['{"a":1}', '{"a":2}', '{"a":3}', "None", '{"a":1}']
    assert (shared.executions, shared.reused) == (5, 1)


async def test_a_subscriber_computing_a_shared_result_can_go_away() -> None:
    shared = SharedResults()
    started, release = asyncio.Event(), asyncio.Event()

    async def slow() -> str | None:
        started.set()
        await release.wait()
        return "never sent"

    async def quick() -> str | None:
        return '{"mine":true}'

    first = asyncio.create_task(shared.text("group", 7, slow))
    await started.wait()
    second = asyncio.create_task(shared.text("group", 7, quick))
    await asyncio.sleep(0)  # the second now waits for the first's result
    first.cancel()
    assert await second == '{"mine":true}'
    assert first.cancelled()


async def test_the_legacy_protocol_gets_the_same_shared_results_as_data_messages(
    world: World, settings: Settings, services: Services, mongo
) -> None:
    placed = await world.placed_order()
    _, token = await services.auth.create_api_key(name="old-app", role=Role.ADMIN)
    query = "subscription($o: ID) { orderUpdated(orderId: $o) { cursor event { payload } } }"
    async with (
        serve(realtime_settings(settings, legacy_graphql_ws=True)) as server,
        websockets.connect(server.ws_url, subprotocols=["graphql-ws"]) as ws,  # type: ignore[list-item]
        GraphQLWs.connect(server.ws_url, token) as current,
    ):

        async def receive() -> dict:  # type: ignore[type-arg]
            while True:
                message = json.loads(await asyncio.wait_for(ws.recv(), 20))
                if message["type"] != "ka":
                    return message

        await ws.send(json.dumps({"type": "connection_init", "payload": {"authorization": f"Bearer {token}"}}))
        assert (await receive())["type"] == "connection_ack"
        variables = {"o": gid("Order", placed.id)}
        await ws.send(json.dumps({"id": "old", "type": "start", "payload": {"query": query, "variables": variables}}))
        await current.subscribe(query, variables)
        await server.subscribed(2)
        shared: SharedResults = server.realtime.shared_results
        await append(mongo, order_event(placed, step=0))
        assert (await receive())["payload"]["data"]["orderUpdated"]["event"]["payload"] == {"step": 0}
        await current.next_data("orderUpdated")
        await until(lambda: shared.senders == 2, "both subscriptions sent by their connections")
        executions = shared.executions

        for step in (1, 2):
            await append(mongo, order_event(placed, step=step))
        old = [await receive() for _ in range(2)]
        new = await current.take("orderUpdated", 2)
        assert [m["type"] for m in old] == ["data", "data"] and {m["id"] for m in old} == {"old"}
        assert [m["payload"]["data"]["orderUpdated"] for m in old] == new
        assert [n["event"]["payload"]["step"] for n in new] == [1, 2]
        # Same document, variables and scope over either protocol: one execution per event.
        assert shared.executions - executions == 2
        await ws.send(json.dumps({"id": "old", "type": "stop"}))
        assert await receive() == {"type": "complete", "id": "old"}
