"""The GraphQL endpoint: HTTP and WebSocket, with the per-request context built here. How HTTP
answers are shaped (media types, status codes, request errors): graphql_schema/http_answers.py."""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import time
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable, Coroutine, Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING, Any

import strawberry
from cross_web import AsyncHTTPRequestAdapter, HTTPException
from graphql import GraphQLError, specified_rules
from graphql.validation import ASTValidationRule
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.types import Receive, Scope, Send
from starlette.websockets import WebSocket, WebSocketDisconnect
from strawberry.asgi import GraphQL
from strawberry.exceptions import ConnectionRejectionError, MissingQueryError
from strawberry.http.exceptions import WebSocketDisconnected
from strawberry.http import GraphQLHTTPResponse, GraphQLRequestData
from strawberry.schema.exceptions import CannotGetOperationTypeError, InvalidOperationTypeError
from strawberry.subscriptions import GRAPHQL_TRANSPORT_WS_PROTOCOL, GRAPHQL_WS_PROTOCOL
from strawberry.subscriptions.protocols.graphql_transport_ws.handlers import BaseGraphQLTransportWSHandler, Operation
from strawberry.subscriptions.protocols.graphql_transport_ws.types import ConnectionInitMessage
from strawberry.subscriptions.protocols.graphql_ws.handlers import BaseGraphQLWSHandler
from strawberry.types import ExecutionResult
from strawberry.types.execution import PreExecutionError
from strawberry.types.graphql import OperationType
from strawberry.types.unset import UNSET, UnsetType
from strawberry.utils.aio import aclosing

from app import metrics, tracing
from app.access_log import Access, access_var, note_error_code, write as write_access
from app.domain.errors import AUTHENTICATION_CODES, ErrorCode, Unauthenticated
from app.domain.principals import NOBODY, Principal
from app.services.rate_limits import ClientBudgets
from app.logs import new_request_id, request_id_var
from app.services.container import Services, database_unavailable
from app.settings import ApiLimits
from graphql_schema.context import Context, build_context
from graphql_schema.dataloaders import Loaders
from graphql_schema.extensions import client_error
from graphql_schema.fast_path import execute_prepared, fast_path_supported, prepare
from graphql_schema.limits import operation_rules
from graphql_schema.operation_cache import ParseOptions
from graphql_schema.http_answers import (
    CONTENT_TYPE,
    GRAPHQL_RESPONSE_JSON,
    RequestError,
    code_of,
    error_body,
    failed_before_execution,
    request_error_code,
    request_error_status,
    response_media_type,
)
from graphql_schema.live_frames import send_live_frames
from subscriptions import handover
from subscriptions.backlog import send_backlog_of
from subscriptions.handover import HandoverSlot

if TYPE_CHECKING:
    from subscriptions.realtime import Realtime


