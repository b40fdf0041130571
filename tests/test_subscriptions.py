"""Subscriptions over a real WebSocket against uvicorn: delivery, filters, resume, errors, backpressure."""

from __future__ import annotations

from app.settings import Settings
from tests.factories import World, customer, order
from tests.realtime import GraphQLWs, RawWsClient, append, order_event, realtime_settings, serve, wait_stamped
from tests.test_customers import gid

ORDER_UPDATED = """
subscription($orderId: ID, $customerId: ID, $statuses: [OrderStatus!], $after: String) {
  orderUpdated(orderId: $orderId, customerId: $customerId, statuses: $statuses, after: $after) {
    cursor status orderId event { type payload cursor }
  }
}
"""


async def test_a_websocket_client_receives_the_events_of_its_order_in_commit_order(
    world: World, settings: Settings, admin_token: str, mongo
) -> None:
    ada = customer()
    await world.add_customers(ada)
    mine, other = order(ada.id), order(ada.id)
    await world.add_orders(mine, other)
    async with serve(realtime_settings(settings)) as server, GraphQLWs.connect(server.ws_url, admin_token) as client:
        await client.subscribe(ORDER_UPDATED, {"orderId": gid("Order", mine.id)})
        await server.subscribed(1)
        await append(mongo, order_event(mine, to="ALLOCATED"))
        await append(mongo, order_event(other, to="ALLOCATED"), order_event(mine, to="IN_FULFILLMENT"))
        await append(mongo, order_event(mine, "OrderCancelled"))

        got = await client.take("orderUpdated", 3)
        assert [g["status"] for g in got] == ["ALLOCATED", "IN_FULFILLMENT", "CANCELLED"]
        assert [g["orderId"] for g in got] == [gid("Order", mine.id)] * 3
        cursors = [int(g["cursor"]) for g in got]
        assert cursors == sorted(cursors) and len(set(cursors)) == 3
        assert all(g["event"]["cursor"] == g["cursor"] for g in got)
        await client.nothing_more()


async def test_resume_after_a_disconnect_yields_exactly_the_missed_events_in_order(
    world: World, settings: Settings, admin_token: str, mongo
) -> None:
    placed = await world.placed_order()
    variables = {"orderId": gid("Order", placed.id)}
    async with serve(realtime_settings(settings)) as server:
        async with GraphQLWs.connect(server.ws_url, admin_token) as client:
            await client.subscribe(ORDER_UPDATED, variables)
            await server.subscribed(1)
            await append(mongo, order_event(placed, step=1), order_event(placed, step=2))
            seen = await client.take("orderUpdated", 2)
        # Disconnected: these happen while nobody listens, some while the client reconnects.
        for step in range(3, 8):
            await append(mongo, order_event(placed, step=step))
        async with GraphQLWs.connect(server.ws_url, admin_token) as client:
            await client.subscribe(ORDER_UPDATED, {**variables, "after": seen[-1]["cursor"]})
            await append(mongo, order_event(placed, step=8))
            await append(mongo, order_event(placed, step=9))
            resumed = await client.take("orderUpdated", 7)
            await client.nothing_more()
    assert [r["event"]["payload"]["step"] for r in resumed] == [3, 4, 5, 6, 7, 8, 9]
    cursors = [int(r["cursor"]) for r in seen + resumed]
    assert cursors == sorted(set(cursors))


async def test_statuses_filter_and_customer_filter(world: World, settings: Settings, admin_token: str, mongo) -> None:
    ada, bob = customer("Ada"), customer("Bob", "Builder")
    await world.add_customers(ada, bob)
    adas, bobs = order(ada.id), order(bob.id)
    await world.add_orders(adas, bobs)
    async with serve(realtime_settings(settings)) as server, GraphQLWs.connect(server.ws_url, admin_token) as client:
        await client.subscribe(ORDER_UPDATED, {"statuses": ["CANCELLED"]})
        await client.subscribe(ORDER_UPDATED, {"customerId": gid("Customer", bob.id)})
        await server.subscribed(2)
        await append(mongo, order_event(adas, to="ALLOCATED"), order_event(bobs, to="ALLOCATED"))
        await append(mongo, order_event(adas, "OrderCancelled", **{"from": "ALLOCATED"}))
        by_op: dict[str, list[str]] = {"1": [], "2": []}
        for _ in range(2):
            message = await client.receive()
            by_op[message["id"]].append(message["payload"]["data"]["orderUpdated"]["orderId"])
        await client.nothing_more()
    assert by_op == {"1": [gid("Order", adas.id)], "2": [gid("Order", bobs.id)]}


