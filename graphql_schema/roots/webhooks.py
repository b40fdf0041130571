"""Root fields: outbound webhooks (admins only)."""

from __future__ import annotations

import strawberry

from app.domain.principals import Role
from graphql_schema.permissions import HasRole
from graphql_schema.types.webhooks import (
    DeleteWebhookEndpointResult,
    RegisterWebhookEndpointResult,
    ReplayWebhookDeliveriesResult,
    UpdateWebhookEndpointResult,
    WebhookDeliveryConnection,
    WebhookEndpoint,
    WebhookEndpointConnection,
)
from resolvers import webhooks as resolve

_ADMIN = [HasRole(Role.ADMIN)]


@strawberry.type
class WebhookQueries:
    webhook_endpoints: WebhookEndpointConnection = strawberry.field(
        resolver=resolve.webhook_endpoints,
        permission_classes=_ADMIN,
        description="Registered webhook endpoints, newest first (secrets are never shown). Admins.",
    )
    webhook_endpoint: WebhookEndpoint | None = strawberry.field(
        resolver=resolve.webhook_endpoint,
        permission_classes=_ADMIN,
        description="One webhook endpoint; null when it does not exist. Admins.",
    )
    webhook_deliveries: WebhookDeliveryConnection = strawberry.field(
        resolver=resolve.webhook_deliveries,
        permission_classes=_ADMIN,
        description="Deliveries of events to webhook endpoints, newest first, with status, attempts, the last "
        "response code, latency and error. Admins.",
    )


@strawberry.type
class WebhookMutations:
    register_webhook_endpoint: RegisterWebhookEndpointResult = strawberry.mutation(
        resolver=resolve.register_webhook_endpoint,
        permission_classes=_ADMIN,
        description="Deliver events (all, or the given types) from now on to a URL, signed with HMAC-SHA256 "
        "(X-OMS-Signature, as the inbound webhooks); the secret is returned once. Audited. Admins.",
    )
    update_webhook_endpoint: UpdateWebhookEndpointResult = strawberry.mutation(
        resolver=resolve.update_webhook_endpoint,
        permission_classes=_ADMIN,
        description="Change an endpoint's URL, event types, description, secret, or enable/disable it. Audited. Admins.",
    )
    delete_webhook_endpoint: DeleteWebhookEndpointResult = strawberry.mutation(
        resolver=resolve.delete_webhook_endpoint,
        permission_classes=_ADMIN,
        description="Stop delivering to an endpoint and forget it and its deliveries. Audited. Admins.",
    )
    replay_webhook_deliveries: ReplayWebhookDeliveriesResult = strawberry.mutation(
        resolver=resolve.replay_webhook_deliveries,
        permission_classes=_ADMIN,
        description="Send again one delivery (e.g. a DEAD one), or an endpoint's events in a range of log positions "
        "(at most 1,000). Audited. Admins.",
    )
