"""Composition root: the Starlette app, its lifespan (Mongo, indexes, services) and routes."""

from __future__ import annotations

import contextlib
import logging
import uuid
from collections.abc import AsyncIterator, Sequence

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route, WebSocketRoute
from starlette.types import ASGIApp, Receive, Scope, Send

from app.logs import request_id_var
from app.routes import routes
from app.repositories.database import Mongo, connect
from app.repositories.indexes import ensure_indexes
from app.services.container import Services, build_services
from app.settings import Settings
from graphql_schema.schema import schema
from graphql_schema.view import OmsGraphQL

log = logging.getLogger("oms")


class RequestIdMiddleware:
    """Every request gets an id (or keeps the caller's X-Request-ID), logged and echoed back."""

    def __init__(self, app: ASGIApp):
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        incoming = dict(scope.get("headers") or []).get(b"x-request-id", b"").decode("latin-1")
        request_id = incoming if 0 < len(incoming) <= 64 and incoming.isprintable() else uuid.uuid4().hex
        token = request_id_var.set(request_id)

        async def send_with_id(message: dict) -> None:  # type: ignore[type-arg]
            if message["type"] == "http.response.start":
                message.setdefault("headers", [])
                message["headers"] = [*message["headers"], (b"x-request-id", request_id.encode())]
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            request_id_var.reset(token)


def create_app(
    settings: Settings, *, mongodb_uri: str | None = None, mongo_listeners: Sequence[object] = ()
) -> Starlette:
    """`mongodb_uri` overrides settings (the CLI passes the embedded mongod's address).
    `mongo_listeners` are PyMongo monitoring listeners (tests count commands with them)."""
    uri = mongodb_uri or settings.mongodb_uri
    if not uri:
        raise ValueError("create_app needs a MongoDB URI; `oms serve` starts an embedded mongod when none is set")
    state: dict[str, Services] = {}

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        mongo = Mongo(connect(uri, event_listeners=mongo_listeners), settings.database)
        try:
            await ensure_indexes(mongo.db)
            services = build_services(
                mongo,
                allow_anonymous_admin=settings.allow_anonymous_admin,
                signing_key=settings.signing_key,
                webhook_secrets=settings.carrier_webhook_secrets(),
                webhook_tolerance_seconds=settings.webhook_tolerance_seconds,
                scheduler_interval_seconds=settings.scheduler_interval_seconds,
            )
            state["services"] = services
            graphql.services = services
            services.scheduler.start()
            log.info("ready", extra={"database": settings.database, "env": settings.env})
            yield
        finally:
            if "services" in state:
                await state["services"].scheduler.stop()
            await mongo.close()

    graphql = OmsGraphQL(schema, services=None, graphiql=not settings.production)  # type: ignore[arg-type]

    async def healthz(request: Request) -> JSONResponse:
        return JSONResponse({"status": "ok"})

    async def readyz(request: Request) -> JSONResponse:
        services = state.get("services")
        try:
            ok = bool(services) and await services.ready()  # type: ignore[union-attr]
        except Exception:  # noqa: BLE001 - any failure means "not ready"
            ok = False
        return JSONResponse({"status": "ready" if ok else "unavailable"}, status_code=200 if ok else 503)

    return Starlette(
        routes=[
            Route("/healthz", healthz),
            Route("/readyz", readyz),
            Route("/graphql", graphql, methods=["GET", "POST"]),
            WebSocketRoute("/graphql", graphql),
            *routes(lambda: state["services"]),
        ],
        middleware=[Middleware(RequestIdMiddleware)],
        lifespan=lifespan,
    )
