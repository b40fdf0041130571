"""Several server processes on one database: every subscriber gets every event exactly once,
with the in-memory broadcaster (followers republish locally) and with Redis (one publish, by the leader)."""

from __future__ import annotations

import asyncio

from redis import asyncio as aioredis

from app.domain.events import decode_envelope
from app.settings import Settings
from subscriptions.hub import CHANNEL
from tests.factories import World
from tests.realtime import GraphQLWs, SubprocessServer, append, order_event, realtime_settings, redis_url, serve
from tests.test_customers import gid

__all__ = ["redis_url"]  # the fixture

ORDER_UPDATED = "subscription($o: ID) { orderUpdated(orderId: $o) { cursor event { payload } } }"


async def _two_servers_deliver_once(world: World, settings: Settings, admin_token: str, mongo) -> list[list[int]]:
    placed = await world.placed_order()
    variables = {"o": gid("Order", placed.id)}
    async with serve(settings) as first, SubprocessServer(settings) as second:
        async with GraphQLWs.connect(first.ws_url, admin_token) as one, \
                GraphQLWs.connect(second.ws_url, admin_token) as two, \
                GraphQLWs.connect(second.ws_url, admin_token) as three:
            for client in (one, two, three):
                await client.subscribe(ORDER_UPDATED, variables)
            # Live on both processes once each client has a first event (the other process cannot
            # be asked how many subscriptions it holds).
            await append(mongo, order_event(placed, probe=True))
            probes = [await client.next_data("orderUpdated", timeout=30) for client in (one, two, three)]
            assert all(probe["event"]["payload"]["probe"] is True for probe in probes)
            for step in range(0, 10, 2):
                await append(mongo, order_event(placed, step=step), order_event(placed, step=step + 1))
            received = []
            for client in (one, two, three):
                got = await client.take("orderUpdated", 10, timeout=10)
                assert [g["event"]["payload"]["step"] for g in got] == list(range(10))
                received.append([int(g["cursor"]) for g in [probes[len(received)], *got]])
            for client in (one, two, three):
                await client.nothing_more(0.5)
    assert received[0] == received[1] == received[2]
    return received


async def test_two_processes_in_memory_mode_deliver_each_event_once(
    world: World, settings: Settings, admin_token: str, mongo
) -> None:
    await _two_servers_deliver_once(world, realtime_settings(settings), admin_token, mongo)


async def test_two_processes_with_redis_deliver_each_event_once_and_publish_it_once(
    world: World, settings: Settings, admin_token: str, mongo, redis_url: str
) -> None:
    channel_watcher = aioredis.Redis.from_url(redis_url)
    pubsub = channel_watcher.pubsub()
    await pubsub.subscribe(CHANNEL)
    published: list[int] = []

    async def watch() -> None:
        async for message in pubsub.listen():
            if message["type"] == "message":
                published.extend(e.seq or 0 for e in decode_envelope(message["data"].decode()))

    watcher = asyncio.create_task(watch())
    try:
        received = await _two_servers_deliver_once(
            world, realtime_settings(settings, broadcast_url=redis_url), admin_token, mongo
        )
    finally:
        watcher.cancel()
        await pubsub.aclose()
        await channel_watcher.aclose()
    # N instances, one publish per event: the leader's.
    assert sorted(published) == received[0]
