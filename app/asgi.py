"""Composition root: the Starlette app, its lifespan (Mongo, indexes, services, real time) and routes."""

from __future__ import annotations

import asyncio
import contextlib
import io
import logging
from collections.abc import AsyncIterator, Coroutine, Sequence
from typing import Any

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route, WebSocketRoute
from starlette.types import ASGIApp, Receive, Scope, Send

from app import metrics
from app.tracing import TraceContextMiddleware, Tracing
from app.access_log import AccessLogMiddleware, note_error_code
from app.dashboard_page import FrontEnd, dashboard_routes
from app.domain.errors import ErrorCode, ServiceUnavailable, Unauthenticated
from app.domain.principals import Role
from app.http_guard import HttpGuard
from app.logs import new_request_id, request_id_var
from app.routes import IMPORTS_PATH, routes
from app.repositories.database import Mongo, connect, deadline, unavailable_error
from app.repositories.indexes import ensure_indexes
from app.domain.refunds import AppeasementLimits
from app.domain.webhooks import WebhookOptions
from app.services.container import Services, build_services
from app.services.instances import InstanceWatch
from app.services.webhook_delivery import WebhookWorker
from app.services.jwt_tokens import JwtConfig
from app.services.rate_limits import ClientBudgets, client_budgets
from app.settings import Settings
from graphql_schema.schema import schema
from graphql_schema.view import OmsGraphQL, credential_from_headers
from subscriptions.backlog import SendBacklogMiddleware
from subscriptions.realtime import Realtime, RealtimeOptions

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
        request_id = incoming if 0 < len(incoming) <= 64 and incoming.isprintable() else new_request_id()
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


class DatabaseDeadline:
    """Every HTTP request's database work ends within `seconds` (the driver gives up by itself:
    nothing is cancelled), and a request that fails because the database could not be reached
    answers 503 with Retry-After and a SERVICE_UNAVAILABLE GraphQL error (the GraphQL view answers
    field failures itself; this catches what fails before execution, e.g. checking an API key, and
    the plain routes). Inside HttpGuard, so the deadline starts once the body has arrived."""

    def __init__(self, app: ASGIApp, *, seconds: float, exempt: tuple[str, ...] = ()):
        self.app = app
        self.seconds = seconds
        # Path prefixes that bound their own database work in steps (bulk imports run for minutes).
        self.exempt = exempt

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or self.seconds <= 0 or scope["path"].startswith(self.exempt):
            await self.app(scope, receive, send)
            return
        started = False

        async def send_noting_start(message: dict) -> None:  # type: ignore[type-arg]
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            with deadline(self.seconds):
                await self.app(scope, receive, send_noting_start)
        except Exception as exc:
            unavailable = exc if isinstance(exc, ServiceUnavailable) else unavailable_error(exc)
            if unavailable is None or started:
                raise
            log.warning(
                "database unavailable: %s", str(exc).split("\n", 1)[0][:300],
                extra={"path": scope.get("path"), "error": type(exc).__name__},
            )
            note_error_code(ErrorCode.SERVICE_UNAVAILABLE.value)
            body = {
                "errors": [
                    {
                        "message": unavailable.message,
                        "extensions": {
                            "code": ErrorCode.SERVICE_UNAVAILABLE.value,
                            "retryAfterSeconds": unavailable.retry_after_seconds,
                        },
                    }
                ]
            }
            response = JSONResponse(body, status_code=503, headers={"retry-after": str(unavailable.retry_after_seconds)})
            await response(scope, receive, send)


# A shutdown step gets this long; one that hangs is logged and left behind, so that a SIGTERM'd
# process still exits (its supervisor would otherwise have to kill it, mid-write).
SHUTDOWN_STEP_SECONDS = 10.0


async def _stop_step(name: str, stop: Coroutine[Any, Any, None]) -> None:
    task = asyncio.ensure_future(stop)
    done, _ = await asyncio.wait({task}, timeout=SHUTDOWN_STEP_SECONDS)
    if done:
        task.result()
        return
    stacks = {}
    for other in asyncio.all_tasks():
        frames = io.StringIO()
        other.print_stack(limit=8, file=frames)
        stacks[other.get_name()] = frames.getvalue()
    log.error("shutdown step did not finish; going on without it", extra={"step": name, "tasks": stacks})
    task.cancel()


