"""Domain events as clients see them: an order's timeline, the `events` query, subscriptions."""

from __future__ import annotations

from datetime import datetime

import strawberry
from strawberry.scalars import JSON

from app.domain import events


@strawberry.type(description="Who caused a change.")
class Actor:
    subject: str = strawberry.field(description="API key name, user or system job.")
    role: str = strawberry.field(description="The role it acted in, or SYSTEM.")


@strawberry.type(description="One recorded change: what happened, to what, by whom, when and why.")
class Event:
    id: strawberry.ID
    type: str = strawberry.field(description="What happened, e.g. `OrderCaptured`, `StockAdjusted`.")
    aggregate_type: str = strawberry.field(description="Kind of object changed: Order, InventoryLevel, Shipment.")
    aggregate_id: str = strawberry.field(description="Id of the object changed.")
    at: datetime
    actor: Actor
    reason: str | None = strawberry.field(description="Why, when the actor gave a reason.")
    payload: JSON = strawberry.field(description="Event-specific details, e.g. from/to status.")
    cursor: str | None = strawberry.field(
        description="Position in the log; resume subscriptions and `events` after it. Null until sequenced."
    )

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
        )
