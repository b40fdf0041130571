"""HTTP hygiene in front of every route: JSON-only POST, a body-size cap, security headers.

- GraphQL POST bodies must be `application/json`: the content types a browser may send cross-site without a
  CORS preflight (`application/x-www-form-urlencoded`, `multipart/form-data`, `text/plain`) are
  refused with 415, so no "simple request" can make the API act for a logged-in browser.
- Any POST body over `max_body_bytes` is refused with 413 before it is parsed (declared length checked
  first, then counted while reading, so a chunked body cannot slip past). A body that never arrives
  in full (the client left, or was cut off for sending it too slowly: app/http_timeouts.py) never
  reaches the application.
- Except under the `streamed` path prefixes (bulk imports, `/imports/`): their own, larger cap, and
  the body is passed through as it arrives instead of being read first, so a 1 GiB upload is never
  held in memory. A declared length over the cap is refused with 413 before anything runs; a
  chunked body is counted as the application reads it, and `BodyTooLarge` is raised to it once past.
- Every response gets nosniff, frame-deny, no-referrer and a CSP: `default-src 'none'` unless the
  response brings its own (the dashboard and GraphiQL pages, app/dashboard_page.py: this origin only).
"""

from __future__ import annotations

import json
from collections.abc import Mapping

from starlette.types import ASGIApp, Message, Receive, Scope, Send

JSON_TYPES = frozenset({"application/json"})
_API_CSP = b"default-src 'none'; frame-ancestors 'none'"


def _header(scope: Scope, name: bytes) -> str:
    for key, value in scope.get("headers") or ():
        if key == name:
            return value.decode("latin-1")
    return ""


async def _refuse(send: Send, status: int, code: str, message: str) -> None:
    body = json.dumps({"errors": [{"message": message, "extensions": {"code": code}}]}).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())],
        }
    )
    await send({"type": "http.response.body", "body": body})


class _Disconnected(Exception):
    pass


class BodyTooLarge(Exception):
    """Raised by `receive` to an application reading a streamed body past its cap."""

    def __init__(self, limit: int):
        super().__init__(f"Request bodies are limited to {limit} bytes here.")
        self.limit = limit


class HttpGuard:
    def __init__(
        self, app: ASGIApp, *, max_body_bytes: int, production: bool, streamed: Mapping[str, int] | None = None
    ):
        self.app = app
        self.max_body_bytes = max_body_bytes
        self.production = production
        self.streamed = dict(streamed or {})  # path prefix -> body cap

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        send = self._with_headers(send)
        if scope["method"] == "POST":
            content_type = _header(scope, b"content-type").split(";", 1)[0].strip().lower()
            # Webhooks (signed, e.g. /webhooks/...) may use their sender's content type; GraphQL may not.
            if scope["path"].rstrip("/") == "/graphql" and content_type not in JSON_TYPES:
                await _refuse(send, 415, "UNSUPPORTED_MEDIA_TYPE", "POST bodies must be application/json.")
                return
            declared = _header(scope, b"content-length")
            streamed = next((cap for prefix, cap in self.streamed.items() if scope["path"].startswith(prefix)), None)
            if streamed is not None:
                if declared.isdigit() and int(declared) > streamed:
                    await _refuse(send, 413, "PAYLOAD_TOO_LARGE", f"Request bodies are limited to {streamed} bytes here.")
                    return
                await self.app(scope, _counted(receive, streamed), send)
                return
            if declared.isdigit() and int(declared) > self.max_body_bytes:
                await _refuse(send, 413, "PAYLOAD_TOO_LARGE", f"Request bodies are limited to {self.max_body_bytes} bytes.")
                return
            try:
                body = await self._read_body(receive)
            except _Disconnected:
                # The client went away, or the server closed a body that came too slowly
                # (app/http_timeouts.py): nothing to run. The server drops this answer; the access
                # log records it.
                await _refuse(send, 408, "REQUEST_TIMEOUT", "The request body was not received.")
                return
            if body is None:
                await _refuse(send, 413, "PAYLOAD_TOO_LARGE", f"Request bodies are limited to {self.max_body_bytes} bytes.")
                return
            receive = _replay(body, receive)
        await self.app(scope, receive, send)

    async def _read_body(self, receive: Receive) -> bytes | None:
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                raise _Disconnected
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_body_bytes:
                return None
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        return b"".join(chunks)

    def _with_headers(self, send: Send) -> Send:
        production = self.production

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers") or [])
                names = {name.lower() for name, _ in headers}
                extra = [
                    (b"x-content-type-options", b"nosniff"),
                    (b"x-frame-options", b"DENY"),
                    (b"referrer-policy", b"no-referrer"),
                    (b"content-security-policy", _API_CSP),
                ]
                if b"cache-control" not in names:
                    extra.append((b"cache-control", b"no-store"))
                if production:
                    extra.append((b"strict-transport-security", b"max-age=31536000; includeSubDomains"))
                message["headers"] = headers + [(k, v) for k, v in extra if k not in names]
            await send(message)

        return send_with_headers


def _counted(receive: Receive, limit: int) -> Receive:
    size = 0

    async def counted() -> Message:
        nonlocal size
        message = await receive()
        size += len(message.get("body", b""))
        if size > limit:
            raise BodyTooLarge(limit)
        return message

    return counted


def _replay(body: bytes, receive: Receive) -> Receive:
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()  # after the body: wait for the disconnect, as the server would

    return replay