# Over WebSocket, an operation refused before it starts ends with an `error` message.
_REFUSAL_CODES = frozenset(
    {*(code.value for code in AUTHENTICATION_CODES), ErrorCode.FORBIDDEN.value, "RATE_LIMITED", "QUERY_TOO_COMPLEX"}
)
_PREPARED_KEYS = frozenset({"query", "variables", "operationName"})
_HTTP_OPERATIONS = {
    "GET": frozenset({OperationType.QUERY}),
    "POST": frozenset({OperationType.QUERY, OperationType.MUTATION}),
}


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
    covers the legacy graphql-ws protocol.) Only quiet connections are pinged: a message sent
    within the interval already tells both, and with thousands of subscribers the pings of busy
    connections cost the process as much CPU as their events."""

    heartbeat_seconds: float = 15.0
    _heartbeat: asyncio.Task[None] | None = None
    _last_sent: float = 0.0

    async def handle_connection_init(self, message: ConnectionInitMessage) -> None:
        try:
            await super().handle_connection_init(message)
        except Exception as exc:
            # The credential could not be checked because the database is away: not a refusal
            # (4403) but 1013 "try again later", which clients treat as retryable.
            if database_unavailable(exc) is None:
                raise
            await self.websocket.close(code=1013, reason="Database unavailable; try again later")
            return
        if self.connection_acknowledged and self._heartbeat is None and self.heartbeat_seconds > 0:
            self._heartbeat = asyncio.create_task(self._beat())

    async def _beat(self) -> None:
        with contextlib.suppress(Exception):
            while True:
                quiet_for = time.monotonic() - self._last_sent
                if quiet_for < self.heartbeat_seconds:
                    await asyncio.sleep(self.heartbeat_seconds - quiet_for)
                    continue
                await self.send_message({"type": "ping"})

    async def send_message(self, message: Any) -> None:
        self._last_sent = time.monotonic()
        await super().send_message(message)

    async def _send_text(self, text: str) -> None:
        """A live frame (graphql_schema/live_frames.py), bypassing the JSON encoding of send_message."""
        self._last_sent = time.monotonic()
        try:
            await self.websocket.ws.send_text(text)  # type: ignore[attr-defined]
        except WebSocketDisconnect as exc:
            raise WebSocketDisconnected from exc

    async def shutdown(self) -> None:
        if self._heartbeat is not None:
            self._heartbeat.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._heartbeat
        await super().shutdown()

    async def run_operation(self, operation: Operation[Context, None]) -> None:
        """One access-log line per operation, when it ends (for a subscription: its lifetime). The
        record lives in the operation's own task, so concurrent operations keep theirs apart."""
        access = Access(transport="ws")
        access_var.set(access)
        started = time.perf_counter()
        tracer = self.context.tracer
        span = token = None
        if tracer is not None:
            span, token = tracing.start_operation(tracer, "ws")
            access.trace = tracing.ids_of(span)
        try:
            await super().run_operation(operation)
        finally:
            if span is not None:
                tracing.end_operation(span, token, op_type=access.type, name=access.operation, code=access.code)
            write_access(access, started=started, status=None)

    async def _send_result_stream(self, operation: Operation[Context, None], result_source: Any) -> None:
        """Results the ordinary way until the subscription, live, hands its events over; then
        frames around payloads shared by alike subscriptions (graphql_schema/live_frames.py)."""
        realtime = self.context.realtime
        ws = getattr(self.websocket, "ws", None)
        slot = HandoverSlot() if realtime is not None and ws is not None else None
        handover.offered.set(slot)  # this operation's own task: its context is its own
        async with aclosing(_refusals_as_errors(result_source, slot)) as results:
            await super()._send_result_stream(operation, results)
        if slot is not None and slot.taken is not None:
            await send_live_frames(operation, slot, realtime.shared_results, self._send_text, self.view.encode_json)


@dataclass(frozen=True, slots=True)
class _LegacyOperation:
    id: str
    query: str
    operation_name: str | None
    variables: dict[str, object] | None


class LiveGraphQLWSHandler(BaseGraphQLWSHandler[Context, None]):
    """The legacy graphql-ws protocol (`OMS_LEGACY_GRAPHQL_WS`) with the same handover of live
    events as graphql-transport-ws, sent as `data` messages. Strawberry sends `complete` from the
    operation's own task once its stream ends: a handed-over subscription's frames go first."""

    async def handle_async_results(
        self, operation_id: str, query: str, operation_name: str | None, variables: dict[str, object] | None
    ) -> None:
        realtime, ws = self.context.realtime, getattr(self.websocket, "ws", None)
        slot = HandoverSlot() if realtime is not None and ws is not None else None
        handover.offered.set(slot)  # the operation's own task
        _legacy_operation.set(_LegacyOperation(operation_id, query, operation_name, variables))
        await super().handle_async_results(operation_id, query, operation_name, variables)

    async def send_data_message(self, execution_result: ExecutionResult, operation_id: str) -> None:
        slot = handover.offered.get()
        if slot is not None:
            slot.sent(execution_result)
        await super().send_data_message(execution_result, operation_id)

    async def send_message(self, message: Any) -> None:
        slot = handover.offered.get()
        operation = _legacy_operation.get()
        if (
            message.get("type") == "complete" and slot is not None and slot.taken is not None
            and operation is not None and message.get("id") == operation.id
        ):
            handover.offered.set(None)  # once: a cancellation meanwhile sends `complete` again
            realtime = self.context.realtime
            assert realtime is not None
            sender = _text_sender(self.websocket.ws)  # type: ignore[attr-defined]
            await send_live_frames(operation, slot, realtime.shared_results, sender, self.view.encode_json, kind="data")
        await super().send_message(message)


