"""Outbound webhooks: endpoints, deliveries and their attempts; inputs and mutation results."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

import strawberry
from strawberry import relay

from app.domain import webhooks
from app.domain.pagination import Page
from graphql_schema.errors import ConflictError, InvalidInputError, NotFoundError, PermissionDeniedError
from graphql_schema.ids import node_id_of
from graphql_schema.pagination import edges as edges_of, page_info

WebhookDeliveryStatus = strawberry.enum(
    webhooks.DeliveryStatus,
    description="PENDING: not tried yet (or replayed); RETRYING: failed, tried again at nextAttemptAt; "
    "DELIVERED: the receiver answered 2xx; DEAD: failed the configured number of times (replay to send again).",
)

_RESULT_ERRORS = InvalidInputError | NotFoundError | ConflictError | PermissionDeniedError


@strawberry.type(description="A URL that receives the OMS's events, signed like the inbound webhooks (X-OMS-Signature).")
class WebhookEndpoint:
    id: relay.GlobalID
    url: str
    event_types: list[str] = strawberry.field(description="Event types delivered; empty: every event.")
    description: str | None
    enabled: bool = strawberry.field(description="Disabled endpoints keep their place in the log and catch up when enabled.")
    secret_hint: str = strawberry.field(description="The secret's last characters; the secret itself is shown only when set.")
    cursor: str = strawberry.field(description="The last event (log position) considered for this endpoint.")
    created_at: datetime
    updated_at: datetime
    created_by: str
    version: int

    @classmethod
    def from_domain(cls, value: webhooks.WebhookEndpoint) -> WebhookEndpoint:
        return cls(
            id=relay.GlobalID("WebhookEndpoint", value.id),
            url=value.url,
            event_types=sorted(value.event_types),
            description=value.description,
            enabled=value.enabled,
            secret_hint=value.secret_hint,
            cursor=str(value.cursor),
            created_at=value.created_at,
            updated_at=value.updated_at,
            created_by=value.created_by,
            version=value.version,
        )


@strawberry.type(description="One try to deliver an event.")
class WebhookAttempt:
    at: datetime
    response_code: int | None = strawberry.field(description="The receiver's HTTP status; null when none came back.")
    latency_ms: int
    error: str | None = strawberry.field(description="Why it failed (HTTP status, timeout, connection, refused target).")


@strawberry.type(description="One event on its way to one endpoint, with its attempts.")
class WebhookDelivery:
    id: relay.GlobalID
    endpoint_id: relay.GlobalID
    event_id: str
    event_type: str
    cursor: str = strawberry.field(description="The event's position in the log (events(after:) and subscriptions use the same).")
    aggregate_type: str
    aggregate_id: str = strawberry.field(description="Deliveries of one aggregate go out in log order.")
    status: WebhookDeliveryStatus
    attempts: int = strawberry.field(description="Tries since it was enqueued or last replayed.")
    response_code: int | None = strawberry.field(description="The last attempt's HTTP status.")
    latency_ms: int | None = strawberry.field(description="The last attempt's duration.")
    last_error: str | None
    next_attempt_at: datetime | None = strawberry.field(description="When it is tried next (PENDING, RETRYING).")
    delivered_at: datetime | None
    created_at: datetime
    updated_at: datetime
    attempt_log: list[WebhookAttempt] = strawberry.field(
        description="The most recent attempts (up to 20), oldest first.", metadata={"cost_list_size": 20}
    )

    @classmethod
    def from_domain(cls, value: webhooks.WebhookDelivery) -> WebhookDelivery:
        waiting = value.status in webhooks.OPEN_STATUSES
        return cls(
            id=relay.GlobalID("WebhookDelivery", value.id),
            endpoint_id=relay.GlobalID("WebhookEndpoint", value.endpoint_id),
            event_id=value.event_id,
            event_type=value.event_type,
            cursor=str(value.seq),
            aggregate_type=value.aggregate_type,
            aggregate_id=value.aggregate_id,
            status=value.status,
            attempts=value.attempts,
            response_code=value.response_code,
            latency_ms=value.latency_ms,
            last_error=value.last_error,
            next_attempt_at=value.next_attempt_at if waiting else None,
            delivered_at=value.delivered_at,
            created_at=value.created_at,
            updated_at=value.updated_at,
            attempt_log=[
                WebhookAttempt(at=a.at, response_code=a.response_code, latency_ms=a.latency_ms, error=a.error) for a in value.log
            ],
        )


@strawberry.type
class WebhookEndpointEdge:
    cursor: str
    node: WebhookEndpoint


@strawberry.type(description="A page of webhook endpoints, newest first.")
class WebhookEndpointConnection:
    edges: list[WebhookEndpointEdge]
    page_info: relay.PageInfo

    @classmethod
    def from_page(cls, page: Page[webhooks.WebhookEndpoint]) -> WebhookEndpointConnection:
        return cls(edges=edges_of(page, WebhookEndpoint.from_domain, WebhookEndpointEdge), page_info=page_info(page))


@strawberry.type
class WebhookDeliveryEdge:
    cursor: str
    node: WebhookDelivery


@strawberry.type(description="A page of webhook deliveries, newest first.")
class WebhookDeliveryConnection:
    edges: list[WebhookDeliveryEdge]
    page_info: relay.PageInfo

    @classmethod
    def from_page(cls, page: Page[webhooks.WebhookDelivery]) -> WebhookDeliveryConnection:
        return cls(edges=edges_of(page, WebhookDelivery.from_domain, WebhookDeliveryEdge), page_info=page_info(page))


@strawberry.input(description="Which deliveries to list. All given criteria must match.")
class WebhookDeliveryFilterInput:
    endpoint_id: relay.GlobalID | None = strawberry.field(default=None, description="Deliveries to this endpoint.")
    statuses: list[WebhookDeliveryStatus] | None = strawberry.field(default=None, description="Any of these statuses.")
    event_types: list[str] | None = strawberry.field(default=None, description="Any of these event types.")
    aggregate_id: str | None = strawberry.field(default=None, description="Events of this aggregate (an order id, a SKU@location ...).")

    def to_domain(self) -> webhooks.DeliveryFilter:
        return webhooks.DeliveryFilter(
            endpoint_id=node_id_of(self.endpoint_id, "WebhookEndpoint", field="endpointId") if self.endpoint_id else None,
            statuses=tuple(webhooks.DeliveryStatus(s) for s in self.statuses or ()),
            event_types=tuple(self.event_types or ()),
            aggregate_id=self.aggregate_id,
        )


@strawberry.input(description="A URL to deliver events to.")
class RegisterWebhookEndpointInput:
    url: str = strawberry.field(description="http(s) URL; in production not a loopback or private address.")
    event_types: list[str] = strawberry.field(default_factory=list, description="Event types to deliver (e.g. OrderCaptured); empty: all.")
    description: str | None = None
    secret: str | None = strawberry.field(default=None, description="24-256 characters; omitted: one is generated. Returned once.")
    enabled: bool = True
    reason: str | None = strawberry.field(default=None, description="Why, for the audit trail.")

    def to_domain(self) -> webhooks.EndpointDraft:
        return webhooks.EndpointDraft(
            url=self.url, event_types=tuple(self.event_types), description=self.description, secret=self.secret, enabled=self.enabled
        )


@strawberry.input(description="Change an endpoint; omitted fields stay as they are.")
class UpdateWebhookEndpointInput:
    endpoint_id: relay.GlobalID
    url: str | None = None
    event_types: list[str] | None = None
    description: str | None = None
    enabled: bool | None = strawberry.field(default=None, description="false: stop delivering (the endpoint keeps its place).")
    secret: str | None = strawberry.field(default=None, description="A new secret of your choosing (returned once).")
    rotate_secret: bool = strawberry.field(default=False, description="Generate a new secret (returned once).")
    reason: str | None = None

    def to_domain(self) -> webhooks.EndpointDraft:
        return webhooks.EndpointDraft(
            url=self.url,
            event_types=tuple(self.event_types) if self.event_types is not None else None,
            description=self.description,
            secret=self.secret,
            enabled=self.enabled,
        )


@strawberry.input(description="Remove an endpoint and its delivery record.")
class DeleteWebhookEndpointInput:
    endpoint_id: relay.GlobalID
    reason: str | None = None


@strawberry.input(description="Send again one delivery, or an endpoint's events in a range of log positions.")
class ReplayWebhookDeliveriesInput:
    delivery_id: relay.GlobalID | None = strawberry.field(default=None, description="One delivery, whatever its status.")
    endpoint_id: relay.GlobalID | None = strawberry.field(default=None, description="With afterCursor: a range of this endpoint's events.")
    after_cursor: str | None = strawberry.field(default=None, description="Events after this log position (0: the oldest retained).")
    up_to_cursor: str | None = strawberry.field(default=None, description="Up to and including this one (default: the endpoint's cursor).")
    reason: str | None = None


@strawberry.type(description="The endpoint, and its secret: shown now and never again.")
class RegisterWebhookEndpointPayload:
    endpoint: WebhookEndpoint
    secret: str = strawberry.field(description="Verify X-OMS-Signature with it. Store it now: it is not shown again.")


@strawberry.type(description="The endpoint as changed.")
class UpdateWebhookEndpointPayload:
    endpoint: WebhookEndpoint
    secret: str | None = strawberry.field(description="The new secret when one was set or rotated (shown once); else null.")


@strawberry.type(description="What was deleted.")
class DeleteWebhookEndpointPayload:
    deleted_endpoint_id: relay.GlobalID
    deleted_deliveries: int


@strawberry.type(description="How many deliveries will be sent again.")
class ReplayWebhookDeliveriesPayload:
    endpoint: WebhookEndpoint
    replayed: int


RegisterWebhookEndpointResult = Annotated[
    RegisterWebhookEndpointPayload | _RESULT_ERRORS,
    strawberry.union("RegisterWebhookEndpointResult", description="The endpoint and its secret, or why it was not registered."),
]
UpdateWebhookEndpointResult = Annotated[
    UpdateWebhookEndpointPayload | _RESULT_ERRORS,
    strawberry.union("UpdateWebhookEndpointResult", description="The endpoint as changed, or why it was not."),
]
DeleteWebhookEndpointResult = Annotated[
    DeleteWebhookEndpointPayload | _RESULT_ERRORS,
    strawberry.union("DeleteWebhookEndpointResult", description="What was deleted, or why nothing was."),
]
ReplayWebhookDeliveriesResult = Annotated[
    ReplayWebhookDeliveriesPayload | _RESULT_ERRORS,
    strawberry.union("ReplayWebhookDeliveriesResult", description="How many will be sent again, or why none."),
]
