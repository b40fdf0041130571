"""OpenTelemetry tracing (app/tracing.py): one captureOrder is one span tree — the operation, its
root field, the MongoDB commands of its transaction — exported to an in-memory exporter; a
`traceparent` header (HTTP, WebSocket handshake) puts it in the caller's trace; log lines carry
the trace id. Off unless OTEL_* configure it."""

from __future__ import annotations

import io
import json
import logging

import httpx
import pytest
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from app import tracing
from app.asgi import create_app
from app.logs import JsonFormatter
from app.settings import Settings
from app.tracing import Tracing
from tests.conftest import lifespan_of
from tests.factories import World
from tests.order_helpers import CAPTURE, capture_input, network
from tests.realtime import GraphQLWs, InProcessServer, realtime_settings

pytestmark = pytest.mark.usefixtures("reservations_consistent")

CALLER_TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"
CALLER_SPAN = "00f067aa0ba902b7"
TRACEPARENT = f"00-{CALLER_TRACE}-{CALLER_SPAN}-01"
NAMED_CAPTURE = CAPTURE.replace("mutation(", "mutation Capture(", 1)


@pytest.fixture
def exporter() -> InMemorySpanExporter:
    return InMemorySpanExporter()


@pytest.fixture
def traced(exporter: InMemorySpanExporter) -> Tracing:
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    return Tracing(provider)


def children(spans: tuple[ReadableSpan, ...], parent: ReadableSpan) -> list[ReadableSpan]:
    """`parent`'s direct children, in the order they started."""
    return sorted((s for s in spans if s.parent is not None and s.parent.span_id == parent.context.span_id), key=lambda s: s.start_time or 0)


def the_operation(spans: tuple[ReadableSpan, ...], name: str) -> ReadableSpan:
    found = [s for s in spans if s.name == name]
    assert len(found) == 1, [s.name for s in spans]
    return found[0]


async def test_one_capture_is_one_span_tree_down_to_its_transactions_commands(
    settings: Settings, admin_token: str, world: World, traced: Tracing, exporter: InMemorySpanExporter
) -> None:
    await network(world)
    async with lifespan_of(create_app(settings, tracing=traced)) as manager:
        transport = httpx.ASGITransport(app=manager.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://oms.test") as client:
            exporter.clear()
            response = await client.post(
                "/graphql",
                json={"query": NAMED_CAPTURE, "variables": {"input": capture_input("T-1")}},
                headers={"Authorization": f"Bearer {admin_token}"},
            )
    assert response.json()["data"]["captureOrder"]["__typename"] == "CaptureOrderPayload"
    spans = exporter.get_finished_spans()
    operation = the_operation(spans, "mutation Capture")
    assert operation.parent is None  # no traceparent: the operation is the root
    assert operation.kind.name == "SERVER"
    assert operation.attributes["graphql.operation.type"] == "mutation"
    # The client's budget is charged first (one command on the shared bucket), then the field runs.
    assert [s.name.rsplit(".", 1)[1] for s in children(spans, operation)] == ["findAndModify", "captureOrder"]
    assert children(spans, operation)[0].attributes["db.mongodb.collection"] == "rate_limit_buckets"
    field = next(s for s in spans if s.name == "Mutation.captureOrder")
    commands = [s for s in spans if s.parent is not None and s.parent.span_id == field.context.span_id]
    names = [s.name.rsplit(".", 1)[1] for s in commands]
    assert "commitTransaction" in names and "insert" in names and "update" in names, names
    assert all(s.kind.name == "CLIENT" and s.context.trace_id == operation.context.trace_id for s in commands)
    # Every span of the request is in the operation's trace (background work is not traced).
    assert {s.context.trace_id for s in spans} == {operation.context.trace_id}


async def test_a_traceparent_header_makes_the_operation_a_child_of_the_callers_span(
    settings: Settings, admin_token: str, traced: Tracing, exporter: InMemorySpanExporter
) -> None:
    lines = io.StringIO()
    handler = logging.StreamHandler(lines)
    handler.setFormatter(JsonFormatter())
    oms_log = logging.getLogger("oms")
    oms_log.addHandler(handler)
    level = oms_log.level
    oms_log.setLevel(logging.INFO)
    try:
        async with lifespan_of(create_app(settings, tracing=traced)) as manager:
            transport = httpx.ASGITransport(app=manager.app)
            async with httpx.AsyncClient(transport=transport, base_url="http://oms.test") as client:
                exporter.clear()
                lines.seek(0)
                lines.truncate(0)
                await client.post(
                    "/graphql",
                    json={"query": "query Channels { channels { code } }"},
                    headers={"Authorization": f"Bearer {admin_token}", "traceparent": TRACEPARENT},
                )
                refused = await client.post(
                    "/graphql",
                    json={"query": "query Refused { channels { code } }"},
                    headers={"Authorization": "Bearer not-a-credential", "traceparent": TRACEPARENT},
                )
    finally:
        oms_log.removeHandler(handler)
        oms_log.setLevel(level)
    assert refused.json()["errors"][0]["extensions"]["code"] == "INVALID_CREDENTIAL"
    operation = the_operation(exporter.get_finished_spans(), "query Channels")
    assert format(operation.context.trace_id, "032x") == CALLER_TRACE
    assert operation.parent is not None and format(operation.parent.span_id, "016x") == CALLER_SPAN
    # The requests' own lines (background workers log too, outside any trace).
    logged = [entry for line in lines.getvalue().splitlines() if line.strip() and (entry := json.loads(line))["logger"] in ("oms.auth", "oms.access")]
    assert {entry["msg"].split(" ")[0] for entry in logged} >= {"credential", "POST"}, logged
    assert all(entry["trace_id"] == CALLER_TRACE for entry in logged), logged
    access = [entry for entry in logged if entry["logger"] == "oms.access" and entry["operation"] == "Channels"]
    assert access and access[0]["span_id"] == format(operation.context.span_id, "016x")


async def test_a_traceparent_on_the_websocket_handshake_covers_its_operations(
    settings: Settings, admin_token: str, traced: Tracing, exporter: InMemorySpanExporter
) -> None:
    live = realtime_settings(settings, relay_enabled=False)
    async with InProcessServer(live, app=create_app(live, tracing=traced)) as server:
        async with GraphQLWs.connect(server.ws_url, admin_token, additional_headers={"traceparent": TRACEPARENT}) as ws:
            await ws.subscribe("query Channels { channels { code } }")
            assert await ws.next_data("channels") is not None
            assert (await ws.receive())["type"] == "complete"
    operation = the_operation(exporter.get_finished_spans(), "query Channels")
    assert format(operation.context.trace_id, "032x") == CALLER_TRACE
    assert operation.attributes["graphql.transport"] == "ws"
    charge, field = children(exporter.get_finished_spans(), operation)
    assert charge.attributes["db.mongodb.collection"] == "rate_limit_buckets" and field.name == "Query.channels"


@pytest.mark.parametrize(
    ("env", "wanted"),
    [
        ({}, False),
        ({"OTEL_TRACES_EXPORTER": "none", "OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4318"}, False),
        ({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4318"}, True),
        ({"OTEL_TRACES_EXPORTER": "console"}, True),
        ({"OTEL_TRACES_EXPORTER": "otlp", "OTEL_SDK_DISABLED": "true"}, False),
    ],
)
def test_tracing_is_off_unless_otel_variables_ask_for_it(env: dict[str, str], wanted: bool) -> None:
    assert tracing.requested(env) is wanted


def test_without_tracing_no_span_and_no_trace_ids_in_logs() -> None:
    assert Tracing.from_env({}) is None
    assert tracing.current_ids() is None
