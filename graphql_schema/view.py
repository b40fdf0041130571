"""The GraphQL endpoint: HTTP and WebSocket, with the per-request context built here."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import Mapping
from datetime import timedelta
from typing import TYPE_CHECKING, Any

import strawberry
from starlette.requests import Request
from starlette.responses import Response
from starlette.websockets import WebSocket
from strawberry.asgi import GraphQL
from strawberry.exceptions import ConnectionRejectionError
from strawberry.subscriptions.protocols.graphql_transport_ws.handlers import BaseGraphQLTransportWSHandler
from strawberry.subscriptions.protocols.graphql_transport_ws.types import ConnectionInitMessage
from strawberry.types.unset import UNSET, UnsetType

from app.domain.errors import Unauthenticated
from app.domain.principals import NOBODY
from app.logs import request_id_var
from app.services.container import Services
from graphql_schema.context import Context, build_context
from graphql_schema.dataloaders import Loaders

if TYPE_CHECKING:
    from subscriptions.realtime import Realtime


def credential_from_headers(headers: Mapping[str, str]) -> str | None:
    api_key = headers.get("x-api-key")
    if api_key:
        return api_key.strip()
    authorization = headers.get("authorization", "")
    scheme, _, value = authorization.partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip()
    return None


def credential_from_params(params: Mapping[str, Any]) -> str | None:
    """Browsers cannot set WebSocket headers, so clients send the credential in connection_init."""
    lowered = {str(k).lower(): v for k, v in params.items() if isinstance(v, str)}
    return credential_from_headers({k: lowered[k] for k in ("x-api-key", "authorization") if k in lowered}) or (
        lowered.get("apikey", "").strip() or None
    )


class HeartbeatTransportWSHandler(BaseGraphQLTransportWSHandler[Context, None]):
    """graphql-transport-ws with server pings: idle mobile connections stay open through NATs and
    proxies, and a client can tell a dead link from a quiet one. (Strawberry's keep_alive only
    covers the legacy graphql-ws protocol.)"""

    heartbeat_seconds: float = 15.0
    _heartbeat: asyncio.Task[None] | None = None

    async def handle_connection_init(self, message: ConnectionInitMessage) -> None:
        await super().handle_connection_init(message)
        if self.connection_acknowledged and self._heartbeat is None and self.heartbeat_seconds > 0:
            self._heartbeat = asyncio.create_task(self._beat())

    async def _beat(self) -> None:
        with contextlib.suppress(Exception):
            while True:
                await asyncio.sleep(self.heartbeat_seconds)
                await self.send_message({"type": "ping"})

    async def shutdown(self) -> None:
        if self._heartbeat is not None:
            self._heartbeat.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._heartbeat
        await super().shutdown()


class OmsGraphQL(GraphQL[Context, None]):
    def __init__(
        self,
        schema: strawberry.Schema,
        services: Services,
        *,
        graphiql: bool,
        realtime: Realtime | None = None,
        ws_init_timeout_seconds: float = 10.0,
        ws_heartbeat_seconds: float = 15.0,
        **options: Any,
    ):
        super().__init__(
            schema,
            graphql_ide="graphiql" if graphiql else None,
            keep_alive=True,
            keep_alive_interval=ws_heartbeat_seconds,
            connection_init_wait_timeout=timedelta(seconds=ws_init_timeout_seconds),
            **options,
        )
        self.services = services
        self.realtime = realtime
        self.graphql_transport_ws_handler_class = type(  # type: ignore[assignment]
            "HeartbeatTransportWSHandler", (HeartbeatTransportWSHandler,), {"heartbeat_seconds": ws_heartbeat_seconds}
        )

    async def on_ws_connect(self, context: Context) -> UnsetType | dict[str, object] | None:
        """A credential in connection_init replaces one from the handshake headers; a bad one is refused (4403)."""
        credential = credential_from_params(context.connection_params or {})
        if credential is None:
            return UNSET
        try:
            principal = await self.services.auth.authenticate(credential)
        except Unauthenticated as exc:
            raise ConnectionRejectionError() from exc
        context.principal = principal
        context.loaders = Loaders(self.services, principal or NOBODY)
        return UNSET

    async def get_context(self, request: Request | WebSocket, response: Response | WebSocket | None = None) -> Context:
        request_id = request_id_var.get() or uuid.uuid4().hex
        credential = credential_from_headers(request.headers)
        try:
            principal = await self.services.auth.authenticate(credential)
        except Unauthenticated:
            # A bad credential never falls back to anonymous; fields behind IsAuthenticated refuse it.
            principal = None
        return build_context(self.services, principal, request_id, realtime=self.realtime)
