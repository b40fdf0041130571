"""Webhook endpoints over GraphQL: register (secret once), list, change, delete, audited; bad input
changes nothing; private targets refused in production; the README's example, end to end."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from app.domain.principals import Principal, Role
from app.domain.webhooks import EndpointDraft, WebhookOptions, address_refusal, backoff_seconds
from app.domain.errors import InvalidInput
from app.repositories.database import Mongo
from app.services.container import build_services
from tests.conftest import GraphQLClient
from tests.webhook_receiver import Receiver, running_receiver

README = Path(__file__).resolve().parent.parent / "README.md"
ERR = "... on Error { code message field } ... on InvalidInputError { issues { field message } }"
REGISTER = """mutation($input: RegisterWebhookEndpointInput!) { registerWebhookEndpoint(input: $input) {
  __typename ... on RegisterWebhookEndpointPayload { secret endpoint { id url eventTypes enabled secretHint cursor version } } %s } }""" % ERR
UPDATE = """mutation($input: UpdateWebhookEndpointInput!) { updateWebhookEndpoint(input: $input) {
  __typename ... on UpdateWebhookEndpointPayload { secret endpoint { id url eventTypes enabled secretHint version } } %s } }""" % ERR
DELETE = """mutation($input: DeleteWebhookEndpointInput!) { deleteWebhookEndpoint(input: $input) {
  __typename ... on DeleteWebhookEndpointPayload { deletedEndpointId deletedDeliveries } %s } }""" % ERR
ENDPOINTS = "{ webhookEndpoints(first: 10) { edges { node { id url secretHint enabled } } } }"
DELIVERIES = """query($f: WebhookDeliveryFilterInput) { webhookDeliveries(filter: $f, first: 20) { edges { node {
  id eventType cursor status attempts responseCode latencyMs lastError attemptLog { responseCode latencyMs } } } } }"""


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    async with running_receiver() as running:
        yield running


async def register(gql: GraphQLClient, url: str, **extra: Any) -> dict[str, Any]:
    return (await gql.data(REGISTER, {"input": {"url": url, **extra}}))["registerWebhookEndpoint"]


async def test_register_returns_the_secret_once_and_audits_without_it(gql: GraphQLClient, mongo: Mongo) -> None:
    made = await register(gql, "https://erp.example.com/oms", eventTypes=["OrderCaptured"], reason="ERP go-live")
    assert made["__typename"] == "RegisterWebhookEndpointPayload"
    secret, endpoint = made["secret"], made["endpoint"]
    assert secret.startswith("whsec_") and len(secret) > 30
    assert endpoint["eventTypes"] == ["OrderCaptured"] and endpoint["enabled"] is True
    assert endpoint["secretHint"] == "…" + secret[-4:]
    listed = (await gql.data(ENDPOINTS))["webhookEndpoints"]["edges"]
    assert [edge["node"]["id"] for edge in listed] == [endpoint["id"]]
    stored = await mongo.db.events.find_one({"type": "WebhookEndpointRegistered"})
    assert stored["payload"]["endpoint"] == {
        "url": "https://erp.example.com/oms", "eventTypes": ["OrderCaptured"], "description": None, "enabled": True,
    }
    assert secret not in str(stored) and stored["reason"] == "ERP go-live" and stored["actor"]["role"] == "ADMIN"


async def test_bad_input_is_refused_field_by_field_and_writes_nothing(gql: GraphQLClient, mongo: Mongo) -> None:
    refused = await register(gql, "ftp://erp.example.com/x", eventTypes=["orderCaptured", "WebhookEndpointUpdated"], secret="short")
    assert refused["__typename"] == "InvalidInputError"
    assert {tuple(issue["field"]) for issue in refused["issues"]} == {("url",), ("eventTypes", "0"), ("eventTypes", "1"), ("secret",)}
    creds = await register(gql, "https://user:pw@erp.example.com/x")
    assert creds["__typename"] == "InvalidInputError" and "credentials" in creds["message"]
    assert await mongo.db.webhook_endpoints.count_documents({}) == 0
    assert await mongo.db.events.count_documents({"aggregate_type": "WebhookEndpoint"}) == 0


async def test_update_rotates_disables_and_delete_removes_all_audited(gql: GraphQLClient, mongo: Mongo) -> None:
    made = await register(gql, "https://wms.example.com/hook")
    endpoint_id = made["endpoint"]["id"]
    same = (await gql.data(UPDATE, {"input": {"endpointId": endpoint_id, "url": "https://wms.example.com/hook"}}))["updateWebhookEndpoint"]
    assert same["endpoint"]["version"] == 1 and same["secret"] is None  # nothing changed, nothing recorded
    changed = (
        await gql.data(UPDATE, {"input": {"endpointId": endpoint_id, "enabled": False, "rotateSecret": True, "eventTypes": ["ShipmentStatusChanged"]}})
    )["updateWebhookEndpoint"]
    assert changed["endpoint"]["enabled"] is False and changed["endpoint"]["version"] == 2
    assert changed["secret"] != made["secret"] and changed["endpoint"]["secretHint"] == "…" + changed["secret"][-4:]
    updates = await mongo.db.events.find({"type": "WebhookEndpointUpdated"}).to_list()
    assert len(updates) == 1
    assert updates[0]["payload"]["changes"] == {
        "enabled": {"before": True, "after": False},
        "eventTypes": {"before": [], "after": ["ShipmentStatusChanged"]},
        "secret": {"rotated": True},
    }
    assert (await mongo.db.webhook_endpoints.find_one({}))["secret"] == changed["secret"]  # it signs with the new one

    deleted = (await gql.data(DELETE, {"input": {"endpointId": endpoint_id, "reason": "WMS retired"}}))["deleteWebhookEndpoint"]
    assert deleted == {"__typename": "DeleteWebhookEndpointPayload", "deletedEndpointId": endpoint_id, "deletedDeliveries": 0}
    assert await mongo.db.webhook_endpoints.count_documents({}) == 0
    assert await mongo.db.events.count_documents({"type": "WebhookEndpointDeleted"}) == 1
    again = (await gql.data(DELETE, {"input": {"endpointId": endpoint_id}}))["deleteWebhookEndpoint"]
    assert again["__typename"] == "NotFoundError"


async def test_production_refuses_private_and_loopback_targets(mongo: Mongo) -> None:
    services = build_services(mongo, scheduler_interval_seconds=0, webhook_options=WebhookOptions(allow_private_targets=False))
    admin = Principal(subject="admin", role=Role.ADMIN)
    for url in ("http://127.0.0.1:9000/x", "http://10.1.2.3/x", "http://[::1]/x", "http://169.254.169.254/latest", "http://localhost/x"):
        with pytest.raises(InvalidInput) as refused:
            await services.webhooks.register(admin, EndpointDraft(url=url))
        assert refused.value.issues[0].field == ("url",) and "refused target" in refused.value.message, url
    made, _ = await services.webhooks.register(admin, EndpointDraft(url="https://93.184.216.34/hook"))
    assert made.url == "https://93.184.216.34/hook"
    assert address_refusal("::ffff:192.168.0.1") == "::ffff:192.168.0.1 is a private address"


def test_backoff_doubles_up_to_the_cap_with_at_most_half_taken_off() -> None:
    delays = [backoff_seconds(n, base=1.0, cap=30.0, jitter=0.0) for n in range(1, 8)]
    assert delays == [0.5, 1.0, 2.0, 4.0, 8.0, 15.0, 15.0]
    assert backoff_seconds(3, base=1.0, cap=30.0, jitter=0.999999) == pytest.approx(4.0)


def readme_section() -> str:
    return README.read_text().split("\n## Outbound webhooks\n", 1)[1].split("\n## ", 1)[0]


async def test_the_readme_webhook_example_registers_receives_and_verifies(gql: GraphQLClient, receiver: Receiver) -> None:
    """The README's mutation registers the endpoint, and its Python snippet verifies what arrives."""
    section = readme_section()
    mutation = re.findall(r"```graphql\n(.*?)```", section, re.S)[0]
    snippet = re.findall(r"```python\n(.*?)```", section, re.S)[0]
    namespace: dict[str, Any] = {}
    exec(compile(snippet, "README.md", "exec"), namespace)  # noqa: S102 - our own README, run as documented
    body = await gql.data(mutation, {"input": {"url": receiver.url(), "eventTypes": ["ChannelCreated"]}})
    secret = body["registerWebhookEndpoint"]["secret"]
    receiver.secrets["/hook"] = secret
    await gql.data(
        'mutation { upsertChannel(input: {code: "tiktok-shop", name: "TikTok Shop", kind: SOCIAL}) { __typename } }'
    )
    await receiver.wait_for(lambda r: len(r.received) == 1)
    arrived = receiver.received[0]
    raw = arrived.raw
    assert namespace["verify_oms_webhook"](secret, arrived.headers["x-oms-signature"], raw) is True
    assert namespace["verify_oms_webhook"]("not-the-secret", arrived.headers["x-oms-signature"], raw) is False
    assert arrived.event["type"] == "ChannelCreated" and arrived.event["aggregateId"] == "tiktok-shop"
    node = await delivered(gql, body["registerWebhookEndpoint"]["endpoint"]["id"])
    assert (node["eventType"], node["attempts"], node["responseCode"], node["lastError"]) == ("ChannelCreated", 1, 200, None)
    assert node["latencyMs"] >= 0 and node["attemptLog"] == [{"responseCode": 200, "latencyMs": node["latencyMs"]}]


