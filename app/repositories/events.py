"""The event log: append-only, written in the same transaction as the change it records."""

from __future__ import annotations

from typing import Any

from pymongo.asynchronous.database import AsyncDatabase

from app.domain.events import Actor, DomainEvent
from app.repositories.database import Session

_KEYS = ("order_id", "customer_id", "channel_id", "sku", "location_id", "shipment_id")


def to_doc(event: DomainEvent) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "_id": event.id,
        "type": event.type,
        "aggregate_type": event.aggregate_type,
        "aggregate_id": event.aggregate_id,
        "at": event.at,
        "actor": {"subject": event.actor.subject, "role": event.actor.role},
        "payload": event.payload,
        "reason": event.reason,
    }
    if event.seq is not None:
        doc["seq"] = event.seq
    for key in _KEYS:
        value = getattr(event, key)
        if value is not None:
            doc[key] = value
    return doc


def from_doc(doc: dict[str, Any]) -> DomainEvent:
    actor = doc.get("actor") or {}
    return DomainEvent(
        id=doc["_id"],
        type=doc["type"],
        aggregate_type=doc["aggregate_type"],
        aggregate_id=doc["aggregate_id"],
        at=doc["at"],
        actor=Actor(subject=actor.get("subject", "unknown"), role=actor.get("role", "UNKNOWN")),
        payload=doc.get("payload") or {},
        reason=doc.get("reason"),
        seq=doc.get("seq"),
        **{key: doc.get(key) for key in _KEYS},
    )


class EventRepository:
    def __init__(self, db: AsyncDatabase):
        self.collection = db["events"]

    async def append(self, events: list[DomainEvent], *, session: Session | None) -> None:
        """Callers pass the session of the transaction that made the change."""
        if events:
            await self.collection.insert_many([to_doc(e) for e in events], ordered=True, session=session)

    async def for_order(self, order_id: str, *, limit: int = 500) -> list[DomainEvent]:
        cursor = self.collection.find({"order_id": order_id}).sort("_id", 1).limit(limit)
        return [from_doc(doc) async for doc in cursor]

    async def for_orders(self, order_ids: list[str], *, limit_per_order: int = 500) -> dict[str, list[DomainEvent]]:
        result: dict[str, list[DomainEvent]] = {order_id: [] for order_id in order_ids}
        cursor = self.collection.find({"order_id": {"$in": order_ids}}).sort([("order_id", 1), ("_id", 1)])
        async for doc in cursor.limit(limit_per_order * max(1, len(order_ids))):
            event = from_doc(doc)
            bucket = result[doc["order_id"]]
            if len(bucket) < limit_per_order:
                bucket.append(event)
        return result

    async def stock_movements(
        self, sku: str, location_id: str, *, first: int, before_id: str | None = None
    ) -> list[DomainEvent]:
        """StockLevelChanged events of one level, newest first: the level's movement log."""
        query: dict[str, Any] = {"sku": sku, "location_id": location_id, "type": "StockLevelChanged"}
        if before_id is not None:
            query["_id"] = {"$lt": before_id}
        cursor = self.collection.find(query).sort("_id", -1).limit(first)
        return [from_doc(doc) async for doc in cursor]
