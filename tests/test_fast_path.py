"""The fast path for operations already parsed and validated (graphql_schema/fast_path.py) answers
exactly what the standard path does: the same status, headers and body, byte for byte, for
successes, typed errors, refusals (permission, authentication, cost, rate), variable errors and
field errors; and what it cannot serve (syntax and validation errors, unknown operation names,
persisted-query extensions, subscriptions) falls to the standard path unchanged."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import replace
from typing import Any

import httpx

from app.asgi import create_app
from app.domain.principals import Role
from app.services.container import Services
from app.settings import ApiLimits, Settings
from graphql_schema.fast_path import prepare
from graphql_schema.view import OmsGraphQL
from tests.conftest import lifespan_of
from tests.factories import World

GRAPHQL_RESPONSE = "application/graphql-response+json"
REQUEST_ID = "fast-path-comparison"
STORE = """query($sku: String!, $lat: Float!, $lng: Float!) {
  storeAvailability(skus: [$sku], near: {lat: $lat, lng: $lng}, radiusKm: 50, first: 10) {
    locationCode distanceKm items { sku available } location { name }
  }
}"""
CANCEL = 'mutation($id: ID!) { cancelOrder(input: {orderId: $id, reason: "r"}) { __typename ... on NotFoundError { code message } } }'
EXPENSIVE = "customers(first: 100) { edges { node { orders(first: 100) { edges { node { lines { sku } } } } } } }"

# (name, body, whether the fast path serves it)
CASES: list[tuple[str, dict[str, Any], bool]] = [
    ("typename", {"query": "{ __typename }"}, True),
    ("named operation", {"query": "query Channels { channels { code name } }", "operationName": "Channels"}, True),
    ("two operations, one named", {"query": "query A { __typename } query B { channels { code } }", "operationName": "B"}, True),
    ("store availability", {"query": STORE, "variables": {"sku": "SKU-1", "lat": 42.36, "lng": -71.06}}, True),
    ("typed error", {"query": CANCEL, "variables": {"id": "T3JkZXI6bm9wZQ=="}}, True),
    ("permission denied", {"query": "{ customers(first: 1) { edges { cursor } } }"}, True),
    ("field error", {"query": "{ orders(first: 101) { edges { cursor } } }"}, True),
    ("variable of the wrong type", {"query": "query($n: Int) { orders(first: $n) { edges { cursor } } }", "variables": {"n": "many"}}, True),
    ("missing variable", {"query": STORE, "variables": {"sku": "SKU-1"}}, True),
    ("oversized variable", {"query": STORE, "variables": {"sku": "S" * 10_001, "lat": 1.0, "lng": 1.0}}, True),
    ("unused variable", {"query": "query($q: JSON) { __typename }", "variables": {"q": {"$where": 1}}}, False),
    ("cost refusal", {"query": "{ %s }" % " ".join(f"c{n}: {EXPENSIVE}" for n in range(2))}, True),
    ("syntax error", {"query": "{ channels { code }"}, False),
    ("validation error", {"query": "{ channels { nope } }"}, False),
    ("unknown operation name", {"query": "query Channels { channels { code } }", "operationName": "Other"}, False),
    ("two operations, no name", {"query": "query A { __typename } query B { __typename }"}, True),
    ("persisted-query extension", {"query": "{ __typename }", "extensions": {"persistedQuery": {"version": 1}}}, False),
    ("subscription over POST", {"query": "subscription { orderUpdated { cursor } }"}, False),
    ("empty query", {"query": ""}, False),
]


def graphql_view(app: Any) -> OmsGraphQL:
    return next(route.app for route in app.routes if isinstance(getattr(route, "app", None), OmsGraphQL))


@asynccontextmanager
async def both_paths(settings: Settings, **changes: Any) -> AsyncIterator[tuple[httpx.AsyncClient, OmsGraphQL]]:
    app = create_app(replace(settings, **changes))
    async with lifespan_of(app) as manager:
        transport = httpx.ASGITransport(app=manager.app, client=("203.0.113.9", 4711))
        async with httpx.AsyncClient(transport=transport, base_url="http://oms.test") as client:
            yield client, graphql_view(app)


async def answer(
    client: httpx.AsyncClient, view: OmsGraphQL, body: dict[str, Any], *, fast: bool, token: str | None, accept: str | None = None
) -> tuple[int, list[tuple[str, str]], bytes]:
    view._fast_path = fast
    headers = {"Content-Type": "application/json", "X-Request-ID": REQUEST_ID}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    if accept:
        headers["Accept"] = accept
    response = await client.post("/graphql", content=json.dumps(body).encode(), headers=headers)
    return response.status_code, sorted(response.headers.multi_items()), response.content


def served_fast(view: OmsGraphQL, body: dict[str, Any]) -> bool:
    query, name = body.get("query"), body.get("operationName")
    if "extensions" in body or not isinstance(query, str):
        return False
    options, rules = view._preparation()
    return prepare(view.schema, query, name or None, options, rules) is not None


async def test_the_fast_path_answers_what_the_standard_path_answers(
    settings: Settings, services: Services, admin_token: str, world: World
) -> None:
    _, customer_token = await services.auth.create_api_key(name="ada", role=Role.CUSTOMER, customer_id="nobody")
    # Budgets off here, so that the cost report is the same on both calls (rates: the next test).
    async with both_paths(settings, limits=ApiLimits(rate_capacity=0)) as (client, view):
        assert view._fast_path, "the schema's extensions should allow the fast path"
        callers = {"admin": admin_token, "customer": customer_token, "anonymous": None, "bad key": "oms_nope_nope"}
        for name, body, fast in CASES:
            assert served_fast(view, body) is fast, name
            for caller, token in callers.items():
                for accept in (None, GRAPHQL_RESPONSE):
                    standard = await answer(client, view, body, fast=False, token=token, accept=accept)
                    quick = await answer(client, view, body, fast=True, token=token, accept=accept)
                    assert quick == standard, (name, caller, accept, quick, standard)
        # The cases above cover what they claim to: refusals and errors of each kind were seen.
        seen = set()
        for name, body, _ in CASES:
            for token in callers.values():
                _, _, content = await answer(client, view, body, fast=True, token=token)
                seen.update(e.get("extensions", {}).get("code") for e in json.loads(content).get("errors") or [])
        _, _, content = await answer(client, view, CASES[4][1], fast=True, token=admin_token)
        assert json.loads(content)["data"]["cancelOrder"]["__typename"] == "NotFoundError", content
        assert {"FORBIDDEN", "UNAUTHENTICATED", "INVALID_CREDENTIAL", "QUERY_TOO_COMPLEX", "INVALID_INPUT",
                "GRAPHQL_PARSE_FAILED", "GRAPHQL_VALIDATION_FAILED", "OPERATION_RESOLUTION_FAILURE"} <= seen, seen


async def test_rate_refusals_are_the_same_on_both_paths(settings: Settings, admin_token: str, world: World) -> None:
    """Spend the budget, then compare the refusals: 429 with Retry-After (whatever the Accept header),
    the same RATE_LIMITED error and cost report (the bucket drains between the two calls, so its
    level and the seconds to wait may differ by a rounding step)."""
    async with both_paths(settings, limits=ApiLimits(rate_capacity=2, rate_per_second=0.01)) as (client, view):
        body = {"query": "{ channels { code } }"}
        for fast in (False, True):
            for _ in range(3):
                await answer(client, view, body, fast=fast, token=admin_token)
        for accept in (None, GRAPHQL_RESPONSE):
            standard = await answer(client, view, body, fast=False, token=admin_token, accept=accept)
            quick = await answer(client, view, body, fast=True, token=admin_token, accept=accept)
            assert quick[0] == standard[0] == 429, (quick, standard)
            assert _without_bucket_level(quick) == _without_bucket_level(standard)
            assert json.loads(quick[2])["errors"][0]["extensions"]["code"] == "RATE_LIMITED"
            waits = [int(dict(headers).get("retry-after", 0)) for _, headers, _ in (quick, standard)]
            assert min(waits) > 0 and max(waits) - min(waits) <= 1, waits


def _without_bucket_level(answer: tuple[int, list[tuple[str, str]], bytes]) -> tuple[Any, ...]:
    status, headers, content = answer
    body = json.loads(content)
    for error in body.get("errors") or []:
        error.get("extensions", {}).pop("retryAfterSeconds", None)
        error["message"] = error["message"].split(" retry in")[0]
    cost = (body.get("extensions") or {}).get("cost") or {}
    cost.pop("budgetRemaining", None)
    cost.get("throttleStatus", {}).pop("currentlyAvailable", None)
    kept = [(k, v) for k, v in headers if k not in ("retry-after", "content-length")]
    return status, kept, body


def test_the_fast_path_can_be_turned_off(settings: Settings) -> None:
    assert Settings.from_env({"OMS_GRAPHQL_FAST_PATH": "false"}).graphql_fast_path is False
    assert Settings.from_env({}).graphql_fast_path is True
    assert graphql_view(create_app(settings))._fast_path is True
    assert graphql_view(create_app(replace(settings, graphql_fast_path=False)))._fast_path is False