_legacy_operation: contextvars.ContextVar[_LegacyOperation | None] = contextvars.ContextVar("oms_legacy_operation", default=None)


def _text_sender(ws: WebSocket) -> Callable[[str], Awaitable[None]]:
    async def send_text(text: str) -> None:
        try:
            await ws.send_text(text)
        except WebSocketDisconnect as exc:
            raise WebSocketDisconnected from exc

    return send_text


async def _refusals_as_errors(results: AsyncIterator[Any], slot: HandoverSlot | None = None) -> AsyncGenerator[Any, None]:
    """A subscription refused before its first event (no credential, a bad one, outside the
    caller's scope, over its budget) ends with the protocol's `error` message for that operation,
    as graphql-transport-ws prescribes for errors before execution starts — not with a `next`
    carrying errors. Strawberry sends `error` for a PreExecutionError as the first result; refusals
    raised by the operation guard or by the subscription's own scope check arrive as plain results."""
    first = True
    async for result in results:
        errors = getattr(result, "errors", None)
        if errors:
            note_error_code(code_of(errors[0]))
        if (
            first
            and isinstance(result, ExecutionResult)
            and not isinstance(result, PreExecutionError)
            and failed_before_execution(result)
            and code_of(errors[0]) in _REFUSAL_CODES
        ):
            result = PreExecutionError(data=None, errors=errors, extensions=result.extensions)
        first = False
        if slot is not None:
            slot.sent(result)
        yield result


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
        budget: ClientBudgets | None = None,
        allow_get: bool = True,
        legacy_ws: bool = False,
        db_timeout_seconds: float = 5.0,
        ide_page: Callable[[], Response] | None = None,
        fast_path: bool = True,
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
        # The OpenTelemetry tracer when tracing is on (app/asgi.py sets it), else None.
        self.tracer: Any = None
        self.budget = budget
        self.db_timeout_seconds = db_timeout_seconds
        # GraphiQL from this app's own assets (app/dashboard_page.py) instead of Strawberry's CDN page.
        self.ide_page = ide_page
        self.graphql_ws_handler_class = LiveGraphQLWSHandler  # type: ignore[assignment]
        # Operations that parse and validate (cached) skip Strawberry's per-request machinery
        # (graphql_schema/fast_path.py) when the schema's extensions allow it.
        self._fast_path = fast_path and fast_path_supported(schema)
        self._prepared_for: tuple[ApiLimits, ParseOptions, tuple[type[ASTValidationRule], ...]] | None = None
        self.graphql_transport_ws_handler_class = type(  # type: ignore[assignment]
            "HeartbeatTransportWSHandler", (HeartbeatTransportWSHandler,), {"heartbeat_seconds": ws_heartbeat_seconds}
        )

    # --- HTTP ------------------------------------------------------------------------------------

    async def render_graphql_ide(self, request: Request) -> Response:
        if self.ide_page is None:
            return await super().render_graphql_ide(request)
        return self.ide_page()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Strawberry answers request errors as text/plain; here they are JSON GraphQL errors with a
        code (and methods are checked before anything else runs, authentication included)."""
        if scope["type"] != "http":
            if scope["type"] != "websocket":
                await super().__call__(scope, receive, send)
                return
            metrics.WEBSOCKET_CONNECTIONS.inc()
            try:
                await super().__call__(scope, receive, send)
            finally:
                metrics.WEBSOCKET_CONNECTIONS.dec()
            return
        request = Request(scope, receive=receive)
        allowed = "GET, POST" if self.allow_queries_via_get else "POST"
        try:
            if request.method not in ("GET", "POST") or (request.method == "GET" and not self.allow_queries_via_get):
                raise RequestError(405, "METHOD_NOT_ALLOWED", f"This endpoint accepts {allowed}.", allow=allowed)
            response = await self._run_prepared(request) if self._fast_path else None
            if response is None:
                response = await self.run(request)
        except HTTPException as exc:
            response = self._request_error(request, exc)
        await response(scope, receive, send)

    async def _run_prepared(self, request: Request) -> Response | None:
        """A POST whose operation parses and validates without errors (both cached by its text,
        so done once per process): Strawberry's `run` for it without what is then known in advance
        (graphql_schema/fast_path.py); the context, the result's processing and the response are
        this view's own. None: the standard path serves it (anything else, including whatever it
        has to report before execution)."""
        media_type = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
        if request.method != "POST" or media_type != "application/json":
            return None  # (app/http_guard.py refuses other bodies first; this path never relies on it)
        try:
            data = self.decode_json(await request.body())
        except ValueError:
            return None
        if type(data) is not dict or not data.keys() <= _PREPARED_KEYS:
            return None  # `extensions` (persisted queries) and anything unexpected: the standard path
        query, variables, operation_name = data.get("query"), data.get("variables"), data.get("operationName")
        if type(query) is not str or (variables is not None and type(variables) is not dict):
            return None
        if operation_name is not None and type(operation_name) is not str:
            return None
        options, rules = self._preparation()
        prepared = prepare(self.schema, query, operation_name or None, options, rules)
        if prepared is None:
            return None
        sub_response = await self.get_sub_response(request)
        context = await self.get_context(request, response=sub_response)
        result = await _traced(
            context,
            execute_prepared(
                self.schema, prepared, variables=variables, context=context, allowed_operation_types=_HTTP_OPERATIONS["POST"]
            ),
        )
        response_data = await self.process_result(request, result)
        if result.errors:
            self._handle_errors(result.errors, response_data)
        return self.create_response(response_data, sub_response)

    def _preparation(self) -> tuple[ParseOptions, tuple[type[ASTValidationRule], ...]]:
        """The parse options and validation rules the operation guard sets for this view's limits."""
        limits = self.limits
        if self._prepared_for is None or self._prepared_for[0] is not limits:
            options: ParseOptions = (("max_tokens", limits.max_tokens),)
            self._prepared_for = (limits, options, tuple(specified_rules) + operation_rules(limits))
        return self._prepared_for[1], self._prepared_for[2]

    def _request_error(self, request: Request, exc: HTTPException) -> Response:
        code = request_error_code(exc)
        note_error_code(code)
        media_type = response_media_type(request.headers.get("accept"))
        response = JSONResponse(error_body(code, exc.reason), status_code=exc.status_code, media_type=CONTENT_TYPE[media_type])
        if isinstance(exc, RequestError) and exc.allow:
            response.headers["allow"] = exc.allow
        return response

    async def parse_http_body(self, request: AsyncHTTPRequestAdapter) -> GraphQLRequestData:  # type: ignore[override]
        """POST bodies (JSON: HttpGuard refuses other types) are checked here, each problem with its
        own answer; GET parameters keep Strawberry's parsing."""
        if request.method != "POST":
            return await super().parse_http_body(request)  # type: ignore[return-value]
        body = await request.get_body()
        if not body.strip():
            raise RequestError(400, "BAD_REQUEST", "The request body is empty: send a JSON object with a `query`.")
        try:
            data = self.decode_json(body)
        except ValueError as exc:
            raise RequestError(400, "BAD_REQUEST", "The request body is not valid JSON.") from exc
        if isinstance(data, list):
            raise RequestError(
                400, "BATCH_NOT_SUPPORTED", "Batched operations are not supported: send one operation per request."
            )
        if not isinstance(data, dict):
            raise RequestError(400, "BAD_REQUEST", "The request body must be a JSON object with a `query`.")
        query, variables = data.get("query"), data.get("variables")
        operation_name, extensions = data.get("operationName"), data.get("extensions")
        if not isinstance(query, str) or not query.strip():
            raise RequestError(400, "BAD_REQUEST", "`query` must be a string holding a GraphQL document.")
        if variables is not None and not isinstance(variables, dict):
            raise RequestError(400, "BAD_REQUEST", "`variables` must be a JSON object.")
        if operation_name is not None and not isinstance(operation_name, str):
            raise RequestError(400, "BAD_REQUEST", "`operationName` must be a string.")
        if extensions is not None and not isinstance(extensions, dict):
            raise RequestError(400, "BAD_REQUEST", "`extensions` must be a JSON object.")
        return GraphQLRequestData(
            query=query, variables=variables, operation_name=operation_name or None, extensions=extensions
        )

    async def execute_single(  # noqa: PLR0917
        self,
        request: Request,
        request_adapter: AsyncHTTPRequestAdapter,
        sub_response: Response,
        context: Context,
        root_value: None,
        request_data: GraphQLRequestData,
    ) -> ExecutionResult:
        """Strawberry lets POST (and GET) run subscriptions for its multipart transport, which is
        not served here, and answers a wrong operation type with a plain 400. Here: queries over
        GET; queries and mutations over POST; a mutation over GET is a 405 (GraphQL over HTTP), a
        subscription a 400 pointing at the WebSocket, an operation name not in the document a
        GraphQL request error. All decided before anything runs."""
        return await _traced(context, self._execute(request_adapter, context, root_value, request_data))

    async def _execute(
        self,
        request_adapter: AsyncHTTPRequestAdapter,
        context: Context,
        root_value: None,
        request_data: GraphQLRequestData,
    ) -> ExecutionResult:
        try:
            return await self.schema.execute(
                request_data.query,
                root_value=root_value,
                variable_values=request_data.variables,
                context_value=context,
                operation_name=request_data.operation_name,
                allowed_operation_types=_HTTP_OPERATIONS[request_adapter.method],
                operation_extensions=request_data.extensions,
            )
        except InvalidOperationTypeError as exc:
            if exc.operation_type is OperationType.MUTATION:
                raise RequestError(
                    405, "METHOD_NOT_ALLOWED", "Mutations need POST: GET runs queries only.", allow="POST"
                ) from exc
            raise RequestError(
                400, "BAD_REQUEST", "Subscriptions run over WebSocket (graphql-transport-ws), not plain HTTP."
            ) from exc
        except CannotGetOperationTypeError as exc:
            name = exc.operation_name
            message = f'Unknown operation named "{name}".' if name else "The document has no operation to run."
            error = GraphQLError(message, extensions={"code": "OPERATION_RESOLUTION_FAILURE"})
            return PreExecutionError(data=None, errors=[error])
        except MissingQueryError as exc:
            raise RequestError(400, "BAD_REQUEST", "`query` must be a string holding a GraphQL document.") from exc

    async def get_sub_response(self, request: Request | WebSocket) -> Response:
        sub_response = await super().get_sub_response(request)
        sub_response.media_type = response_media_type(request.headers.get("accept"))
        return sub_response

    async def process_result(self, request: Request, result: ExecutionResult) -> GraphQLHTTPResponse:
        if result.errors:
            note_error_code(code_of(result.errors[0]))
            if any(code_of(error) is None for error in result.errors):
                # Every error a client sees has a code; one without is a failure no extension
                # converted (raised before execution): masked, as TypedErrors masks resolvers'.
                request_id = request_id_var.get()
                result.errors = [client_error(error, request_id) for error in result.errors]
        answer = await super().process_result(request, result)
        if failed_before_execution(result) and response_media_type(request.headers.get("accept")) == GRAPHQL_RESPONSE_JSON:
            del answer["data"]  # a GraphQL request error: no `data` entry at all
        return answer

    def create_response(self, response_data: GraphQLHTTPResponse | list[GraphQLHTTPResponse], sub_response: Response) -> Response:
        response = super().create_response(response_data, sub_response)
        retry_after = _unavailable_retry_after(response_data)
        if retry_after is not None:
            # Nothing in the request succeeded because the database was away: a whole-request
            # failure, answered as one (whatever the Accept header) so proxies and clients retry.
            response.status_code = 503
            response.headers["retry-after"] = str(retry_after)
            return response
        if sub_response.media_type == GRAPHQL_RESPONSE_JSON:
            response.headers["content-type"] = CONTENT_TYPE[GRAPHQL_RESPONSE_JSON]
            if isinstance(response_data, dict) and "data" not in response_data and not sub_response.status_code:
                errors = response_data.get("errors") or [{}]
                code = (errors[0].get("extensions") or {}).get("code")  # type: ignore[union-attr]
                response.status_code = request_error_status(code)
                if response.status_code == 401:
                    response.headers["www-authenticate"] = "Bearer"
        return response

    # --- WebSocket and context --------------------------------------------------------------------

    async def on_ws_connect(self, context: Context) -> UnsetType | dict[str, object] | None:
        """Authenticates connection_init: a credential there replaces one from the handshake headers.
        A bad credential (there, or in the headers with none there) closes with 4403; with none at
        all, every operation answers UNAUTHENTICATED (unless the development anonymous admin
        applies). Subscription resolvers read
        the principal from `info.context.principal` (`info.context.actor` behind IsAuthenticated)."""
        credential = credential_from_params(context.connection_params or {})
        if credential is None:
            if context.credential_error is not None:
                raise ConnectionRejectionError()
            return UNSET  # anonymous: connected, but the operation guard refuses every operation
        try:
            # Bounded like an HTTP request's database work (asgi.DatabaseDeadline); a timeout closes
            # the socket with 1013 (HeartbeatTransportWSHandler.handle_connection_init).
            with self.services.database_deadline(self.db_timeout_seconds):
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
        refused: Unauthenticated | None = None
        try:
            principal = await self.services.auth.authenticate(credential)
        except Unauthenticated as exc:
            # A bad credential never falls back to anonymous; the operation guard refuses it.
            principal, refused = None, exc
        context = build_context(self.services, principal, request_id, realtime=self.realtime)
        context.limits = self.limits
        context.budget = self.budget
        context.client = _client_key(principal, f"ip:{request.client.host if request.client else 'unknown'}")
        context.response = response if isinstance(response, Response) else None
        context.credential_error = refused
        context.tracer = self.tracer
        if isinstance(request, WebSocket):
            context.send_backlog = send_backlog_of(request.scope)
        return context


