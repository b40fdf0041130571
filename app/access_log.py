"""One access-log line per HTTP request and per WebSocket operation: logger `oms.access`, INFO.

Fields: `transport` (http, ws), `method` and `path` (HTTP), `operation` (the GraphQL operation's
name, or null), `type` (query, mutation, subscription, or null when none was determined),
`principal` (the caller's subject, or null), `cost` (the static cost the operation guard computed,
or null), `status` (the HTTP status; null for a WebSocket operation), `code` (the first error's
`extensions.code`, or null), `duration_ms` and `request_id`.

The middleware opens an `Access` record per request in a context variable; the GraphQL layer fills
in what it learns on its way (graphql_schema/limits.py, graphql_schema/view.py), so nothing is parsed
twice. A WebSocket operation gets its own record in its own task (graphql_schema/view.py).
"""

from __future__ import annotations

import contextvars
import logging
import time
from dataclasses import dataclass

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app import metrics
from app.logs import request_id_var

log = logging.getLogger("oms.access")


@dataclass(slots=True)
class Access:
    transport: str = "http"
    operation: str | None = None
    type: str | None = None
    principal: str | None = None
    cost: int | None = None
    code: str | None = None
    # (trace id, span id) of the operation's span when tracing is on: the line names the trace.
    trace: tuple[str, str] | None = None


access_var: contextvars.ContextVar[Access | None] = contextvars.ContextVar("access", default=None)


def note_error_code(code: object) -> None:
    """Keeps the first error code of the request (or WebSocket operation) for its access-log line."""
    access = access_var.get()
    if access is not None and access.code is None and isinstance(code, str):
        access.code = code


def write(
    access: Access, *, started: float, status: int | None, method: str | None = None, path: str | None = None
) -> None:
    seconds = time.perf_counter() - started
    if path is None or path == "/graphql":
        metrics.record_operation(access.transport, access.type, access.operation, access.code, access.cost, seconds)
    if path is not None:
        metrics.record_http(path, status or 0, seconds)
    if not log.isEnabledFor(logging.INFO):
        return
    duration_ms = round(seconds * 1000, 2)
    log.info(
        "%s %s %s %s %sms",
        method or access.transport,
        path or access.type or "-",
        status if status is not None else "-",
        access.operation or "-",
        duration_ms,
        extra={
            "transport": access.transport,
            "method": method,
            "path": path,
            "operation": access.operation,
            "type": access.type,
            "principal": access.principal,
            "cost": access.cost,
            "status": status,
            "code": access.code,
            "duration_ms": duration_ms,
            "request_id": request_id_var.get(),
            **({"trace_id": access.trace[0], "span_id": access.trace[1]} if access.trace else {}),
        },
    )


class AccessLogMiddleware:
    """Inside RequestIdMiddleware (the line carries the request id) and outside HttpGuard (its
    refusals are logged with their status too)."""

    def __init__(self, app: ASGIApp):
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        access = Access()
        token = access_var.set(access)
        started = time.perf_counter()
        status = 500  # if the app fails before it answers, the server's error middleware answers 500

        async def send_with_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_with_status)
        finally:
            access_var.reset(token)
            write(access, started=started, status=status, method=scope["method"], path=scope["path"])
