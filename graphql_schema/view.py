"""The GraphQL endpoint: HTTP and WebSocket, with the per-request context built here."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from datetime import timedelta
from typing import Any

import strawberry
from starlette.requests import Request
from starlette.responses import Response
from starlette.websockets import WebSocket
from strawberry.asgi import GraphQL

from app.domain.errors import Unauthenticated
from app.logs import request_id_var
from app.services.container import Services
from graphql_schema.context import Context, build_context


def credential_from_headers(headers: Mapping[str, str]) -> str | None:
    api_key = headers.get("x-api-key")
    if api_key:
        return api_key.strip()
    authorization = headers.get("authorization", "")
    scheme, _, value = authorization.partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip()
    return None


class OmsGraphQL(GraphQL[Context, None]):
    def __init__(self, schema: strawberry.Schema, services: Services, *, graphiql: bool, **options: Any):
        super().__init__(
            schema,
            graphql_ide="graphiql" if graphiql else None,
            keep_alive=True,
            keep_alive_interval=15,
            connection_init_wait_timeout=timedelta(seconds=10),
            **options,
        )
        self.services = services

    async def get_context(self, request: Request | WebSocket, response: Response | WebSocket | None = None) -> Context:
        request_id = request_id_var.get() or uuid.uuid4().hex
        credential = credential_from_headers(request.headers)
        try:
            principal = await self.services.auth.authenticate(credential)
        except Unauthenticated:
            # A bad credential never falls back to anonymous; fields behind IsAuthenticated refuse it.
            principal = None
        return build_context(self.services, principal, request_id)