async def test_a_cursor_older_than_the_retained_history_gets_a_typed_error(
    world: World, settings: Settings, admin_token: str, mongo
) -> None:
    placed = await world.placed_order()
    async with serve(realtime_settings(settings)) as server:
        for step in range(6):
            await append(mongo, order_event(placed, step=step))
        await wait_stamped(mongo, 6)
        # What the TTL monitor does once events pass the retention period.
        await mongo.db.events.delete_many({"seq": {"$lte": 3}})
        async with GraphQLWs.connect(server.ws_url, admin_token) as client:
            await client.subscribe(ORDER_UPDATED, {"orderId": gid("Order", placed.id), "after": "1"})
            error = await client.error()
            assert error["extensions"] == {"code": "CURSOR_EXPIRED", "field": ["after"], "oldestCursor": "3"}
            assert "re-read" in error["message"]
            # From the oldest retained cursor the replay works.
            await client.subscribe(ORDER_UPDATED, {"orderId": gid("Order", placed.id), "after": "3"})
            replay = await client.take("orderUpdated", 3)
            assert [r["event"]["payload"]["step"] for r in replay] == [3, 4, 5]
            await client.subscribe(ORDER_UPDATED, {"orderId": gid("Order", placed.id), "after": "99"})
            assert (await client.error())["extensions"]["code"] == "INVALID_INPUT"
            await client.subscribe(ORDER_UPDATED, {"orderId": gid("Order", placed.id), "after": "x"})
            assert (await client.error())["extensions"]["code"] == "INVALID_INPUT"


async def test_a_stalled_subscriber_delays_nobody_and_is_told_where_to_resume(
    world: World, settings: Settings, admin_token: str, mongo
) -> None:
    placed = await world.placed_order()
    variables = {"orderId": gid("Order", placed.id)}
    # Big events, each sent to four subscriptions of the stalled connection: far more than socket
    # buffers hold, so its subscriptions back up. The healthy client reads each event before the next
    # is written: it can never fall behind, however busy the machine, so only the stalled one may.
    total, note, stalled_ops = 200, "x" * 16_000, 4
    async with serve(realtime_settings(settings, subscriber_queue_size=20)) as server:
        # A client that stops reading.
        stalled = await RawWsClient.connect(server.ws_url, admin_token)
        async with GraphQLWs.connect(server.ws_url, admin_token) as healthy:
            for op in range(1, stalled_ops + 1):
                query = {"query": ORDER_UPDATED, "variables": variables}
                await stalled.send({"id": str(op), "type": "subscribe", "payload": query})
            await healthy.subscribe(ORDER_UPDATED, variables)
            await server.subscribed(stalled_ops + 1)
            for step in range(total):
                await append(mongo, order_event(placed, step=step, note=note))
                got = await healthy.next_data("orderUpdated", timeout=30)
                # Delivered while the stalled connection holds its backlog: nobody waits for it.
                assert got["event"]["payload"]["step"] == step
            # Now the stalled client reads: what was already on its way, then each operation's typed error.
            received: dict[str, list[int]] = {str(op): [] for op in range(1, stalled_ops + 1)}
            errors: dict[str, dict] = {}
            while len(errors) < stalled_ops:
                message = await stalled.receive(10)
                if message["type"] == "complete":
                    continue
                if message["payload"].get("errors"):
                    errors[message["id"]] = message["payload"]["errors"][0]
                else:
                    received[message["id"]].append(int(message["payload"]["data"]["orderUpdated"]["cursor"]))
            assert {e["extensions"]["code"] for e in errors.values()} == {"SUBSCRIBER_TOO_SLOW"}
            for op, error in errors.items():
                if received[op]:
                    assert error["extensions"]["resumeAfter"] == str(received[op][-1])
            op, resume = "1", errors["1"]["extensions"]["resumeAfter"]
            assert len(received[op]) < total
            await stalled.receive()  # the last operation's complete
            again = {"query": ORDER_UPDATED, "variables": {**variables, "after": resume}}
            await stalled.send({"id": "resumed", "type": "subscribe", "payload": again})
            rest = [(await stalled.receive(10))["payload"]["data"]["orderUpdated"] for _ in range(total - len(received[op]))]
            await stalled.close()
    everything = received[op] + [int(r["cursor"]) for r in rest]
    assert everything == sorted(set(everything)) and len(everything) == total
