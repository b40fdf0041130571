"""OpenTelemetry tracing, off unless the standard OTEL_* environment variables configure it
(docs/OPERATIONS.md, "Tracing"). Needs the `otel` extra (`pip install 'oms[otel]'`).

The spans: one SERVER span per GraphQL operation (HTTP request or WebSocket operation), named
`<type> <operationName>`; under it one span per root field (`Mutation.captureOrder`), where the I/O
happens; under those, one CLIENT span per MongoDB command (the maintained PyMongo
instrumentation's CommandTracer, given to this app's client as a listener: it runs in the task that
issued the command, so the async API nests like the sync one). A `traceparent` header (HTTP, or the
WebSocket handshake) makes the operation a child of the caller's span.

Why not Strawberry's OpenTelemetryExtension: it hooks `resolve`, which sends every field through
graphql-core's middleware (turning off graphql_schema/execution.py's fast path) and makes a span
per resolver, hundreds for one page of orders. Here nothing runs when tracing is off but an
`is None` check per operation and per root field.

Beside the layers like app/logs.py, and importable without the extra: everything here is a no-op
without it.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from typing import Any

try:
    from opentelemetry import context as otel_context, propagate, trace
except ImportError:  # the `otel` extra is not installed: tracing stays off, logs carry no trace ids
    otel_context = propagate = trace = None  # type: ignore[assignment]

TRACER_NAME = "oms"
_TRUE = ("true", "1", "yes", "on")


def requested(env: Mapping[str, str]) -> bool:
    """Whether the OTEL_* variables ask for traces: an exporter named (other than `none`) or an
    OTLP endpoint given, and the SDK not disabled."""
    if env.get("OTEL_SDK_DISABLED", "").strip().lower() in _TRUE:
        return False
    exporters = env.get("OTEL_TRACES_EXPORTER", "").strip().lower()
    if exporters:
        return exporters != "none"
    return bool(env.get("OTEL_EXPORTER_OTLP_ENDPOINT") or env.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"))


class Tracing:
    """One app's tracer provider: its tracer, and the listener that traces its MongoDB commands."""

    def __init__(self, provider: Any, *, owned: bool = False):
        self.provider = provider
        self.tracer = provider.get_tracer(TRACER_NAME)
        self._owned = owned

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Tracing | None:
        """A provider exporting as OTEL_TRACES_EXPORTER says (`otlp`, the default, over
        http/protobuf; `console`), with the resource (OTEL_SERVICE_NAME, default `oms`;
        OTEL_RESOURCE_ATTRIBUTES) and sampler (OTEL_TRACES_SAMPLER) the SDK reads itself. None when
        tracing is not requested."""
        env = os.environ if env is None else env
        if not requested(env):
            return None
        try:
            from opentelemetry.sdk.resources import OTELResourceDetector, Resource
            from opentelemetry.sdk.trace import TracerProvider
            from opentelemetry.sdk.trace.export import BatchSpanProcessor, ConsoleSpanExporter
        except ImportError as exc:
            raise SystemExit(
                "OTEL_* variables ask for traces, but the OpenTelemetry packages are missing: pip install 'oms[otel]'"
            ) from exc
        name = env.get("OTEL_SERVICE_NAME") or "oms"
        resource = Resource.create({"service.name": name}).merge(OTELResourceDetector().detect())
        provider = TracerProvider(resource=resource)
        for exporter in filter(None, (e.strip().lower() for e in (env.get("OTEL_TRACES_EXPORTER") or "otlp").split(","))):
            if exporter == "console":
                provider.add_span_processor(BatchSpanProcessor(ConsoleSpanExporter()))
            elif exporter == "otlp":
                provider.add_span_processor(BatchSpanProcessor(_otlp_exporter(env)))
            else:
                raise SystemExit(f"OTEL_TRACES_EXPORTER={exporter!r} is not supported here: use otlp, console or none")
        if trace is not None:
            trace.set_tracer_provider(provider)  # for libraries that ask the global API
        return cls(provider, owned=True)

    def mongo_listener(self) -> object:
        """The PyMongo instrumentation's CommandTracer, for commands issued inside a trace only: the
        sequencer, the hub and the scheduler talk to MongoDB several times a second, and each of
        those commands would otherwise be a trace of its own."""
        from opentelemetry.instrumentation.pymongo import CommandTracer
        from pymongo import monitoring

        tracer = CommandTracer(self.provider.get_tracer("opentelemetry.instrumentation.pymongo"))

        class InTracesOnly(monitoring.CommandListener):
            def started(self, event: monitoring.CommandStartedEvent) -> None:
                if trace.get_current_span().get_span_context().is_valid:
                    tracer.started(event)

            def succeeded(self, event: monitoring.CommandSucceededEvent) -> None:
                tracer.succeeded(event)  # ends the command's span, if it has one

            def failed(self, event: monitoring.CommandFailedEvent) -> None:
                tracer.failed(event)

        return InTracesOnly()

    def shutdown(self) -> None:
        """Flushes what the batch processors hold (only for a provider built here)."""
        if self._owned:
            self.provider.shutdown()


