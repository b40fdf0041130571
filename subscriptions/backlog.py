"""What a WebSocket client has not taken yet, in bytes: the server's write buffer for its connection
plus the kernel's send queue of its socket.

Both count because uvicorn makes `send()` wait only once the transport's own buffer passes its
high-water mark (64 KiB), and the transport buffers only what the kernel refuses, while Linux grows
the send buffer of a socket whose reader stopped up to `net.ipv4.tcp_wmem`'s maximum (4 MiB by
default). Until that is full every send returns at once: the subscription of a client that stopped
reading never waits, its feed never fills, and ~4 MB (thousands of events) per connection pile up in
the kernel before the feed's limit can act. With the kernel's queue counted, a subscription waits at
a byte limit of our choosing (`RealtimeOptions.subscriber_send_limit_bytes`, subscriptions/stream.py).

ASGI hands the application nothing to measure this with. `SendBacklogMiddleware`, the outermost
middleware, takes the transport from the server's `send` (uvicorn's WebSocket protocols keep it as
`transport`) and passes a `SendBacklog` on in the scope's extensions. Under any other server there
is none, and only the feed's event limit applies.
"""

from __future__ import annotations

import asyncio
import struct
from collections.abc import Mapping
from typing import Any

from starlette.types import ASGIApp, Receive, Scope, Send

try:  # Linux: the bytes in a socket's send queue (sent but unacknowledged, and not yet sent).
    import fcntl
    import termios

    _OUTQ: int | None = termios.TIOCOUTQ
except (ImportError, AttributeError):  # pragma: no cover - other systems count the transport's buffer only
    _OUTQ = None

EXTENSION = "oms.send_backlog"
# asyncio's default high-water mark: room for a message or two beyond the limit.
_HIGH_WATER = 64 * 1024


class SendBacklog:
    """One connection's unsent bytes, measured when asked (two cheap calls, no system-wide scan)."""

    __slots__ = ("_socket", "_transport")

    def __init__(self, transport: asyncio.WriteTransport):
        self._transport = transport
        self._socket = transport.get_extra_info("socket")

    def unsent_bytes(self) -> int:
        return self._transport.get_write_buffer_size() + _kernel_send_queue(self._socket)

    def hold_up_to(self, limit: int) -> None:
        """Lets the transport buffer what `limit` allows before the server's `send` starts to wait.
        Otherwise, with a small kernel buffer, a subscription would hang inside a send (64 KiB by
        default) before its own check saw the limit, and could not end until the client read."""
        if self._transport.get_write_buffer_limits()[1] < limit + _HIGH_WATER:
            self._transport.set_write_buffer_limits(high=limit + _HIGH_WATER)


def _kernel_send_queue(sock: Any) -> int:
    if sock is None or _OUTQ is None:
        return 0
    try:
        raw = fcntl.ioctl(sock.fileno(), _OUTQ, b"\0\0\0\0")
    except (OSError, ValueError):  # closed meanwhile: nothing is waiting any more
        return 0
    return int(struct.unpack("i", raw)[0])


def send_backlog_of(scope: Mapping[str, Any]) -> SendBacklog | None:
    backlog = (scope.get("extensions") or {}).get(EXTENSION)
    return backlog if isinstance(backlog, SendBacklog) else None


class SendBacklogMiddleware:
    """Outermost, so `send` is still the server's own (every middleware inside wraps it)."""

    def __init__(self, app: ASGIApp):
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "websocket":
            transport = getattr(getattr(send, "__self__", None), "transport", None)
            if isinstance(transport, asyncio.WriteTransport):
                extensions = {**(scope.get("extensions") or {}), EXTENSION: SendBacklog(transport)}
                scope = {**scope, "extensions": extensions}
        await self.app(scope, receive, send)
