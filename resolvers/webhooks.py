"""Root resolvers for outbound webhooks: endpoints, deliveries, register / update / delete / replay."""

from __future__ import annotations

from strawberry import relay

from app.domain.errors import DomainError
from app.domain.events import parse_cursor
from app.domain.webhooks import DeliveryFilter
from graphql_schema.context import Info
from graphql_schema.errors import error_from_domain
from graphql_schema.ids import node_id_of
from graphql_schema.pagination import page_request
from graphql_schema.types.webhooks import (
    DeleteWebhookEndpointInput,
    DeleteWebhookEndpointPayload,
    DeleteWebhookEndpointResult,
    RegisterWebhookEndpointInput,
    RegisterWebhookEndpointPayload,
    RegisterWebhookEndpointResult,
    ReplayWebhookDeliveriesInput,
    ReplayWebhookDeliveriesPayload,
    ReplayWebhookDeliveriesResult,
    UpdateWebhookEndpointInput,
    UpdateWebhookEndpointPayload,
    UpdateWebhookEndpointResult,
    WebhookDeliveryConnection,
    WebhookDeliveryFilterInput,
    WebhookEndpoint,
    WebhookEndpointConnection,
)
# --- reads ---------------------------------------------------------------------------------------


async def webhook_endpoints(info: Info, first: int | None = None, after: str | None = None) -> WebhookEndpointConnection:
    page = await info.context.services.webhooks.endpoints_page(info.context.actor, page_request(first, after))
    return WebhookEndpointConnection.from_page(page)


async def webhook_endpoint(info: Info, id: relay.GlobalID) -> WebhookEndpoint | None:  # noqa: A002
    found = await info.context.services.webhooks.endpoint(info.context.actor, node_id_of(id, "WebhookEndpoint"))
    return WebhookEndpoint.from_domain(found) if found else None


async def webhook_deliveries(
    info: Info,
    filter: WebhookDeliveryFilterInput | None = None,  # noqa: A002
    first: int | None = None,
    after: str | None = None,
) -> WebhookDeliveryConnection:
    selection = filter.to_domain() if filter else DeliveryFilter()
    page = await info.context.services.webhooks.deliveries_page(info.context.actor, selection, page_request(first, after))
    return WebhookDeliveryConnection.from_page(page)


# --- mutations -----------------------------------------------------------------------------------


async def register_webhook_endpoint(info: Info, input: RegisterWebhookEndpointInput) -> RegisterWebhookEndpointResult:  # noqa: A002
    try:
        endpoint, secret = await info.context.services.webhooks.register(info.context.actor, input.to_domain(), reason=input.reason)
    except DomainError as exc:
        return error_from_domain(exc)
    return RegisterWebhookEndpointPayload(endpoint=WebhookEndpoint.from_domain(endpoint), secret=secret)


async def update_webhook_endpoint(info: Info, input: UpdateWebhookEndpointInput) -> UpdateWebhookEndpointResult:  # noqa: A002
    try:
        endpoint, secret = await info.context.services.webhooks.update(
            info.context.actor,
            node_id_of(input.endpoint_id, "WebhookEndpoint", field="endpointId"),
            input.to_domain(),
            rotate_secret=input.rotate_secret,
            reason=input.reason,
        )
    except DomainError as exc:
        return error_from_domain(exc)
    return UpdateWebhookEndpointPayload(endpoint=WebhookEndpoint.from_domain(endpoint), secret=secret)


async def delete_webhook_endpoint(info: Info, input: DeleteWebhookEndpointInput) -> DeleteWebhookEndpointResult:  # noqa: A002
    try:
        endpoint_id = node_id_of(input.endpoint_id, "WebhookEndpoint", field="endpointId")
        deleted = await info.context.services.webhooks.delete(info.context.actor, endpoint_id, reason=input.reason)
    except DomainError as exc:
        return error_from_domain(exc)
    return DeleteWebhookEndpointPayload(deleted_endpoint_id=input.endpoint_id, deleted_deliveries=deleted)


async def replay_webhook_deliveries(info: Info, input: ReplayWebhookDeliveriesInput) -> ReplayWebhookDeliveriesResult:  # noqa: A002
    try:
        endpoint, replayed = await info.context.services.webhooks.replay(
            info.context.actor,
            delivery_id=node_id_of(input.delivery_id, "WebhookDelivery", field="deliveryId") if input.delivery_id else None,
            endpoint_id=node_id_of(input.endpoint_id, "WebhookEndpoint", field="endpointId") if input.endpoint_id else None,
            after=parse_cursor(input.after_cursor, field="afterCursor"),
            upto=parse_cursor(input.up_to_cursor, field="upToCursor"),
            reason=input.reason,
        )
    except DomainError as exc:
        return error_from_domain(exc)
    return ReplayWebhookDeliveriesPayload(endpoint=WebhookEndpoint.from_domain(endpoint), replayed=replayed)
