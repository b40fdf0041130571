"""Slow clients against a real `oms serve`: connections that trickle their headers or their body
are answered 408 and closed within the deadline, and meanwhile normal requests keep their latency."""

from __future__ import annotations

import asyncio
import contextlib
import statistics
import time
from dataclasses import dataclass

import httpx
import uvicorn
import websockets
from starlette.types import Receive, Scope, Send

from app.http_timeouts import timed_http_protocol
from app.settings import Settings
from tests.realtime import SubprocessServer

HEADER_TIMEOUT = 2.0
BODY_TIMEOUT = 2.0
# A loaded 2-core machine runs the server, 200 slow sockets and the normal client at once.
SLACK = 6.0
SLOW_CONNECTIONS = 100

SLOW_HEADERS = b"GET /healthz HTTP/1.1\r\nHost: x\r\n"
SLOW_BODY = (
    b"POST /graphql HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n"
    b'{"query": "'
)


@dataclass
class Trickle:
    opened: float
    closed: float | None = None
    answer: bytes = b""


async def trickle(port: int, start: bytes) -> Trickle:
    """Sends `start`, then a byte a second, never finishing the request, until the server closes."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    state = Trickle(opened=time.monotonic())
    try:
        writer.write(start)
        while True:
            try:
                data = await asyncio.wait_for(reader.read(4096), 1.0)
            except asyncio.TimeoutError:
                writer.write(b"a")
                continue
            except OSError:  # reset: closed too
                data = b""
            if not data:
                state.closed = time.monotonic()
                return state
            state.answer += data
    finally:
        writer.close()
        with contextlib.suppress(OSError):
            await writer.wait_closed()


async def test_slow_headers_and_bodies_are_cut_off_while_normal_requests_keep_their_latency(
    settings: Settings, admin_token: str
) -> None:
    env = {"OMS_HEADER_TIMEOUT": str(HEADER_TIMEOUT), "OMS_BODY_TIMEOUT": str(BODY_TIMEOUT)}
    async with SubprocessServer(settings, **env) as server:
        url = f"http://127.0.0.1:{server.port}/graphql"
        async with httpx.AsyncClient(headers={"Authorization": f"Bearer {admin_token}"}, timeout=30) as http:

            async def latency() -> float:
                started = time.monotonic()
                response = await http.post(url, json={"query": "{ __typename }"})
                assert response.status_code == 200 and response.json() == {
                    "data": {"__typename": "Query"},
                    "extensions": response.json()["extensions"],
                }, response.text
                return time.monotonic() - started

            before = [await latency() for _ in range(10)]

            # Given 100 clients trickling their headers and 100 trickling a declared 1000-byte body
            slow = [asyncio.create_task(trickle(server.port, SLOW_HEADERS)) for _ in range(SLOW_CONNECTIONS)]
            slow += [asyncio.create_task(trickle(server.port, SLOW_BODY)) for _ in range(SLOW_CONNECTIONS)]
            try:
                # When normal requests are made while they are connected
                during: list[float] = []
                while not all(task.done() for task in slow) and len(during) < 200:
                    during.append(await latency())
                    await asyncio.sleep(0.05)

                # Then the server closed every slow connection within its deadline (plus slack)
                done, pending = await asyncio.wait(slow, timeout=max(HEADER_TIMEOUT, BODY_TIMEOUT) + 2 * SLACK)
                assert not pending, f"{len(pending)} of {len(slow)} slow connections still open"
            finally:
                for task in slow:
                    task.cancel()
                await asyncio.gather(*slow, return_exceptions=True)
            trickles = [task.result() for task in slow]
            held = [t.closed - t.opened for t in trickles if t.closed is not None]
            assert len(held) == len(trickles)
            assert max(held) <= max(HEADER_TIMEOUT, BODY_TIMEOUT) + SLACK, f"held for up to {max(held):.1f} s"
            assert min(held) >= min(HEADER_TIMEOUT, BODY_TIMEOUT) - 0.5, f"closed after {min(held):.1f} s"
            # Told why, as HTTP says: 408, and the connection closed
            assert all(t.answer.startswith(b"HTTP/1.1 408 ") for t in trickles), {t.answer[:40] for t in trickles}

            # And normal requests kept answering promptly meanwhile, and after
            assert len(during) >= 3
            assert max(during) < 5.0, f"a normal request took {max(during):.2f} s with slow clients connected"
            after = [await latency() for _ in range(10)]
            assert statistics.median(after) < statistics.median(before) + 1.0


async def _unhurried_app(scope: Scope, receive: Receive, send: Send) -> None:
    """Slow on its side: answers after 1.5 s, reads a body only after 1.5 s; echoes WebSocket text."""
    if scope["type"] == "lifespan":
        return
    if scope["type"] == "websocket":
        await receive()
        await send({"type": "websocket.accept"})
        message = await receive()
        await send({"type": "websocket.send", "text": message["text"]})
        await receive()
        return
    await asyncio.sleep(SLOWER)
    size = 0
    while True:
        message = await receive()
        size += len(message.get("body", b""))
        if not message.get("more_body"):
            break
    body = str(size).encode()
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})


# Deadlines long enough that a busy machine still moves 1 MB over loopback within one; the app and
# the pauses are slower than them.
DEADLINE = 2.0
SLOWER = DEADLINE + 1.0


async def test_deadlines_cut_slow_clients_only_never_a_slow_answer_a_kept_alive_connection_or_a_websocket() -> None:
    protocol = timed_http_protocol(header_timeout=DEADLINE, body_timeout=DEADLINE)
    config = uvicorn.Config(
        _unhurried_app, host="127.0.0.1", port=0, http=protocol, ws="websockets-sansio", lifespan="off", log_config=None
    )
    server = uvicorn.Server(config)
    serving = asyncio.create_task(server.serve())
    try:
        while not server.started:
            await asyncio.sleep(0.02)
        port = server.servers[0].sockets[0].getsockname()[1]
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=10) as http:
            # An answer slower than both deadlines, on one kept-alive connection, twice with a pause
            assert (await http.get("/")).text == "0"
            await asyncio.sleep(DEADLINE + 0.5)
            # A 1 MB body sent at once that the app reads late: the server stopped reading, not the client
            assert (await http.post("/", content=b"x" * 1_000_000)).text == "1000000"

        # A WebSocket outlives the HTTP deadlines of its upgrade request
        async with websockets.connect(f"ws://127.0.0.1:{port}/") as ws:
            await asyncio.sleep(SLOWER)
            await ws.send("still here")
            assert await asyncio.wait_for(ws.recv(), 5) == "still here"

        # While a client that opens a connection and sends nothing is told 408 and cut off
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        started = time.monotonic()
        answer = await asyncio.wait_for(reader.read(), 5)
        assert answer.startswith(b"HTTP/1.1 408 ") and 0.4 < time.monotonic() - started < 3
        writer.close()
    finally:
        server.should_exit = True
        await asyncio.wait_for(serving, 15)
