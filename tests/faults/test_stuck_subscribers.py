"""Subscribers that stop reading, against a real server: each of their subscriptions is cut off with
SUBSCRIBER_TOO_SLOW and the cursor to resume from, the bytes the server holds for them stay under
the limit (whatever the kernel would buffer), and nobody else waits for them."""

from __future__ import annotations

from app.settings import Settings
from tests.factories import World
from tests.realtime import (
    WAIT,
    GraphQLWs,
    RawWsClient,
    append,
    order_event,
    realtime_settings,
    serve,
    server_send_queue,
)
from tests.test_customers import gid

ORDER_UPDATED = """
subscription($orderId: ID, $after: String) {
  orderUpdated(orderId: $orderId, after: $after) { cursor event { payload } }
}
"""
STUCK_CONNECTIONS, OPERATIONS = 3, 2
NOTE = "x" * 16_000  # ~16 KB a message: two operations pass the limit in ~32 events
# Beyond the limit: one message per operation that went out while under it, and the error messages.
SLACK = OPERATIONS * 17_000 + 4_096


async def test_subscribers_that_stop_reading_are_cut_off_at_the_byte_limit_and_told_where_to_resume(
    world: World, settings: Settings, admin_token: str, mongo
) -> None:
    placed = await world.placed_order()
    variables = {"orderId": gid("Order", placed.id)}
    async with serve(realtime_settings(settings, subscriber_queue_size=20)) as server:
        limit = server.realtime.send_limit_bytes
        stuck = [await RawWsClient.connect(server.ws_url, admin_token) for _ in range(STUCK_CONNECTIONS)]
        try:
            async with GraphQLWs.connect(server.ws_url, admin_token) as healthy:
                for client in stuck:
                    for op in range(1, OPERATIONS + 1):
                        query = {"query": ORDER_UPDATED, "variables": variables}
                        await client.send({"id": str(op), "type": "subscribe", "payload": query})
                await healthy.subscribe(ORDER_UPDATED, variables)
                await server.subscribed(STUCK_CONNECTIONS * OPERATIONS + 1)

                # Given clients that never read, events keep coming: until every stuck subscription
                # has ended on the server, and as many again (the resumed one catches up through
                # more than the limit).
                cursors: list[int] = []
                most_queued = dict.fromkeys((client.port for client in stuck), 0)
                cut_off_after = 0
                while not cut_off_after or len(cursors) < 2 * cut_off_after:
                    step = len(cursors)
                    await append(mongo, order_event(placed, step=step, note=NOTE))
                    got = await healthy.next_data("orderUpdated")
                    assert got["event"]["payload"]["step"] == step  # delivered at once: nobody waits
                    cursors.append(int(got["cursor"]))
                    for port in most_queued:
                        most_queued[port] = max(most_queued[port], server_send_queue(server.port, port))
                    if not cut_off_after and server.realtime.hub.subscribers == 1:
                        cut_off_after = len(cursors)
                    assert step < 2_000, f"{server.realtime.hub.subscribers - 1} stuck subscriptions never ended"

                # What the server held for each stuck connection stayed at the limit, not at what
                # the kernel would take (4 MB by default).
                assert all(limit // 2 < queued <= limit + SLACK for queued in most_queued.values()), most_queued

                # When a stuck client reads: what was on its way, then each operation's typed error
                # with the cursor of the last event it got.
                for client in stuck:
                    received = {str(op): [] for op in range(1, OPERATIONS + 1)}
                    errors: dict[str, dict] = {}
                    while len(errors) < OPERATIONS:
                        message = await client.receive(WAIT)
                        if message["type"] == "complete":
                            continue
                        payload = message["payload"]
                        if payload.get("errors"):
                            errors[message["id"]] = payload["errors"][0]
                        else:
                            received[message["id"]].append(int(payload["data"]["orderUpdated"]["cursor"]))
                    for op, error in errors.items():
                        assert error["extensions"]["code"] == "SUBSCRIBER_TOO_SLOW"
                        assert received[op] == cursors[: len(received[op])]
                        assert error["extensions"]["resumeAfter"] == str(received[op][-1])

                # Resuming from there (the last client's first operation) loses nothing and repeats
                # nothing, though the replay is more than the limit: it waits for the client instead
                # of cutting it off.
                first = received["1"]
                again = {"query": ORDER_UPDATED, "variables": {**variables, "after": str(first[-1])}}
                await client.send({"id": "resumed", "type": "subscribe", "payload": again})
                rest: list[int] = []
                while len(first) + len(rest) < len(cursors):
                    message = await client.receive(WAIT)
                    if message["id"] == "resumed":
                        assert message["type"] == "next" and not message["payload"].get("errors"), message
                        rest.append(int(message["payload"]["data"]["orderUpdated"]["cursor"]))
                assert first + rest == cursors
                assert (len(cursors) - len(first)) * len(NOTE) > limit
        finally:
            for client in stuck:
                await client.close()