async def _sample_every(sampler: metrics.Sampler, seconds: float) -> None:
    while True:
        try:
            sampler.sample()
        except Exception:  # noqa: BLE001 - a failed sample must not end sampling
            log.exception("sampling metrics failed")
        await asyncio.sleep(seconds)


def realtime_options(settings: Settings) -> RealtimeOptions:
    return RealtimeOptions(
        broadcast_url=settings.broadcast_url,
        subscriber_queue_size=settings.subscriber_queue_size,
        subscriber_send_limit_bytes=settings.subscriber_send_limit_bytes,
        lease_seconds=settings.relay_lease_seconds,
        relay=settings.relay_enabled,
        dashboard_interval_seconds=settings.dashboard_interval_seconds,
        tail_check_seconds=settings.hub_tail_check_seconds,
    )


def webhook_options(settings: Settings) -> WebhookOptions:
    return WebhookOptions(
        max_attempts=settings.webhook_max_attempts,
        backoff_base_seconds=settings.webhook_backoff_base_seconds,
        backoff_max_seconds=settings.webhook_backoff_max_seconds,
        timeout_seconds=settings.webhook_timeout_seconds,
        concurrency_per_endpoint=settings.webhook_concurrency,
        allow_private_targets=settings.allow_private_webhook_targets,
        lease_seconds=settings.relay_lease_seconds,
    )


def jwt_config(settings: Settings) -> JwtConfig | None:
    """None when no key or JWKS is configured: bearer JWTs are then refused (API keys still work)."""
    if not settings.jwt_key and not settings.jwt_jwks_url:
        return None
    return JwtConfig(
        key=settings.jwt_key,
        jwks_url=settings.jwt_jwks_url,
        jwks_refresh_seconds=settings.jwt_jwks_refresh_seconds,
        jwks_max_age_seconds=settings.jwt_jwks_max_age_seconds,
        algorithms=settings.jwt_algorithms,
        issuer=settings.jwt_issuer,
        audience=settings.jwt_audience,
        leeway_seconds=settings.jwt_leeway_seconds,
        claim_prefix=settings.jwt_claim_prefix,
    )


