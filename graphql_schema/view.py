"""The GraphQL endpoint: HTTP and WebSocket, with the per-request context built here."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Mapping
from datetime import timedelta
from typing import TYPE_CHECKING, Any

import strawberry
from starlette.requests import Request
from starlette.responses import Response
from starlette.websockets import WebSocket
from strawberry.asgi import GraphQL
from strawberry.exceptions import ConnectionRejectionError
from cross_web import HTTPException
from strawberry.subscriptions import GRAPHQL_TRANSPORT_WS_PROTOCOL, GRAPHQL_WS_PROTOCOL
from strawberry.subscriptions.protocols.graphql_transport_ws.handlers import BaseGraphQLTransportWSHandler
from strawberry.subscriptions.protocols.graphql_transport_ws.types import ConnectionInitMessage
from strawberry.types.unset import UNSET, UnsetType

from app.domain.errors import Unauthenticated
from app.domain.principals import NOBODY, Principal
from app.domain.rate_limits import LeakyBuckets
from app.logs import new_request_id, request_id_var
from app.services.container import Services
from app.settings import ApiLimits
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
    """Browsers cannot set WebSocket headers, so clients send the credential in connection_init:
    `{"authorization": "Bearer …"}` or `{"apiKey": "oms_…"}` (keys case-insensitive; `x-api-key` too)."""
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
    """`limits` and `budget` reach every operation through the context (graphql_schema/limits.py);
    `allow_get` serves queries (never mutations) over GET; `legacy_ws` adds the old `graphql-ws`
    subprotocol next to `graphql-transport-ws`."""

    def __init__(
        self,
        schema: strawberry.Schema,
        services: Services,
        *,
        graphiql: bool,
        realtime: Realtime | None = None,
        ws_init_timeout_seconds: float = 10.0,
        ws_heartbeat_seconds: float = 15.0,
        limits: ApiLimits | None = None,
        budget: LeakyBuckets | None = None,
        allow_get: bool = True,
        legacy_ws: bool = False,
        **options: Any,
    ):
        self.limits = limits or ApiLimits()
        super().__init__(
            schema,
            graphql_ide="graphiql" if graphiql else None,
            allow_queries_via_get=allow_get,
            subscription_protocols=(
                (GRAPHQL_TRANSPORT_WS_PROTOCOL, GRAPHQL_WS_PROTOCOL) if legacy_ws else (GRAPHQL_TRANSPORT_WS_PROTOCOL,)
            ),
            max_subscriptions_per_connection=self.limits.max_subscriptions_per_connection,
            keep_alive=True,
            keep_alive_interval=ws_heartbeat_seconds,
            connection_init_wait_timeout=timedelta(seconds=ws_init_timeout_seconds),
            **options,
        )
        self.services = services
        self.realtime = realtime
        self.budget = budget
        self.graphql_transport_ws_handler_class = type(  # type: ignore[assignment]
            "HeartbeatTransportWSHandler", (HeartbeatTransportWSHandler,), {"heartbeat_seconds": ws_heartbeat_seconds}
        )

    async def on_ws_connect(self, context: Context) -> UnsetType | dict[str, object] | None:
        """Authenticates connection_init: a credential there replaces one from the handshake headers.
        A bad credential (there, or in the headers with none there) closes with 4403; with none at
        all, every operation answers UNAUTHENTICATED (unless the development anonymous admin
        applies). Subscription resolvers read
        the principal from `info.context.principal` (`info.context.actor` behind IsAuthenticated)."""
        credential = credential_from_params(context.connection_params or {})
        if credential is None:
            if context.extras.get("credential_refused"):
                raise ConnectionRejectionError()
            return UNSET  # anonymous: connected, but the operation guard refuses every operation
        try:
            principal = await self.services.auth.authenticate(credential)
        except Unauthenticated as exc:
            raise ConnectionRejectionError() from exc
        if principal is None:
            raise ConnectionRejectionError()
        self._authenticate_context(context, principal)
        return UNSET

    def _authenticate_context(self, context: Context, principal: Principal | None) -> None:
        context.principal = principal
        context.loaders = Loaders(self.services, principal or NOBODY)
        context.client = _client_key(principal, context.client)

    async def get_context(self, request: Request | WebSocket, response: Response | WebSocket | None = None) -> Context:
        request_id = request_id_var.get() or new_request_id()
        credential = credential_from_headers(request.headers)
        refused = False
        try:
            principal = await self.services.auth.authenticate(credential)
        except Unauthenticated:
            # A bad credential never falls back to anonymous; the operation guard refuses it.
            principal, refused = None, True
        context = build_context(self.services, principal, request_id, realtime=self.realtime)
        context.limits = self.limits
        context.budget = self.budget
        context.client = _client_key(principal, f"ip:{request.client.host if request.client else 'unknown'}")
        context.response = response if isinstance(response, Response) else None
        if refused:
            context.extras["credential_refused"] = True
        return context

    async def parse_http_body(self, request: Any) -> Any:
        # A JSON body that is not an object (or a list of them) is a client error, not a server fault.
        try:
            return await super().parse_http_body(request)
        except (AttributeError, TypeError, ValueError) as exc:
            raise HTTPException(400, "The body must be a JSON object with a `query`.") from exc


def _client_key(principal: Principal | None, fallback: str) -> str:
    """Whose budget an operation spends: the principal's subject, else the client's address."""
    if principal is None or principal.subject.startswith("anonymous"):
        return fallback
    return f"sub:{principal.subject}"