def _otlp_exporter(env: Mapping[str, str]) -> Any:
    protocol = (env.get("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL") or env.get("OTEL_EXPORTER_OTLP_PROTOCOL") or "http/protobuf").strip()
    if protocol != "http/protobuf":
        raise SystemExit(f"OTEL_EXPORTER_OTLP_PROTOCOL={protocol!r}: only http/protobuf is installed (port 4318)")
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

    return OTLPSpanExporter()  # reads OTEL_EXPORTER_OTLP_(TRACES_)ENDPOINT, HEADERS, TIMEOUT itself


class TraceContextMiddleware:
    """Honours `traceparent` (and whatever OTEL_PROPAGATORS names) on HTTP requests and WebSocket
    handshakes: the caller's context is current while the app serves them, so the operation's span
    (and the operations a WebSocket carries, whose tasks inherit it) join the caller's trace."""

    def __init__(self, app: Any):
        self.app = app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] not in ("http", "websocket") or propagate is None:
            await self.app(scope, receive, send)
            return
        carrier = {key.decode("latin-1"): value.decode("latin-1") for key, value in scope.get("headers") or ()}
        token = otel_context.attach(propagate.extract(carrier))
        try:
            await self.app(scope, receive, send)
        finally:
            otel_context.detach(token)


def start_operation(tracer: Any, transport: str) -> tuple[Any, Any]:
    """A SERVER span for one GraphQL operation, made current; `end_operation` names and ends it."""
    span = tracer.start_span("graphql", kind=trace.SpanKind.SERVER, attributes={"graphql.transport": transport})
    return span, otel_context.attach(trace.set_span_in_context(span))


def end_operation(span: Any, token: Any, *, op_type: str | None, name: str | None, code: str | None) -> None:
    otel_context.detach(token)
    span.update_name(f"{op_type or 'graphql'} {name}" if name else op_type or "graphql")
    if op_type:
        span.set_attribute("graphql.operation.type", op_type)
    if name:
        span.set_attribute("graphql.operation.name", name)
    if code:
        span.set_attribute("graphql.error.code", code)
        if code in ("INTERNAL", "SERVICE_UNAVAILABLE"):
            span.set_status(trace.Status(trace.StatusCode.ERROR, code))
    span.end()


def traced_field(tracer: Any, name: str, run: Callable[[], Any], is_awaitable: Callable[[Any], bool]) -> Any:
    """A root field's resolution in a span of its own. Its coroutine runs when graphql-core awaits
    it (in a gathered task for queries), so the span is made current again around that await."""
    span = tracer.start_span(name)
    context = trace.set_span_in_context(span)
    token = otel_context.attach(context)
    try:
        result = run()
    except BaseException as exc:
        span.record_exception(exc)
        span.end()
        raise
    finally:
        otel_context.detach(token)
    if not is_awaitable(result):
        span.end()
        return result

    async def finish() -> Any:
        inner = otel_context.attach(context)
        try:
            return await result
        except BaseException as exc:
            span.record_exception(exc)
            raise
        finally:
            otel_context.detach(inner)
            span.end()

    return finish()


def current_ids() -> tuple[str, str] | None:
    """(trace id, span id) in hex of the current span, for log lines; None without one."""
    if trace is None:
        return None
    context = trace.get_current_span().get_span_context()
    if not context.is_valid:
        return None
    return format(context.trace_id, "032x"), format(context.span_id, "016x")


def ids_of(span: Any) -> tuple[str, str]:
    context = span.get_span_context()
    return format(context.trace_id, "032x"), format(context.span_id, "016x")
