"""broadcaster backend for the local broker (`OMS_BROADCAST_URL=local+unix:///path`), which
`oms serve --workers N` runs in its supervising process (subscriptions/local_broker.py).

A worker's own publishes are delivered to its own subscribers at once, without the socket (as the
memory backend does), and sent to the broker for the other workers. The connection is kept by one
task that reconnects with a capped back-off and subscribes again; while it is down, publishes go
to this worker's subscribers only and the others' hubs fill the gap from the event log. So
`next_published` never fails (broadcaster's listener task would end silently if it did).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

from broadcaster import BroadcastBackend, Event

from subscriptions.local_broker import (
    MAX_BACKLOG_BYTES,
    PUBLISH,
    SUBSCRIBE,
    SUBSCRIBED,
    UNSUBSCRIBE,
    frame,
    parse_publish,
    publish_frame,
    read_frame,
    socket_path,
)

log = logging.getLogger("oms.broadcast")

# How long start-up waits for the broker (started before any worker, so normally at once), and
# for the broker to confirm a subscription; past either, the worker goes on and catches up later.
CONNECT_WAIT_SECONDS = 5.0
RECONNECT_MIN_SECONDS = 0.05
RECONNECT_MAX_SECONDS = 1.0


class LocalBrokerBackend(BroadcastBackend):
    def __init__(self, url: str):
        self._path = socket_path(url)
        self._channels: set[str] = set()
        self._queue: asyncio.Queue[Event] = asyncio.Queue()
        self._writer: asyncio.StreamWriter | None = None
        self._connected = asyncio.Event()
        self._acks: dict[str, asyncio.Future[None]] = {}
        self._task: asyncio.Task[None] | None = None
        self.connections = 0  # times connected (tests, logs)
        self.unsent = 0  # frames the others did not get from this worker (they read them from the log)

    async def connect(self) -> None:
        self._task = asyncio.create_task(self._keep_connected(), name="local-broker")
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._connected.wait(), CONNECT_WAIT_SECONDS)

    async def disconnect(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def subscribe(self, channel: str) -> None:
        self._channels.add(channel)
        writer = self._writer
        if writer is None:
            return  # subscribed on (re)connection
        ack = self._acks[channel] = asyncio.get_running_loop().create_future()
        writer.write(frame(SUBSCRIBE, channel.encode()))
        # Once confirmed, every later publish of another worker reaches this one.
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(asyncio.shield(ack), CONNECT_WAIT_SECONDS)

    async def unsubscribe(self, channel: str) -> None:
        self._channels.discard(channel)
        if self._writer is not None:
            self._writer.write(frame(UNSUBSCRIBE, channel.encode()))

    async def publish(self, channel: str, message: Any) -> None:
        if channel in self._channels:
            self._queue.put_nowait(Event(channel=channel, message=message))
        writer = self._writer
        # Never waits for the broker: a stamped batch the others miss is in the log for them.
        if writer is None or writer.is_closing() or writer.transport.get_write_buffer_size() > MAX_BACKLOG_BYTES:
            self.unsent += 1
            return
        writer.write(publish_frame(channel, message))

    async def next_published(self) -> Event:
        return await self._queue.get()

    async def _keep_connected(self) -> None:
        delay = RECONNECT_MIN_SECONDS
        while True:
            try:
                reader, writer = await asyncio.open_unix_connection(self._path)
            except OSError as exc:
                if delay == RECONNECT_MIN_SECONDS:
                    log.warning("cannot reach the local broker; retrying", extra={"path": self._path, "error": str(exc)})
                await asyncio.sleep(delay)
                delay = min(delay * 2, RECONNECT_MAX_SECONDS)
                continue
            delay = RECONNECT_MIN_SECONDS
            try:
                await self._serve(reader, writer)
            except (asyncio.IncompleteReadError, ConnectionError, OSError, UnicodeDecodeError):
                log.warning("lost the local broker; reconnecting", extra={"path": self._path})
            finally:
                self._writer = None
                self._connected.clear()
                writer.close()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        for channel in self._channels:
            writer.write(frame(SUBSCRIBE, channel.encode()))
        self._writer = writer
        self.connections += 1
        self._connected.set()
        while True:
            kind, body = await read_frame(reader)
            if kind == PUBLISH:
                channel, message = parse_publish(body)
                if channel in self._channels:
                    self._queue.put_nowait(Event(channel=channel, message=message))
            elif kind == SUBSCRIBED:
                ack = self._acks.pop(body.decode(), None)
                if ack is not None and not ack.done():
                    ack.set_result(None)
