"""Domain events as clients see them: an order's timeline, the `events` query, subscriptions."""

from __future__ import annotations

from datetime import datetime

import strawberry
from strawberry import relay
from strawberry.scalars import JSON

from app.domain import events
from app.domain.pagination import Page
from graphql_schema.enums import OrderStatus
from graphql_schema.pagination import edges as edges_of, page_info


@strawberry.type(description="Who caused a change.")
class Actor:
    subject: str = strawberry.field(description="API key name, user or system job.")
    role: str = strawberry.field(description="The role it acted in, or SYSTEM.")


@strawberry.type(description="One recorded change: what happened, to what, by whom, when and why.")
class Event:
    id: strawberry.ID = strawberry.field(description="The event's id.")
    type: str = strawberry.field(description="What happened, e.g. `OrderCaptured`, `StockLevelChanged`.")
    aggregate_type: str = strawberry.field(description="Kind of object changed: Order, InventoryLevel, Shipment.")
    aggregate_id: str = strawberry.field(description="Id of the object changed.")
    at: datetime = strawberry.field(description="When it happened (UTC).")
    actor: Actor = strawberry.field(description="Who did it.")
    reason: str | None = strawberry.field(description="Why, when the actor gave a reason.")
    payload: JSON = strawberry.field(description="Event-specific details, e.g. from/to status.")
    cursor: str | None = strawberry.field(
        description="Position in the log; resume subscriptions and `events` after it. Null until sequenced."
    )
    order_id: relay.GlobalID | None = strawberry.field(description="The order it concerns, if any.")
    sku: str | None = strawberry.field(description="The SKU it concerns, for stock events.")
    location_id: str | None = strawberry.field(description="The location it concerns, for stock events.")

    @classmethod
    def from_domain(cls, value: events.DomainEvent) -> Event:
        return cls(
            id=strawberry.ID(value.id),
            type=value.type,
            aggregate_type=value.aggregate_type,
            aggregate_id=value.aggregate_id,
            at=value.at,
            actor=Actor(subject=value.actor.subject, role=value.actor.role),
            reason=value.reason,
            payload=value.payload,
            cursor=str(value.seq) if value.seq is not None else None,
            order_id=relay.GlobalID("Order", value.order_id) if value.order_id else None,
            sku=value.sku,
            location_id=value.location_id,
        )


@strawberry.type(description="One event in a page of the log.")
class EventEdge:
    cursor: str = strawberry.field(description="The event's cursor: pass it as `after` to continue after it.")
    node: Event = strawberry.field(description="The event.")


@strawberry.type(description="A page of the event log in commit order (oldest first).")
class EventConnection:
    edges: list[EventEdge] = strawberry.field(description="The events of this page.")
    page_info: relay.PageInfo = strawberry.field(description="Where this page sits in the log.")

    @classmethod
    def from_page(cls, page: Page[events.DomainEvent]) -> EventConnection:
        return cls(
            edges=edges_of(page, Event.from_domain, EventEdge),
            page_info=page_info(page),
        )


@strawberry.input(description="Which events to read. All given criteria must match; list values are alternatives.")
class EventFilterInput:
    types: list[str] | None = strawberry.field(default=None, description="Event types, e.g. `OrderCancelled`.")
    aggregate_types: list[str] | None = strawberry.field(default=None, description="Order, InventoryLevel, Shipment, ...")
    order_id: relay.GlobalID | None = strawberry.field(default=None, description="Events of this order.")
    customer_id: relay.GlobalID | None = strawberry.field(default=None, description="Events of this customer's orders.")
    channel: str | None = strawberry.field(default=None, description="Events of this channel's orders.")
    skus: list[str] | None = strawberry.field(default=None, description="Stock events of these SKUs.")
    location_ids: list[str] | None = strawberry.field(default=None, description="Stock events at these locations.")


def _cursor(event: events.DomainEvent) -> str:
    return str(event.seq)


