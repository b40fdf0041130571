"""Logs an operator can read: one `oms.access` line per HTTP request and per WebSocket operation,
and client mistakes below ERROR without tracebacks (unexpected failures keep theirs:
tests/test_http_hygiene.py::test_unexpected_failures_are_masked_with_the_request_id_the_client_sees_and_logged)."""

from __future__ import annotations

import asyncio
import json
import logging
import time
from typing import Any

import pytest

from app.domain.orders import OrderStatus
from app.domain.principals import Role
from app.services.container import Services
from app.settings import ApiLimits, Settings
from tests.factories import World, customer, order
from tests.realtime import GraphQLWs, realtime_settings, serve
from tests.security_helpers import client_for, codes, post, refused
from tests.test_customers import gid

CHANNELS = "query Channels { channels { code } }"
CANCEL = 'mutation Cancel($id: ID!) { cancelOrder(input: {orderId: $id, reason: "r"}) { __typename } }'


def access_lines(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name == "oms.access"]


def fields(record: logging.LogRecord) -> dict[str, Any]:
    names = ("transport", "method", "path", "operation", "type", "principal", "cost", "status", "code", "request_id")
    return {name: getattr(record, name) for name in names}


async def test_one_access_line_per_request_with_operation_principal_cost_status_and_duration(
    settings: Settings, admin_token: str, world: World, caplog: pytest.LogCaptureFixture
) -> None:
    ada = customer()
    placed = order(ada.id, status=OrderStatus.ALLOCATED)
    await world.add_customers(ada)
    await world.add_orders(placed)
    caplog.set_level(logging.INFO, logger="oms.access")
    async with client_for(settings) as client:
        query = await post(client, CHANNELS, token=admin_token, **{"X-Request-ID": "req-query"})
        mutation = await post(client, CANCEL, {"id": gid("Order", placed.id)}, token=admin_token, **{"X-Request-ID": "req-mutation"})
        anonymous = await post(client, "{ channels { code } }", **{"X-Request-ID": "req-anonymous"})
        unparsable = await client.post(
            "/graphql", content=b"{", headers={"Content-Type": "application/json", "X-Request-ID": "req-json"}
        )
        plain = await client.post(
            "/graphql", content=b"{}", headers={"Content-Type": "text/plain", "X-Request-ID": "req-plain"}
        )
        health = await client.get("/healthz", headers={"X-Request-ID": "req-health"})
    assert [r.status_code for r in (query, mutation, anonymous, unparsable, plain, health)] == [200, 200, 200, 400, 415, 200]
    lines = access_lines(caplog)
    assert len(lines) == 6  # one per request, nothing more
    by_id = {r.request_id: r for r in lines}
    http = {"transport": "http", "method": "POST", "path": "/graphql"}
    assert fields(by_id["req-query"]) == {
        **http, "operation": "Channels", "type": "query", "principal": "apikey:test-admin",
        "cost": query.json()["extensions"]["cost"]["requested"], "status": 200, "code": None, "request_id": "req-query",
    }
    assert fields(by_id["req-mutation"]) == {
        **http, "operation": "Cancel", "type": "mutation", "principal": "apikey:test-admin",
        "cost": mutation.json()["extensions"]["cost"]["requested"], "status": 200, "code": None, "request_id": "req-mutation",
    }
    assert fields(by_id["req-anonymous"]) == {
        **http, "operation": None, "type": "query", "principal": None,
        "cost": anonymous.json()["extensions"]["cost"]["requested"], "status": 200, "code": "UNAUTHENTICATED",
        "request_id": "req-anonymous",
    }
    assert fields(by_id["req-json"]) == {
        **http, "operation": None, "type": None, "principal": None, "cost": None, "status": 400, "code": "BAD_REQUEST",
        "request_id": "req-json",
    }
    assert by_id["req-plain"].status == 415 and by_id["req-health"].path == "/healthz"
    for line in lines:
        assert line.levelno == logging.INFO and line.exc_info is None
        assert isinstance(line.duration_ms, float) and 0 <= line.duration_ms < 10_000
    assert by_id["req-query"].getMessage().startswith("POST /graphql 200 Channels ")


