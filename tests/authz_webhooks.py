"""The outbound webhook rows of the authorization table (tests/authz_table.py explains rows and
outcomes): everything is ADMIN only; every other role gets FORBIDDEN and nothing is written.

Endpoints are made disabled, so the app's delivery worker leaves them alone while the table
compares fingerprints (`webhook_endpoints` and `webhook_deliveries` are fingerprinted)."""

from __future__ import annotations

from typing import Any

from app.domain.principals import Principal, Role
from app.domain.webhooks import EndpointDraft
from tests.authz_table import ALLOW, Row, Seed, gid, mutation

_ADMIN = Principal(subject="authz-seed", role=Role.ADMIN)
_URL = "https://93.184.216.34/oms"  # a public address literal: no name to resolve


async def _endpoint(seed: Seed) -> str:
    """A fresh disabled endpoint (per caller), as a global id."""
    made, _ = await seed.returns.services.webhooks.register(_ADMIN, EndpointDraft(url=_URL, enabled=False))
    return gid("WebhookEndpoint", made.id)


async def _on_endpoint(seed: Seed, **extra: Any) -> dict[str, Any]:
    return {"input": {"endpointId": await _endpoint(seed), **extra}}


WEBHOOK_ROWS: list[Row] = [
    Row(
        "webhook_endpoints", "webhooks: read", "{ webhookEndpoints(first: 5) { edges { node { id url secretHint } } } }",
        {"ADMIN": ALLOW}, check=lambda value, seed, caller: isinstance(value["edges"], list),
    ),
    Row(
        "webhook_deliveries", "webhooks: read",
        '{ webhookDeliveries(first: 5, filter: {statuses: [DEAD]}) { edges { node { id status lastError } } } }',
        {"ADMIN": ALLOW}, check=lambda value, seed, caller: isinstance(value["edges"], list),
    ),
    Row(
        "register_webhook_endpoint", "webhooks: change", mutation("registerWebhookEndpoint", "RegisterWebhookEndpointInput"),
        {"ADMIN": ALLOW}, variables=lambda s: {"input": {"url": _URL, "eventTypes": ["OrderCaptured"], "enabled": False}},
    ),
    Row(
        "update_webhook_endpoint", "webhooks: change", mutation("updateWebhookEndpoint", "UpdateWebhookEndpointInput"),
        {"ADMIN": ALLOW}, variables=lambda s: _on_endpoint(s, description="ERP", rotateSecret=True),
    ),
    Row(
        "delete_webhook_endpoint", "webhooks: change", mutation("deleteWebhookEndpoint", "DeleteWebhookEndpointInput"),
        {"ADMIN": ALLOW}, variables=lambda s: _on_endpoint(s),
    ),
    Row(
        "replay_webhook_deliveries", "webhooks: replay", mutation("replayWebhookDeliveries", "ReplayWebhookDeliveriesInput"),
        {"ADMIN": ALLOW}, variables=lambda s: _on_endpoint(s, afterCursor="0"),
    ),
]
