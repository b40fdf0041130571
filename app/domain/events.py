"""Domain events: the append-only log that is also every order's timeline and audit trail."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from app.domain.errors import ErrorCode, FieldIssue, InvalidInput


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


def field_changes(before: dict[str, Any], after: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """`{field: {"before": …, "after": …}}` for every top-level field that differs: the payload of
    an audited change to reference data (ProductUpdated, ChannelUpdated, …)."""
    return {key: {"before": before.get(key), "after": value} for key, value in after.items() if before.get(key) != value}


# What a subscriber can select on. Order events do not all carry the order's status, so the status
# after an event is read from `payload.status`, else `payload.to`, else implied by the event type.
_STATUS_BY_TYPE = {"OrderCancelled": "CANCELLED", "OrderHeld": "ON_HOLD"}


def status_after(event: DomainEvent) -> str | None:
    """The order's status once this event happened, when the event tells it."""
    value = event.payload.get("status") or event.payload.get("to") or _STATUS_BY_TYPE.get(event.type)
    return value if isinstance(value, str) else None


@dataclass(frozen=True, slots=True)
class EventFilter:
    """Selects events: every non-empty criterion must hold; values within one criterion are alternatives."""

    types: frozenset[str] = frozenset()
    aggregate_types: frozenset[str] = frozenset()
    order_ids: frozenset[str] = frozenset()
    customer_ids: frozenset[str] = frozenset()
    channel_ids: frozenset[str] = frozenset()
    skus: frozenset[str] = frozenset()
    location_ids: frozenset[str] = frozenset()
    shipment_ids: frozenset[str] = frozenset()
    statuses: frozenset[str] = frozenset()

    def matches(self, event: DomainEvent) -> bool:
        return (
            (not self.types or event.type in self.types)
            and (not self.aggregate_types or event.aggregate_type in self.aggregate_types)
            and (not self.order_ids or event.order_id in self.order_ids)
            and (not self.customer_ids or event.customer_id in self.customer_ids)
            and (not self.channel_ids or event.channel_id in self.channel_ids)
            and (not self.skus or event.sku in self.skus)
            and (not self.location_ids or event.location_id in self.location_ids)
            and (not self.shipment_ids or event.shipment_id in self.shipment_ids)
            and (not self.statuses or status_after(event) in self.statuses)
        )


STOCK_LEVEL_CHANGED = "StockLevelChanged"


def crossed_reorder_point(event: DomainEvent) -> bool:
    """A low-stock alert: availability fell from above the reorder point to at or below it."""
    if event.type != STOCK_LEVEL_CHANGED:
        return False
    payload = event.payload
    point, now, before = payload.get("reorderPoint"), payload.get("available"), payload.get("previousAvailable")
    if not all(isinstance(v, int) for v in (point, now, before)):
        return False
    return before > point >= now  # type: ignore[operator]


# The wire envelope: one JSON string per batch of sequenced events, identical for every broadcaster
# backend (Redis hands back strings; the memory backend would hand back whatever was published).
ENVELOPE_VERSION = 1


def _json_default(value: object) -> object:
    if isinstance(value, datetime):
        return value.isoformat()
    raise TypeError(f"event payloads must be JSON data, got {type(value).__name__}")


def _event_json(event: DomainEvent) -> dict[str, Any]:
    return {
        "id": event.id,
        "type": event.type,
        "aggregateType": event.aggregate_type,
        "aggregateId": event.aggregate_id,
        "at": event.at.isoformat(),
        "actor": {"subject": event.actor.subject, "role": event.actor.role},
        "payload": event.payload,
        "reason": event.reason,
        "seq": event.seq,
        "keys": {key: getattr(event, key) for key in KEY_FIELDS if getattr(event, key) is not None},
    }


KEY_FIELDS = ("order_id", "customer_id", "channel_id", "sku", "location_id", "shipment_id")


def encode_envelope(events: list[DomainEvent]) -> str:
    return json.dumps(
        {"v": ENVELOPE_VERSION, "events": [_event_json(e) for e in events]}, separators=(",", ":"), default=_json_default
    )


def decode_envelope(message: str) -> list[DomainEvent]:
    body = json.loads(message)
    if body.get("v") != ENVELOPE_VERSION:
        raise ValueError(f"unknown event envelope version {body.get('v')!r}")
    return [
        DomainEvent(
            id=item["id"],
            type=item["type"],
            aggregate_type=item["aggregateType"],
            aggregate_id=item["aggregateId"],
            at=datetime.fromisoformat(item["at"]),
            actor=Actor(**item["actor"]),
            payload=item["payload"],
            reason=item["reason"],
            seq=item["seq"],
            **item["keys"],
        )
        for item in body["events"]
    ]


def parse_cursor(cursor: str | None, *, field: str = "after") -> int | None:
    """A cursor is the decimal seq of the last event a client saw; 0 means "from the beginning"."""
    if cursor is None:
        return None
    text = cursor.strip()
    if not text.isdigit() or len(text) > 18:
        raise InvalidInput([FieldIssue(ErrorCode.INVALID_INPUT, f"{field} is not an event cursor", (field,))])
    return int(text)
