"""Memory levels off under subscriptions: delivering events keeps nothing per event.

graphql-core 3.3.2 runs each subscription event on a shallow copy of the subscription's executor,
sharing a memo keyed by field lists that each event builds afresh: every delivered event left
~1.7 KB behind for the subscription's lifetime (graphql_schema/execution.py). Measured here with
tracemalloc between two points after warm-up, so start-up caches do not count."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import tracemalloc

from app.settings import Settings
from tests.factories import World
from tests.realtime import GraphQLWs, append, order_event, realtime_settings, serve

SUBSCRIBERS, EVENTS, BATCH = 5, 600, 20
# The leak retained ~1,700 bytes per delivered event; what is left is noise (driver buffers, a
# client's queue), a few bytes per event.
MOST_BYTES_PER_DELIVERY = 200

ORDER_UPDATED = 'subscription { orderUpdated(channel: "web") { cursor status orderId event { type payload cursor } } }'


async def test_delivering_events_to_subscribers_retains_no_memory_per_event(
    world: World, settings: Settings, admin_token: str, mongo
) -> None:
    placed = await world.placed_order()
    async with serve(realtime_settings(settings)) as server, contextlib.AsyncExitStack() as stack:
        clients = [await stack.enter_async_context(GraphQLWs.connect(server.ws_url, admin_token)) for _ in range(SUBSCRIBERS)]
        for client in clients:
            await client.subscribe(ORDER_UPDATED)
        await server.subscribed(SUBSCRIBERS)
        received = [0] * SUBSCRIBERS
        readers = [asyncio.create_task(_count(client, received, i)) for i, client in enumerate(clients)]
        sent = 0

        async def deliver(count: int) -> None:
            nonlocal sent
            for _ in range(0, count, BATCH):
                await append(mongo, *(order_event(placed, step=sent + i) for i in range(BATCH)))
                sent += BATCH
                while min(received) < sent:  # paced: no feed ever overflows
                    for reader in readers:
                        if reader.done():
                            reader.result()  # a client that timed out or got an error fails the test here
                    await asyncio.sleep(0.01)

        try:
            await deliver(100)  # warm-up: first-use caches
            tracemalloc.start(1)
            try:
                await deliver(100)  # what is allocated once, under tracing
                gc.collect()
                before = tracemalloc.get_traced_memory()[0]
                await deliver(EVENTS)
                gc.collect()
                retained = tracemalloc.get_traced_memory()[0] - before
            finally:
                tracemalloc.stop()
        finally:
            for reader in readers:
                reader.cancel()
            await asyncio.gather(*readers, return_exceptions=True)
    per_delivery = retained / (EVENTS * SUBSCRIBERS)
    assert per_delivery < MOST_BYTES_PER_DELIVERY, f"{retained} bytes retained, {per_delivery:.0f} per delivered event"


async def _count(client: GraphQLWs, received: list[int], index: int) -> None:
    while True:
        await client.next_data("orderUpdated")
        received[index] += 1
