"""A real HTTP receiver for outbound webhook tests: Starlette under uvicorn on 127.0.0.1, a random port.

It verifies every request with the inbound webhooks' own function (app/domain/signatures.py
`verify`) and records what arrived. Its behaviour can be switched while it runs: answer 200, answer
an error status, or hold requests until released (a receiver that times out).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from app.domain.signatures import SIGNATURE_HEADER, SignatureError, parse_header, verify


@dataclass
class Received:
    path: str
    event: dict[str, Any]
    headers: dict[str, str]
    nonce: str
    verified: bool
    raw: bytes


@dataclass
class Receiver:
    secrets: dict[str, str] = field(default_factory=dict)  # path → the endpoint's secret
    status: int = 200
    hold: bool = False  # requests wait for `release` (longer than the sender's deadline)
    hold_paths: set[str] = field(default_factory=set)  # only requests to these paths wait
    received: list[Received] = field(default_factory=list)  # verified requests the receiver answered 2xx
    attempts: int = 0  # every request, whatever was answered
    port: int = 0
    _released: asyncio.Event = field(default_factory=asyncio.Event)
    _arrived: asyncio.Condition = field(default_factory=asyncio.Condition)

    def url(self, path: str = "/hook") -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def release(self) -> None:
        self.hold = False
        self.hold_paths = set()
        self._released.set()

    async def handle(self, request: Request) -> Response:
        body = await request.body()
        header = request.headers.get(SIGNATURE_HEADER)
        try:
            verify([self.secrets.get(request.url.path, "")], header, body, now=time.time())
            verified = True
        except SignatureError:
            verified = False
        async with self._arrived:
            self.attempts += 1
            self._arrived.notify_all()
        if self.hold or request.url.path in self.hold_paths:
            await self._released.wait()
        status = self.status if verified else 401
        if 200 <= status < 300:
            envelope = json.loads(body)
            async with self._arrived:
                self.received.append(
                    Received(request.url.path, envelope["events"][0], dict(request.headers), parse_header(header).nonce, verified, body)
                )
                self._arrived.notify_all()
        return Response(status_code=status)

    async def wait_for(self, condition: Callable[[Receiver], bool], *, timeout: float = 60.0) -> None:
        """Until `condition(self)` holds (checked whenever a request arrives)."""
        async with asyncio.timeout(timeout):
            async with self._arrived:
                await self._arrived.wait_for(lambda: condition(self))

    def events(self, path: str = "/hook") -> list[dict[str, Any]]:
        return [r.event for r in self.received if r.path == path]


@contextlib.asynccontextmanager
async def running_receiver() -> AsyncIterator[Receiver]:
    receiver = Receiver()
    app = Starlette(routes=[Route("/{path:path}", receiver.handle, methods=["POST"])])
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    receiver.port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="off", ws="none", http="h11"))
    task = asyncio.create_task(server.serve(sockets=[sock]))
    try:
        while not server.started:
            await asyncio.sleep(0.01)
        yield receiver
    finally:
        receiver.release()
        server.should_exit = True
        await task
        sock.close()
