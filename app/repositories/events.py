"""The event log: append-only, written in the same transaction as the change it records."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Mapping
from typing import Any

from pymongo import ASCENDING, DESCENDING, UpdateOne
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import OperationFailure

from app.domain.events import KEY_FIELDS, Actor, DomainEvent, EventFilter
from app.domain.replenishment import crossing_of
from app.repositories.replenishment import crossing_to_doc
from app.repositories.database import Session

_KEYS = KEY_FIELDS
UNSTAMPED: dict[str, Any] = {"seq": {"$type": "null"}}
STAMPED: dict[str, Any] = {"seq": {"$type": "number"}}
# ChangeStreamHistoryLost, ChangeStreamFatalError, and "resume point no longer in the oplog".
_HISTORY_LOST_CODES = {286, 280, 136}

ResumeToken = Mapping[str, Any]


class HistoryLost(Exception):
    """The stored resume token is no longer in the oplog."""


def filter_query(selection: EventFilter) -> dict[str, Any]:
    query: dict[str, Any] = {}
    for name, values in (
        ("type", selection.types),
        ("aggregate_type", selection.aggregate_types),
        ("order_id", selection.order_ids),
        ("customer_id", selection.customer_ids),
        ("channel_id", selection.channel_ids),
        ("sku", selection.skus),
        ("location_id", selection.location_ids),
        ("shipment_id", selection.shipment_ids),
    ):
        if values:
            query[name] = {"$in": sorted(values)}
    if selection.statuses:
        # Mirrors domain.events.status_after: payload.status, else payload.to, else implied by the type.
        statuses = sorted(selection.statuses)
        implied = [t for t, s in {"OrderCancelled": "CANCELLED", "OrderHeld": "ON_HOLD"}.items() if s in statuses]
        query["$or"] = [
            {"payload.status": {"$in": statuses}},
            {"payload.status": None, "payload.to": {"$in": statuses}},
            {"payload.status": None, "payload.to": None, "type": {"$in": implied}},
        ]
    return query


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
    # Writers insert with seq null; the sequencer stamps it after commit (partial index "unstamped").
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
        self.crossings = db["reorder_crossings"]

    async def append(self, events: list[DomainEvent], *, session: Session | None) -> None:
        """Callers pass the session of the transaction that made the change. A stock movement that
        crosses a reorder point leaves its replenishment marker in that same transaction: every
        writer of stock appends its movements here, so no path can cross without one."""
        if events:
            await self.collection.insert_many([to_doc(e) for e in events], ordered=True, session=session)
            crossings = [c for c in map(crossing_of, events) if c is not None]
            if crossings:
                await self.crossings.insert_many([crossing_to_doc(c) for c in crossings], ordered=True, session=session)

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

    # Sequenced reads (subscriptions, `events`): by seq, the commit order the sequencer stamped.

    async def after(self, seq: int, selection: EventFilter, *, limit: int) -> list[DomainEvent]:
        query = {**filter_query(selection), "seq": {"$gt": seq}}
        cursor = self.collection.find(query).sort("seq", ASCENDING).limit(limit)
        return [from_doc(doc) async for doc in cursor]

    async def seq_range(self, after: int, upto: int) -> list[DomainEvent]:
        """Every event with after < seq <= upto, in order (bounded by the caller's range)."""
        cursor = self.collection.find({"seq": {"$gt": after, "$lte": upto}}).sort("seq", ASCENDING)
        return [from_doc(doc) async for doc in cursor]

    async def between(
        self, after: int, upto: int, selection: EventFilter, *, limit: int, excluded_aggregates: tuple[str, ...] = ()
    ) -> list[DomainEvent]:
        """Matching events with after < seq <= upto, in seq order, at most `limit` (outbound webhooks)."""
        query = {**filter_query(selection), "seq": {"$gt": after, "$lte": upto}}
        if excluded_aggregates:
            query["aggregate_type"] = {**query.get("aggregate_type", {}), "$nin": list(excluded_aggregates)}
        cursor = self.collection.find(query).sort("seq", ASCENDING).limit(limit)
        return [from_doc(doc) async for doc in cursor]

    async def by_ids(self, ids: list[str]) -> list[DomainEvent]:
        return [from_doc(doc) async for doc in self.collection.find({"_id": {"$in": ids}})]

    async def oldest_seq(self) -> int | None:
        doc = await self.collection.find_one(STAMPED, {"seq": 1}, sort=[("seq", ASCENDING)])
        return doc["seq"] if doc else None

    async def newest_seq(self, *, session: Session | None = None) -> int:
        doc = await self.collection.find_one(STAMPED, {"seq": 1}, sort=[("seq", DESCENDING)], session=session)
        return int(doc["seq"]) if doc else 0

    async def recent(self, limit: int) -> list[DomainEvent]:
        cursor = self.collection.find(STAMPED).sort("seq", DESCENDING).limit(limit)
        return [from_doc(doc) async for doc in cursor]

    # The sequencer's side.

    async def unstamped(self, *, limit: int) -> list[DomainEvent]:
        """Events nobody has stamped yet, oldest id first (the degraded mode's order)."""
        cursor = self.collection.find(UNSTAMPED).sort("_id", ASCENDING).limit(limit)
        return [from_doc(doc) async for doc in cursor]

    async def unstamped_among(self, ids: list[str], *, session: Session) -> set[str]:
        cursor = self.collection.find({"_id": {"$in": ids}, **UNSTAMPED}, {"_id": 1}, session=session)
        return {doc["_id"] async for doc in cursor}

    async def stamp(self, assignments: list[tuple[str, int]], *, session: Session) -> int:
        """How many were stamped: an event stamped before matches no update and keeps its seq."""
        if not assignments:
            return 0
        result = await self.collection.bulk_write(
            [UpdateOne({"_id": event_id, **UNSTAMPED}, {"$set": {"seq": seq}}) for event_id, seq in assignments],
            ordered=True,
            session=session,
        )
        return result.matched_count

    @contextlib.asynccontextmanager
    async def inserts(self, resume_after: ResumeToken | None) -> AsyncIterator[InsertFeed]:
        """Committed inserts in commit order, each with the token to resume after it; from now when
        `resume_after` is None. Raises HistoryLost when `resume_after` has fallen off the oplog."""
        try:
            stream = await self.collection.watch(
                [{"$match": {"operationType": "insert"}}], resume_after=resume_after, max_await_time_ms=1_000
            )
        except OperationFailure as exc:
            if exc.code in _HISTORY_LOST_CODES:
                raise HistoryLost(str(exc)) from exc
            raise
        try:
            yield InsertFeed(stream)
        finally:
            await stream.close()


class InsertFeed:
    def __init__(self, stream: Any):
        self._stream = stream
        # Where the stream starts: saving it with a batch of stamps resumes exactly here.
        self.start_token: ResumeToken | None = stream.resume_token

    async def __aiter__(self) -> AsyncIterator[tuple[DomainEvent, ResumeToken]]:
        try:
            async for change in self._stream:
                yield from_doc(change["fullDocument"]), change["_id"]
        except OperationFailure as exc:
            if exc.code in _HISTORY_LOST_CODES:
                raise HistoryLost(str(exc)) from exc
            raise
