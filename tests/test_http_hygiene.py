"""HTTP hygiene: JSON-only POST (no simple-request CSRF), body cap, security headers, CORS, request
ids, and no internals in any answer."""

from __future__ import annotations

import logging

import pytest

from app.domain.orders import OrderStatus
from app.repositories.database import Mongo
from app.settings import ApiLimits, Settings
from tests.factories import World, customer, order
from tests.security_helpers import client_for, codes, post
from tests.test_customers import gid

CANCEL = 'mutation($id: ID!) { cancelOrder(input: {orderId: $id, reason: "csrf"}) { __typename } }'


async def test_simple_request_content_types_are_refused_and_run_nothing(
    settings: Settings, admin_token: str, world: World, mongo: Mongo
) -> None:
    ada = customer()
    placed = order(ada.id, external_id="CSRF-1", status=OrderStatus.ALLOCATED)
    await world.add_customers(ada)
    await world.add_orders(placed)
    body = '{"query": "%s", "variables": {"id": "%s"}}' % (CANCEL.replace('"', '\\"'), gid("Order", placed.id))
    auth = {"Authorization": f"Bearer {admin_token}"}
    async with client_for(settings) as client:
        for content_type in ("text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x", ""):
            response = await client.post("/graphql", content=body, headers={**auth, "Content-Type": content_type})
            assert response.status_code == 415, content_type
            assert codes(response.json()) == ["UNSUPPORTED_MEDIA_TYPE"]
        assert (await mongo.db["orders"].find_one({"_id": placed.id}))["status"] == placed.status.value
        assert await mongo.db["events"].count_documents({}) == 0
        sent = await client.post("/graphql", content=body, headers={**auth, "Content-Type": "application/json; charset=utf-8"})
        assert sent.status_code == 200 and sent.json()["data"]["cancelOrder"]["__typename"] == "CancelOrderPayload"
    assert (await mongo.db["orders"].find_one({"_id": placed.id}))["status"] == "CANCELLED"


async def test_bodies_over_the_cap_are_refused_with_413(settings: Settings, admin_token: str) -> None:
    async with client_for(settings, limits=ApiLimits(max_body_bytes=2_000)) as client:
        big = {"query": "{ __typename }", "variables": {"pad": "x" * 3_000}}
        declared = await client.post("/graphql", json=big, headers={"Authorization": f"Bearer {admin_token}"})
        assert declared.status_code == 413 and codes(declared.json()) == ["PAYLOAD_TOO_LARGE"]

        async def chunks():  # no Content-Length: counted while read
            for _ in range(3):
                yield b" " * 1_000

        chunked = await client.post("/graphql", content=chunks(), headers={"Content-Type": "application/json"})
        assert chunked.status_code == 413
        fine = await post(client, "{ __typename }", token=admin_token)
        assert fine.status_code == 200


@pytest.mark.parametrize("body", [b'"just a string"', b"42", b"[1, 2]", b"{", b"null", b'{"query": 5}', b"[]"])
async def test_malformed_bodies_are_client_errors_not_server_faults(settings: Settings, admin_token: str, body: bytes) -> None:
    async with client_for(settings) as client:
        response = await client.post(
            "/graphql", content=body, headers={"Content-Type": "application/json", "Authorization": f"Bearer {admin_token}"}
        )
    assert 400 <= response.status_code < 500, (body, response.status_code, response.text)


async def test_security_headers_on_every_answer_and_a_graphiql_csp_of_this_origin_only(
    settings: Settings, admin_token: str
) -> None:
    async with client_for(settings) as client:
        api = await post(client, "{ __typename }", token=admin_token)
        page = await client.get("/graphql", headers={"Accept": "text/html"})
        health = await client.get("/healthz")
    for response in (api, page, health):
        assert response.headers["x-content-type-options"] == "nosniff"
        assert response.headers["x-frame-options"] == "DENY"
        assert response.headers["referrer-policy"] == "no-referrer"
        assert "frame-ancestors 'none'" in response.headers["content-security-policy"]
        assert response.headers["x-request-id"]
    assert api.headers["content-security-policy"].startswith("default-src 'none'")
    assert api.headers["cache-control"] == "no-store"
    # GraphiQL loads its assets from this app (app/dashboard_page.py): no CDN, no other origin.
    assert "script-src 'self';" in page.headers["content-security-policy"]
    assert "http" not in page.headers["content-security-policy"]
    async with client_for(settings, env="production") as client:
        production = await post(client, "{ __typename }", token=admin_token)
    assert production.headers["strict-transport-security"].startswith("max-age=")


async def test_cors_allows_only_configured_origins(settings: Settings) -> None:
    preflight = {"Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": "authorization,content-type"}
    async with client_for(settings, cors_origins=("https://shop.example",)) as client:
        allowed = await client.options("/graphql", headers={"Origin": "https://shop.example", **preflight})
        denied = await client.options("/graphql", headers={"Origin": "https://evil.example", **preflight})
        simple = await client.post("/graphql", json={"query": "{ __typename }"}, headers={"Origin": "https://shop.example"})
    assert allowed.status_code == 200 and allowed.headers["access-control-allow-origin"] == "https://shop.example"
    assert "authorization" in allowed.headers["access-control-allow-headers"].lower()
    assert "access-control-allow-credentials" not in allowed.headers
    assert denied.status_code == 400 and "access-control-allow-origin" not in denied.headers
    assert simple.headers["access-control-allow-origin"] == "https://shop.example"
    assert "x-request-id" in simple.headers["access-control-expose-headers"].lower()
    async with client_for(settings) as client:  # none configured: no CORS headers at all
        none = await client.options("/graphql", headers={"Origin": "https://shop.example", **preflight})
    assert "access-control-allow-origin" not in none.headers


async def test_unexpected_failures_are_masked_with_the_request_id_the_client_sees_and_logged(
    settings: Settings, admin_token: str, world: World, mongo: Mongo, caplog: pytest.LogCaptureFixture
) -> None:
    ada = customer()
    placed = order(ada.id, external_id="BROKEN-1")
    await world.add_customers(ada)
    await world.add_orders(placed)
    # A corrupt document makes the repository fail in a way no client input could.
    await mongo.db["orders"].update_one({"_id": placed.id}, {"$set": {"status": "SECRET_INTERNAL_STATE"}})
    async with client_for(settings) as client:
        with caplog.at_level(logging.ERROR):
            response = await post(
                client, "query($id: ID!) { order(id: $id) { status } }", {"id": gid("Order", placed.id)},
                token=admin_token, **{"X-Request-ID": "req-abc-123"},
            )
    body = response.json()
    assert response.status_code == 200 and response.headers["x-request-id"] == "req-abc-123"
    assert body["errors"][0]["extensions"] == {"code": "INTERNAL", "requestId": "req-abc-123"}
    assert body["extensions"]["requestId"] == "req-abc-123"
    text = response.text
    for leak in ("SECRET_INTERNAL_STATE", "Traceback", "ValueError", ".py", "pymongo"):
        assert leak not in text, leak
    logged = [r for r in caplog.records if getattr(r, "request_id", None) == "req-abc-123"]
    assert logged and logged[0].exc_info is not None