async def test_client_mistakes_are_logged_below_error_and_without_tracebacks(
    settings: Settings, services: Services, admin_token: str, world: World, caplog: pytest.LogCaptureFixture
) -> None:
    _, shopper = await services.auth.create_api_key(name="ada", role=Role.CUSTOMER, customer_id="c-1")
    mistakes = {
        "GRAPHQL_PARSE_FAILED": "{ channels { code }",
        "GRAPHQL_VALIDATION_FAILED": "{ channels { nope } }",
        "INVALID_INPUT": "{ orders(first: 101) { edges { cursor } } }",
    }
    caplog.set_level(logging.DEBUG)
    async with client_for(settings, limits=ApiLimits(rate_capacity=300, rate_per_second=1)) as client:
        answers = {code: (await post(client, query, token=admin_token)).json() for code, query in mistakes.items()}
        forbidden = await post(client, "{ customers(first: 1) { edges { cursor } } }", token=shopper)
        # A typed error from a mutation: a member of its result union.
        hold = 'mutation($id: ID!) { holdOrder(input: {orderId: $id, reason: "r"}) { __typename } }'
        typed = await post(client, hold, {"id": gid("Order", "nope")}, token=admin_token)
        invalid_key = await post(client, "{ channels { code } }", token="oms_nope_nope")
        anonymous = await post(client, "{ channels { code } }")
        while (spent := await post(client, "{ orders(first: 100) { edges { cursor } } }", token=admin_token)).status_code != 429:
            pass
    assert {code: codes(body) for code, body in answers.items()} == {code: [code] for code in mistakes}
    assert codes(forbidden.json()) == ["FORBIDDEN"]
    assert typed.json()["data"]["holdOrder"]["__typename"] == "NotFoundError"
    assert codes(invalid_key.json()) == ["INVALID_CREDENTIAL"] and codes(anonymous.json()) == ["UNAUTHENTICATED"]
    assert codes(spent.json()) == ["RATE_LIMITED"]
    noisy = [r for r in caplog.records if r.levelno >= logging.ERROR or r.exc_info]
    assert noisy == [], [(r.name, r.levelname, r.getMessage()) for r in noisy]
    assert not [r for r in caplog.records if r.name == "strawberry.execution"]
    # The access log still tells the operator what each refusal was.
    assert {"GRAPHQL_PARSE_FAILED", "FORBIDDEN", "INVALID_CREDENTIAL", "UNAUTHENTICATED", "RATE_LIMITED"} <= {
        r.code for r in access_lines(caplog)
    }


async def test_each_websocket_operation_gets_an_access_line(
    settings: Settings, admin_token: str, world: World, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="oms.access")
    async with serve(realtime_settings(settings, relay_enabled=False)) as server:
        async with GraphQLWs.connect(server.ws_url, admin_token) as client:
            await client.subscribe(CHANNELS)
            assert (await client.next_data("channels"))
            assert (await client.receive())["type"] == "complete"
        async with GraphQLWs.connect(server.ws_url, None) as anonymous:
            await anonymous.subscribe("subscription Live { orderUpdated { cursor } }")
            assert (await refused(anonymous))["extensions"]["code"] == "UNAUTHENTICATED"
        deadline = time.monotonic() + 5
        while len([r for r in access_lines(caplog) if r.transport == "ws"]) < 2 and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
    ws = {r.operation: r for r in access_lines(caplog) if r.transport == "ws"}
    assert fields(ws["Channels"]) | {"request_id": None} == {
        "transport": "ws", "method": None, "path": None, "operation": "Channels", "type": "query",
        "principal": "apikey:test-admin", "cost": ws["Channels"].cost, "status": None, "code": None, "request_id": None,
    }
    assert ws["Channels"].cost is not None and ws["Channels"].cost >= 1
    live = ws["Live"]
    assert (live.type, live.principal, live.code) == ("subscription", None, "UNAUTHENTICATED")
    assert json.dumps(fields(live))  # plain values only: the JSON formatter writes them as they are