async def _traced(context: Context, operation: Coroutine[Any, Any, ExecutionResult]) -> ExecutionResult:
    """An HTTP operation in a span of its own when tracing is on, on either path."""
    tracer = context.tracer
    if tracer is None:
        return await operation
    span, token = tracing.start_operation(tracer, "http")
    access = access_var.get()
    if access is not None:
        access.trace = tracing.ids_of(span)
    try:
        return await operation
    finally:
        access = access_var.get() or Access()
        tracing.end_operation(span, token, op_type=access.type, name=access.operation, code=access.code)


def _unavailable_retry_after(response_data: GraphQLHTTPResponse | list[GraphQLHTTPResponse]) -> int | None:
    """Retry-After for a result in which every error is SERVICE_UNAVAILABLE and no root field has a
    value; None when anything succeeded or failed for another reason."""
    if not isinstance(response_data, dict) or not response_data.get("errors"):
        return None
    data = response_data.get("data")
    if isinstance(data, dict) and any(value is not None for value in data.values()):
        return None
    waits = []
    for error in response_data["errors"]:
        extensions = error.get("extensions") or {}
        if extensions.get("code") != ErrorCode.SERVICE_UNAVAILABLE.value:
            return None
        waits.append(int(extensions.get("retryAfterSeconds") or 1))
    return max(waits)


def _client_key(principal: Principal | None, fallback: str) -> str:
    """Whose budget an operation spends: the principal's subject, else the client's address."""
    if principal is None or principal.subject.startswith("anonymous"):
        return fallback
    return f"sub:{principal.subject}"