async def delivered(gql: GraphQLClient, endpoint_id: str) -> dict[str, Any]:
    """The endpoint's one delivery once recorded DELIVERED (the record follows the receiver's answer)."""
    async with asyncio.timeout(60):
        while True:
            edges = (await gql.data(DELIVERIES, {"f": {"endpointId": endpoint_id}}))["webhookDeliveries"]["edges"]
            if edges and edges[0]["node"]["status"] == "DELIVERED":
                return edges[0]["node"]
            await asyncio.sleep(0.05)


def test_private_targets_are_allowed_outside_production_only_unless_configured() -> None:
    from app.asgi import webhook_options
    from app.settings import Settings

    assert Settings.from_env({}).allow_private_webhook_targets is True
    production = Settings.from_env({"OMS_ENV": "production"})
    assert production.allow_private_webhook_targets is False and webhook_options(production).allow_private_targets is False
    allowed = Settings.from_env({"OMS_ENV": "production", "OMS_WEBHOOK_ALLOW_PRIVATE": "true", "OMS_WEBHOOK_MAX_ATTEMPTS": "3"})
    assert webhook_options(allowed).allow_private_targets is True and webhook_options(allowed).max_attempts == 3
    assert any("OMS_WEBHOOK_ALLOW_PRIVATE" in line for line in allowed.production_warnings())
    with pytest.raises(SystemExit) as refused:
        Settings.from_env({"OMS_WEBHOOK_ALLOW_PRIVATE": "maybe"})
    assert "OMS_WEBHOOK_ALLOW_PRIVATE" in str(refused.value.code)
