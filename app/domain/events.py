"""Domain events: the append-only log that is also every order's timeline and audit trail."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any


@dataclass(frozen=True, slots=True)
class Actor:
    """Who caused a change: a principal's subject and role, or the system (scheduler, relay)."""

    subject: str
    role: str

    @classmethod
    def system(cls, what: str = "system") -> Actor:
        return cls(subject=what, role="SYSTEM")


@dataclass(frozen=True, slots=True)
class DomainEvent:
    """`seq` is the event's place in commit order, stamped by the relay after commit; None until then.

    The key fields (order_id, sku, ...) are copied out of the payload so subscriptions and
    `events(filter)` can select on them with an index.
    """

    id: str
    type: str
    aggregate_type: str
    aggregate_id: str
    at: datetime
    actor: Actor
    payload: dict[str, Any] = field(default_factory=dict)
    reason: str | None = None
    seq: int | None = None
    order_id: str | None = None
    customer_id: str | None = None
    channel_id: str | None = None
    sku: str | None = None
    location_id: str | None = None
    shipment_id: str | None = None
