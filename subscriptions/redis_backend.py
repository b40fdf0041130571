"""Redis pub/sub for broadcaster, without the stock backend's start-up race.

broadcaster 0.3.1's RedisBackend can start listening before its first SUBSCRIBE is acknowledged;
redis-py's `listen()` then returns at once and the backend never delivers a message. This backend
reads with `get_message` in its own task, started after the first subscription, and keeps reading
across reconnects (redis-py resubscribes). Messages lost while disconnected are refilled from the
event log by the hub.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

from broadcaster import BroadcastBackend, Event
from redis import asyncio as redis

log = logging.getLogger("oms.broadcast")


class RedisPubSubBackend(BroadcastBackend):
    def __init__(self, url: str):
        self._url = url
        self._conn: redis.Redis | None = None
        self._pubsub: Any = None
        self._queue: asyncio.Queue[Event] = asyncio.Queue()
        self._reader: asyncio.Task[None] | None = None

    async def connect(self) -> None:
        self._conn = redis.Redis.from_url(self._url)
        self._pubsub = self._conn.pubsub(ignore_subscribe_messages=True)

    async def disconnect(self) -> None:
        if self._reader is not None:
            self._reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reader
        if self._pubsub is not None:
            await self._pubsub.aclose()
        if self._conn is not None:
            await self._conn.aclose()

    async def subscribe(self, channel: str) -> None:
        await self._pubsub.subscribe(channel)
        if self._reader is None:
            self._reader = asyncio.create_task(self._read(), name="redis-pubsub")

    async def unsubscribe(self, channel: str) -> None:
        await self._pubsub.unsubscribe(channel)

    async def publish(self, channel: str, message: Any) -> None:
        assert self._conn is not None, "connect() first"
        await self._conn.publish(channel, message)

    async def next_published(self) -> Event:
        return await self._queue.get()

    async def _read(self) -> None:
        while True:
            try:
                message = await self._pubsub.get_message(ignore_subscribe_messages=True, timeout=1.0)
            except (redis.ConnectionError, OSError):
                log.warning("redis pub/sub connection lost; reconnecting")
                await asyncio.sleep(0.5)
                continue
            if message and message["type"] == "message":
                channel, data = message["channel"], message["data"]
                await self._queue.put(
                    Event(
                        channel=channel.decode() if isinstance(channel, bytes) else channel,
                        message=data.decode() if isinstance(data, bytes) else data,
                    )
                )
