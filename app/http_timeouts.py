"""Slow clients: a request's headers, then its body, must arrive within a deadline, else the
connection is answered 408 and closed.

uvicorn times out idle keep-alive connections but not a request in progress: a client that sends
its headers a byte at a time (slowloris), or declares a body and trickles it, holds a socket, a
parser and (for a body) an application task for as long as it likes. The application is called
only once the headers are complete, so the deadline lives where the bytes arrive: in the HTTP
protocol. `TimedHttpToolsProtocol` is a small subclass of uvicorn's httptools protocol (uvicorn
and httptools are pinned in constraints.txt; an upgrade runs tests/faults/test_slow_clients.py):
it overrides only connection and parser callbacks, and each calls the original.

- headers: `header_timeout` from the connection's opening (first request) or from the first byte
  of a later request on a kept-alive connection, to the end of its headers;
- body: `body_timeout` from the end of the headers to the end of the body (256 KiB, the default
  body cap, in 30 s is 8.7 KB/s: any real client is far faster). Under `streamed_prefixes` (bulk
  import uploads, up to a GiB, authenticated before their body is read) it is a limit on silence
  instead: `body_timeout` without a byte of the body arriving.

A deadline that passes when the server was the one waiting (it stopped reading because the
application had not consumed what it was sent, or a pipelined request waits its turn, or the client
waits for `100 Continue`) starts again: the client was not the slow one. 0 turns a deadline off.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

log = logging.getLogger("oms.http")

_TIMEOUT_RESPONSE = (
    b"HTTP/1.1 408 Request Timeout\r\n"
    b"content-type: text/plain; charset=utf-8\r\n"
    b"content-length: 16\r\n"
    b"connection: close\r\n"
    b"\r\n"
    b"Request Timeout."
)


class TimedHttpToolsProtocol(HttpToolsProtocol):
    header_timeout: float = 10.0
    body_timeout: float = 30.0
    streamed_prefixes: tuple[str, ...] = ()

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._deadline: asyncio.TimerHandle | None = None
        # Whether the server stopped reading (flow control) since the deadline was set.
        self._server_paused = False
        self._streamed_body = False  # this request's body deadline restarts with every chunk

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm(self.header_timeout, "headers")

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def on_message_begin(self) -> None:
        super().on_message_begin()
        if self._deadline is None:  # a later request; the first one's runs from connection_made
            self._arm(self.header_timeout, "headers")

    def on_headers_complete(self) -> None:
        self._disarm()
        super().on_headers_complete()
        # A WebSocket upgrade hands the connection to the WebSocket protocol: no body to wait for.
        if not (self.parser.should_upgrade() and self._should_upgrade()):
            path = self.scope.get("path", "") if self.streamed_prefixes else ""
            self._streamed_body = bool(path) and path.startswith(self.streamed_prefixes)
            self._arm(self.body_timeout, "body")
        self._note_pause()

    def on_body(self, body: bytes) -> None:
        super().on_body(body)
        if self._streamed_body and self._deadline is not None:
            self._arm(self.body_timeout, "body")
        self._note_pause()

    def on_message_complete(self) -> None:
        self._disarm()
        super().on_message_complete()

    def _note_pause(self) -> None:
        if self.flow.read_paused:
            self._server_paused = True

    def _arm(self, timeout: float, part: str) -> None:
        self._disarm()
        self._server_paused = False
        if timeout > 0:
            self._deadline = self.loop.call_later(timeout, self._expire, timeout, part)

    def _disarm(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None

    def _expire(self, timeout: float, part: str) -> None:
        self._deadline = None
        if self.transport.is_closing():
            return
        cycle = self.cycle
        waiting_for_us = part == "body" and cycle is not None and cycle.waiting_for_100_continue
        if self.flow.read_paused or self._server_paused or waiting_for_us:
            self._arm(timeout, part)
            return
        log.info(
            f"closed a connection: request {part} not received within {timeout:g} s",
            extra={"client": "%s:%d" % self.client if self.client else None, "part": part},
        )
        # Answered only when no answer is under way for this request (or, between requests, for the last).
        if cycle is None or (cycle.response_complete if part == "headers" else not cycle.response_started):
            self.transport.write(_TIMEOUT_RESPONSE)
        self.transport.close()


def timed_http_protocol(
    *, header_timeout: float, body_timeout: float, streamed_prefixes: tuple[str, ...] = ()
) -> type[HttpToolsProtocol]:
    """The protocol class for `uvicorn.Config(http=...)` with these deadlines, in seconds."""
    return type(
        "TimedHttpToolsProtocol",
        (TimedHttpToolsProtocol,),
        {"header_timeout": header_timeout, "body_timeout": body_timeout, "streamed_prefixes": streamed_prefixes},
    )
