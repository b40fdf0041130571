"""Errors a client can act on, seen with a stock HTTP client: request errors are JSON GraphQL errors
with a code and a 4xx; `Accept: application/graphql-response+json` is honoured as GraphQL over
HTTP says (status codes, no `data` on request errors); application/json keeps 200 for GraphQL
results."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from app.domain.orders import OrderStatus
from app.repositories.database import Mongo
from app.settings import Settings
from tests.factories import World, customer, order
from tests.security_helpers import client_for, codes
from tests.test_customers import gid

GRAPHQL_RESPONSE = "application/graphql-response+json"
CANCEL = 'mutation($id: ID!) { cancelOrder(input: {orderId: $id, reason: "r"}) { __typename } }'
CHANNELS = "query Channels { channels { code } }"
EXPENSIVE = "customers(first: 100) { edges { node { orders(first: 100) { edges { node { lines { sku } } } } } } }"  # ~30,000


async def send(client: httpx.AsyncClient, body: bytes | dict[str, Any] | list[Any], *, token: str | None = None, accept: str | None = None) -> httpx.Response:
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    if accept:
        headers["Accept"] = accept
    content = body if isinstance(body, bytes) else json.dumps(body).encode()
    return await client.post("/graphql", content=content, headers=headers)


def only_error(response: httpx.Response) -> dict[str, Any]:
    body = response.json()
    assert "data" not in body, body
    [error] = body["errors"]
    return error


@pytest.mark.parametrize(
    ("body", "code", "says"),
    [
        (b"", "BAD_REQUEST", "empty"),
        (b"   ", "BAD_REQUEST", "empty"),
        (b"{", "BAD_REQUEST", "not valid JSON"),
        (b"\xff\xfe{}", "BAD_REQUEST", "not valid JSON"),
        (b'"just a string"', "BAD_REQUEST", "JSON object"),
        (b"null", "BAD_REQUEST", "JSON object"),
        (b'{"query": 5}', "BAD_REQUEST", "`query` must be a string"),
        (b'{"qeury": "{ __typename }"}', "BAD_REQUEST", "`query` must be a string"),
        (b'{"query": "{ __typename }", "variables": [7]}', "BAD_REQUEST", "`variables`"),
        (b'{"query": "{ __typename }", "operationName": 1}', "BAD_REQUEST", "`operationName`"),
        (b'[{"query": "{ __typename }"}]', "BATCH_NOT_SUPPORTED", "one operation per request"),
        (b"[]", "BATCH_NOT_SUPPORTED", "one operation per request"),
    ],
)
async def test_bodies_that_are_not_a_graphql_request_answer_400_with_a_code(
    settings: Settings, admin_token: str, body: bytes, code: str, says: str
) -> None:
    async with client_for(settings) as client:
        for accept in (None, GRAPHQL_RESPONSE):
            response = await send(client, body, token=admin_token, accept=accept)
            assert response.status_code == 400, (body, response.text)
            assert response.headers["content-type"].startswith(accept or "application/json")
            error = only_error(response)
            assert error["extensions"]["code"] == code and says in error["message"], error


async def test_a_batch_runs_none_of_its_operations(settings: Settings, admin_token: str, world: World, mongo: Mongo) -> None:
    ada = customer()
    placed = order(ada.id, status=OrderStatus.ALLOCATED)
    await world.add_customers(ada)
    await world.add_orders(placed)
    batch = [{"query": CANCEL, "variables": {"id": gid("Order", placed.id)}}, {"query": "{ __typename }"}]
    async with client_for(settings) as client:
        response = await send(client, batch, token=admin_token)
    assert response.status_code == 400 and codes(response.json()) == ["BATCH_NOT_SUPPORTED"]
    assert (await mongo.db["orders"].find_one({"_id": placed.id}))["status"] == placed.status.value
    assert await mongo.db["events"].count_documents({}) == 0


async def test_a_mutation_over_get_and_other_methods_answer_405_with_allow(
    settings: Settings, admin_token: str, world: World, mongo: Mongo
) -> None:
    ada = customer()
    placed = order(ada.id, status=OrderStatus.ALLOCATED)
    await world.add_customers(ada)
    await world.add_orders(placed)
    auth = {"Authorization": f"Bearer {admin_token}"}
    params = {"query": CANCEL, "variables": json.dumps({"id": gid("Order", placed.id)})}
    async with client_for(settings) as client:
        for accept in ("application/json", GRAPHQL_RESPONSE):
            mutation = await client.get("/graphql", params=params, headers={**auth, "Accept": accept})
            assert mutation.status_code == 405 and mutation.headers["allow"] == "POST", mutation.text
            assert mutation.headers["content-type"].startswith(accept)
            assert only_error(mutation)["extensions"]["code"] == "METHOD_NOT_ALLOWED"
        for method in ("PUT", "DELETE", "PATCH"):
            other = await client.request(method, "/graphql", headers=auth, json={"query": "{ __typename }"})
            assert other.status_code == 405 and other.headers["allow"] == "GET, POST", method
            assert only_error(other)["extensions"]["code"] == "METHOD_NOT_ALLOWED"
        query = await client.get("/graphql", params={"query": CHANNELS}, headers=auth)
        assert query.status_code == 200 and query.json()["data"]["channels"]
    assert (await mongo.db["orders"].find_one({"_id": placed.id}))["status"] == placed.status.value
    async with client_for(settings, env="production") as client:
        off = await client.get("/graphql", params={"query": CHANNELS}, headers=auth)
        assert off.status_code == 405 and off.headers["allow"] == "POST"
        assert only_error(off)["extensions"]["code"] == "METHOD_NOT_ALLOWED"


async def test_subscriptions_over_http_are_refused_with_a_pointer_to_websocket(settings: Settings, admin_token: str) -> None:
    async with client_for(settings) as client:
        response = await send(client, {"query": "subscription { orderUpdated { cursor } }"}, token=admin_token)
    assert response.status_code == 400
    error = only_error(response)
    assert error["extensions"]["code"] == "BAD_REQUEST" and "WebSocket" in error["message"]


async def test_graphql_response_json_uses_status_codes_and_no_data_on_request_errors(
    settings: Settings, admin_token: str, world: World
) -> None:
    async with client_for(settings) as client:
        ok = await send(client, {"query": CHANNELS}, token=admin_token, accept=GRAPHQL_RESPONSE)
        assert ok.status_code == 200 and ok.json()["data"]["channels"]
        assert ok.headers["content-type"] == f"{GRAPHQL_RESPONSE}; charset=utf-8"
        # A field error is a partial response: executed, 200, with `data`.
        field_error = await send(client, {"query": "{ orders(first: 101) { edges { cursor } } }"}, token=admin_token, accept=GRAPHQL_RESPONSE)
        assert field_error.status_code == 200 and "data" in field_error.json()
        assert codes(field_error.json()) == ["INVALID_INPUT"]
        request_errors = {
            "GRAPHQL_PARSE_FAILED": {"query": "{ channels { code }"},
            "GRAPHQL_VALIDATION_FAILED": {"query": "{ channels { nope } }"},
            "INVALID_INPUT": {"query": "query($n: Int) { orders(first: $n) { edges { cursor } } }", "variables": {"n": "many"}},
            "OPERATION_RESOLUTION_FAILURE": {"query": CHANNELS, "operationName": "Other"},
            "QUERY_TOO_COMPLEX": {"query": "{ %s }" % " ".join(f"c{n}: {EXPENSIVE}" for n in range(2))},
        }
        for code, body in request_errors.items():
            strict = await send(client, body, token=admin_token, accept=GRAPHQL_RESPONSE)
            assert strict.status_code == 400, (code, strict.text)
            assert only_error(strict)["extensions"]["code"] == code
            assert strict.json().get("extensions", {}).get("requestId") or code == "OPERATION_RESOLUTION_FAILURE"
            # application/json (or no Accept): the same error, 200, and `data: null` as before.
            legacy = await send(client, body, token=admin_token)
            assert legacy.status_code == 200 and legacy.headers["content-type"] == "application/json"
            assert legacy.json()["data"] is None and codes(legacy.json()) == [code]
        anonymous = await send(client, {"query": CHANNELS}, accept=GRAPHQL_RESPONSE)
        assert anonymous.status_code == 401 and anonymous.headers["www-authenticate"] == "Bearer"
        assert only_error(anonymous)["extensions"]["code"] == "UNAUTHENTICATED"
        bad_key = await send(client, {"query": CHANNELS}, token="oms_nope_nope", accept=GRAPHQL_RESPONSE)
        assert bad_key.status_code == 401 and only_error(bad_key)["extensions"]["code"] == "INVALID_CREDENTIAL"
        assert (await send(client, {"query": CHANNELS}, token="oms_nope_nope")).status_code == 200


@pytest.mark.parametrize(
    ("accept", "media_type"),
    [
        (None, "application/json"),
        ("application/json", "application/json"),
        ("*/*", "application/json"),
        ("text/html, application/xml", "application/json"),
        (GRAPHQL_RESPONSE, GRAPHQL_RESPONSE),
        (f"{GRAPHQL_RESPONSE}; charset=utf-8, application/json; charset=utf-8", GRAPHQL_RESPONSE),
        (f"application/json, {GRAPHQL_RESPONSE}", "application/json"),
        (f"application/json;q=0.9, {GRAPHQL_RESPONSE}", GRAPHQL_RESPONSE),
        (f"{GRAPHQL_RESPONSE};q=0.5, application/json", "application/json"),
        (f"{GRAPHQL_RESPONSE};q=0", "application/json"),
    ],
)
async def test_the_response_media_type_follows_the_accept_header(
    settings: Settings, admin_token: str, accept: str | None, media_type: str
) -> None:
    async with client_for(settings) as client:
        response = await send(client, {"query": "{ channels { nope } }"}, token=admin_token, accept=accept)
    assert response.headers["content-type"].split(";")[0] == media_type
    assert response.status_code == (400 if media_type == GRAPHQL_RESPONSE else 200)
    assert ("data" in response.json()) is (media_type != GRAPHQL_RESPONSE)