@strawberry.type(description="An order changed. Resume after `cursor` to continue exactly after this one.")
class OrderUpdate:
    cursor: str = strawberry.field(description="The event's position in the log.")
    event: Event = strawberry.field(description="What happened.")
    order_id: relay.GlobalID = strawberry.field(description="The order.")
    status: OrderStatus | None = strawberry.field(description="The order's status after this event, when it tells.")

    @classmethod
    def from_domain(cls, value: events.DomainEvent) -> OrderUpdate:
        status = events.status_after(value)
        return cls(
            cursor=_cursor(value),
            event=Event.from_domain(value),
            order_id=relay.GlobalID("Order", value.order_id or value.aggregate_id),
            status=_order_status(status),
        )


def _order_status(value: str | None) -> OrderStatus | None:
    try:
        return OrderStatus(value) if value else None
    except ValueError:
        return None


def _int(payload: dict[str, object], key: str) -> int:
    value = payload.get(key)
    return value if isinstance(value, int) else 0


@strawberry.type(description="A stock level changed at one location.")
class StockLevelUpdate:
    cursor: str = strawberry.field(description="The event's position in the log.")
    event: Event = strawberry.field(description="The StockLevelChanged event.")
    sku: str = strawberry.field(description="The SKU.")
    location_id: str = strawberry.field(description="The location.")
    on_hand: int = strawberry.field(description="Units on hand after the change.")
    reserved: int = strawberry.field(description="Units reserved for open orders after the change.")
    available: int = strawberry.field(description="Units available to sell after the change.")
    previous_available: int = strawberry.field(description="Units available before the change.")
    reorder_point: int = strawberry.field(description="Availability at or below which stock is reordered.")
    cause: str | None = strawberry.field(description="Why it changed: reservation, adjustment, receipt, ...")

    @classmethod
    def from_domain(cls, value: events.DomainEvent) -> StockLevelUpdate:
        payload = value.payload
        cause = payload.get("cause")
        return cls(
            cursor=_cursor(value),
            event=Event.from_domain(value),
            sku=value.sku or "",
            location_id=value.location_id or "",
            on_hand=_int(payload, "onHand"),
            reserved=_int(payload, "reserved"),
            available=_int(payload, "available"),
            previous_available=_int(payload, "previousAvailable"),
            reorder_point=_int(payload, "reorderPoint"),
            cause=cause if isinstance(cause, str) else None,
        )


@strawberry.type(description="Availability of a SKU at a location fell to or below its reorder point.")
class LowStockAlert:
    cursor: str = strawberry.field(description="The event's position in the log.")
    event: Event = strawberry.field(description="The StockLevelChanged event that crossed the reorder point.")
    sku: str = strawberry.field(description="The SKU.")
    location_id: str = strawberry.field(description="The location.")
    available: int = strawberry.field(description="Units available now.")
    reorder_point: int = strawberry.field(description="The reorder point that was crossed.")

    @classmethod
    def from_domain(cls, value: events.DomainEvent) -> LowStockAlert:
        return cls(
            cursor=_cursor(value),
            event=Event.from_domain(value),
            sku=value.sku or "",
            location_id=value.location_id or "",
            available=_int(value.payload, "available"),
            reorder_point=_int(value.payload, "reorderPoint"),
        )


@strawberry.type(description="A shipment of an order moved: created, picked, shipped, a carrier scan, delivered.")
class ShipmentUpdate:
    cursor: str = strawberry.field(description="The event's position in the log.")
    event: Event = strawberry.field(description="What happened.")
    shipment_id: str | None = strawberry.field(description="The shipment, when the event names one.")
    status: str | None = strawberry.field(description="The shipment's status after this event, when it tells.")

    @classmethod
    def from_domain(cls, value: events.DomainEvent) -> ShipmentUpdate:
        status = events.status_after(value)
        return cls(cursor=_cursor(value), event=Event.from_domain(value), shipment_id=value.shipment_id, status=status)