def create_app(
    settings: Settings,
    *,
    mongodb_uri: str | None = None,
    mongo_listeners: Sequence[object] = (),
    tracing: Tracing | None = None,
    front_end: FrontEnd | None = None,
) -> Starlette:
    """`mongodb_uri` overrides settings (the CLI passes the embedded mongod's address).
    `mongo_listeners` are PyMongo monitoring listeners (tests count commands with them).
    `tracing`: OpenTelemetry tracing; by default as the OTEL_* variables say (app/tracing.py: off
    unless they configure it). `front_end`: where the dashboard's files are (default: the
    repository's `dashboard/`)."""
    uri = mongodb_uri or settings.mongodb_uri
    if tracing is None:
        tracing = Tracing.from_env()
    if tracing is not None:
        mongo_listeners = (*mongo_listeners, tracing.mongo_listener())
    if not uri:
        raise ValueError("create_app needs a MongoDB URI; `oms serve` starts an embedded mongod when none is set")
    jwt = jwt_config(settings)  # a bad JWT configuration fails here, at startup, not on the first request
    state: dict[str, Services] = {}
    sampler = metrics.Sampler()
    metrics.watch_gc()
    front_end = front_end or FrontEnd()

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        mongo = Mongo(connect(uri, event_listeners=mongo_listeners), settings.database)
        realtime: Realtime | None = None
        watch: InstanceWatch | None = None
        webhooks: WebhookWorker | None = None
        warming: list[asyncio.Task[None]] = []  # held so the task is not collected mid-read
        sampling: asyncio.Task[None] | None = None
        budgets: ClientBudgets | None = None
        try:
            await ensure_indexes(mongo.db, event_retention_days=settings.event_retention_days)
            services = build_services(
                mongo,
                allow_anonymous_admin=settings.allow_anonymous_admin,
                jwt=jwt,
                api_key_cache_seconds=settings.api_key_cache_seconds,
                signing_key=settings.signing_key,
                webhook_secrets=settings.carrier_webhook_secrets(),
                webhook_tolerance_seconds=settings.webhook_tolerance_seconds,
                scheduler_interval_seconds=settings.scheduler_interval_seconds,
                appeasement_limits=AppeasementLimits(
                    csr_cents=settings.appeasement_limit_csr_cents, admin_cents=settings.appeasement_limit_admin_cents
                ),
                webhook_options=webhook_options(settings),
            )
            state["services"] = services
            graphql.services = services
            budgets = client_budgets(
                settings.rate_limit_storage,
                capacity=limits.rate_capacity,
                rate_per_second=limits.rate_per_second,
                mongo=mongo,
                redis_url=settings.rate_limit_redis_url,
                lease_units=limits.rate_lease_units,
            )
            graphql.budget = budgets
            # Inventory copies of a location changed just before a crash: refreshed in the background
            # (usually nothing to do; a big location takes seconds, which start-up need not wait for).
            services.locations.refresh_copies_soon()
            await services.products.index_unsearchable()
            await services.backorders.index_waiting_orders()
            # First: from here on a kill -9 of this process leaves no transaction open for long.
            watch = services.instance_watch()
            await watch.start()
            services.scheduler.start()
            services.replenishment.start()
            if settings.webhook_delivery:
                # Every process is a candidate; the one holding the `webhooks` lease delivers.
                webhooks = services.webhook_worker()
                webhooks.start()
            if settings.env != "test":
                # The geocoder's tables (1-4 s, ~70 MiB) are read now in a thread, not inside the first
                # order that comes without coordinates; tests read them when one needs them.
                warming.append(asyncio.create_task(asyncio.to_thread(services.geocoder.warm)))
            realtime = Realtime(services, realtime_options(settings))
            await realtime.start()
            graphql.realtime = realtime
            hub = realtime.hub
            sampler.add(lambda: metrics.SUBSCRIBER_BACKLOG.set(hub.deepest_backlog()))
            sampling = asyncio.create_task(_sample_every(sampler, metrics.Sampler.SECONDS), name="metrics-sampler")
            if settings.allow_anonymous_admin:
                log.warning("development mode: callers without a credential act as an anonymous ADMIN")
            for warning in settings.production_warnings():
                log.warning(warning)
            log.info("ready", extra={"database": settings.database, "env": settings.env})
            yield
        finally:
            if sampling is not None:
                sampling.cancel()
            if realtime is not None:
                await _stop_step("realtime", realtime.stop())
            if webhooks is not None:
                await _stop_step("webhooks", webhooks.stop())
            if "services" in state:
                await _stop_step("scheduler", state["services"].scheduler.stop())
                await _stop_step("replenishment", state["services"].replenishment.stop())
                await _stop_step("location copies", state["services"].locations.stop())
            if watch is not None:
                await _stop_step("instance watch", watch.stop())
            if budgets is not None:
                await _stop_step("rate-limit store", budgets.close())
            await _stop_step("mongo", mongo.close())
            if tracing is not None:
                tracing.shutdown()
            metrics.process_exiting()  # last: the steps above still move live gauges

    limits = settings.limits
    graphql = OmsGraphQL(
        schema,
        services=None,  # type: ignore[arg-type]
        graphiql=settings.graphiql,
        ws_init_timeout_seconds=settings.ws_init_timeout_seconds,
        ws_heartbeat_seconds=settings.ws_heartbeat_seconds,
        db_timeout_seconds=settings.db_timeout_seconds,
        limits=limits,
        budget=None,  # set in the lifespan: shared budgets need the database (or Redis)
        allow_get=settings.http_get,
        legacy_ws=settings.legacy_graphql_ws,
        ide_page=front_end.graphiql,
        fast_path=settings.graphql_fast_path,
    )
    graphql.tracer = tracing.tracer if tracing is not None else None

    async def livez(request: Request) -> JSONResponse:
        """Liveness: the event loop answers, and the database client is not stuck (a ping through
        it ends, answered or failed, within its deadline). An unreachable database is not a reason
        to restart the process (/readyz reports that); a wedged client is. Answers within ~1.3 s."""
        services = state.get("services")
        live = services is None or await services.live()
        return JSONResponse({"status": "ok" if live else "stuck"}, status_code=200 if live else 503)

    async def readyz(request: Request) -> JSONResponse:
        services = state.get("services")
        try:
            ok = bool(services) and await services.ready()  # type: ignore[union-attr]
        except Exception:  # noqa: BLE001 - any failure means "not ready"
            ok = False
        return JSONResponse({"status": "ready" if ok else "unavailable"}, status_code=200 if ok else 503)

    async def metrics_endpoint(request: Request) -> Response:
        """The Prometheus scrape, for ADMIN credentials only (docs/OPERATIONS.md, "Metrics"): the
        figures tell a competitor order volumes, and the scrape costs a walk of every metric."""
        services = state.get("services")
        if services is None:
            return JSONResponse({"code": ErrorCode.SERVICE_UNAVAILABLE.value, "message": "Starting."}, status_code=503)
        try:
            principal = await services.auth.authenticate(credential_from_headers(request.headers))
        except Unauthenticated as exc:
            note_error_code(exc.code.value)
            return JSONResponse(
                {"code": exc.code.value, "message": exc.message}, status_code=401, headers={"www-authenticate": "Bearer"}
            )
        if principal is None:
            note_error_code(ErrorCode.UNAUTHENTICATED.value)
            return JSONResponse(
                {"code": ErrorCode.UNAUTHENTICATED.value, "message": "Metrics need an ADMIN credential."},
                status_code=401,
                headers={"www-authenticate": "Bearer"},
            )
        if principal.role is not Role.ADMIN:
            note_error_code(ErrorCode.FORBIDDEN.value)
            return JSONResponse(
                {"code": ErrorCode.FORBIDDEN.value, "message": "Metrics need an ADMIN credential."}, status_code=403
            )
        sampler.sample()
        body, content_type = metrics.exposition()
        return Response(body, media_type=content_type)

    # SendBacklogMiddleware first: it needs the server's own `send` (subscriptions/backlog.py).
    middleware = [Middleware(SendBacklogMiddleware), Middleware(RequestIdMiddleware), Middleware(AccessLogMiddleware)]
    if tracing is not None:  # outside the access log, so its line is written inside the caller's trace
        middleware.insert(1, Middleware(TraceContextMiddleware))
    if settings.cors_origins:
        middleware.append(
            Middleware(
                CORSMiddleware,
                allow_origins=list(settings.cors_origins),
                allow_methods=["GET", "POST"],
                allow_headers=["Authorization", "Content-Type", "X-API-Key", "X-Request-ID"],
                expose_headers=["X-Request-ID", "Retry-After"],
                # Credentials travel in headers, never cookies: no ambient authority to share.
                allow_credentials=False,
                max_age=600,
            )
        )
    middleware.append(
        Middleware(
            HttpGuard,
            max_body_bytes=limits.max_body_bytes,
            production=settings.production,
            streamed={IMPORTS_PATH: settings.import_max_bytes},
        )
    )
    middleware.append(Middleware(DatabaseDeadline, seconds=settings.db_timeout_seconds, exempt=(IMPORTS_PATH,)))
    return Starlette(
        routes=[
            # /healthz is /livez, so that a liveness probe already pointed at it restarts a stuck process.
            Route("/livez", livez),
            Route("/healthz", livez),
            Route("/readyz", readyz),
            Route("/metrics", metrics_endpoint, methods=["GET"]),
            # GET serves queries (never mutations) and the GraphiQL page; off, only POST. The view
            # answers other methods itself (405 with a JSON GraphQL error and `Allow`).
            Route("/graphql", graphql),
            WebSocketRoute("/graphql", graphql),
            *routes(lambda: state["services"], db_timeout_seconds=settings.db_timeout_seconds),
            # The live operations page: a read-only API client, served in production too.
            *dashboard_routes(front_end, redirect_root=not settings.production),
        ],
        middleware=middleware,
        lifespan=lifespan,
    )
