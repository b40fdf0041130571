"""Outbound webhooks: `webhook_endpoints` (with each endpoint's cursor in the event log) and
`webhook_deliveries` (one per endpoint and event, unique on the pair, so scanning a range twice
cannot send an event twice)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pymongo import ASCENDING, ReturnDocument, UpdateOne
from pymongo.asynchronous.database import AsyncDatabase

from app.domain.events import DomainEvent
from app.domain.ids import new_id
from app.domain.pagination import Page, PageRequest
from app.domain.webhooks import (
    MAX_ATTEMPT_LOG,
    OPEN_STATUSES,
    DeliveryAttempt,
    DeliveryFilter,
    DeliveryStatus,
    EndpointStatus,
    WebhookDelivery,
    WebhookEndpoint,
    aggregate_key,
)
from app.repositories.database import Session
from app.repositories.keyset import newest_first_page

MAX_ENDPOINTS = 1_000


def endpoint_to_doc(endpoint: WebhookEndpoint) -> dict[str, Any]:
    return {
        "_id": endpoint.id,
        "url": endpoint.url,
        "event_types": sorted(endpoint.event_types),
        "description": endpoint.description,
        "status": endpoint.status.value,
        "secret": endpoint.secret,
        "cursor": endpoint.cursor,
        "created_at": endpoint.created_at,
        "updated_at": endpoint.updated_at,
        "created_by": endpoint.created_by,
        "version": endpoint.version,
    }


def endpoint_from_doc(doc: dict[str, Any]) -> WebhookEndpoint:
    return WebhookEndpoint(
        id=doc["_id"],
        url=doc["url"],
        event_types=frozenset(doc.get("event_types") or ()),
        description=doc.get("description"),
        status=EndpointStatus(doc["status"]),
        secret=doc["secret"],
        cursor=int(doc.get("cursor", 0)),
        created_at=doc["created_at"],
        updated_at=doc["updated_at"],
        created_by=doc.get("created_by", "unknown"),
        version=int(doc.get("version", 1)),
    )


def delivery_from_doc(doc: dict[str, Any]) -> WebhookDelivery:
    return WebhookDelivery(
        id=doc["_id"],
        endpoint_id=doc["endpoint_id"],
        event_id=doc["event_id"],
        event_type=doc["event_type"],
        seq=int(doc["seq"]),
        aggregate_type=doc["aggregate_type"],
        aggregate_id=doc["aggregate_id"],
        status=DeliveryStatus(doc["status"]),
        attempts=int(doc.get("attempts", 0)),
        next_attempt_at=doc["next_attempt_at"],
        created_at=doc["created_at"],
        updated_at=doc["updated_at"],
        delivered_at=doc.get("delivered_at"),
        response_code=doc.get("response_code"),
        latency_ms=doc.get("latency_ms"),
        last_error=doc.get("last_error"),
        log=tuple(
            DeliveryAttempt(at=a["at"], response_code=a.get("response_code"), latency_ms=int(a.get("latency_ms", 0)), error=a.get("error"))
            for a in doc.get("log") or ()
        ),
    )


class WebhookEndpointRepository:
    def __init__(self, db: AsyncDatabase):
        self.collection = db["webhook_endpoints"]

    async def insert(self, endpoint: WebhookEndpoint, *, session: Session) -> None:
        await self.collection.insert_one(endpoint_to_doc(endpoint), session=session)

    async def get(self, endpoint_id: str, *, session: Session | None = None) -> WebhookEndpoint | None:
        doc = await self.collection.find_one({"_id": endpoint_id}, session=session)
        return endpoint_from_doc(doc) if doc else None

    async def page(self, page: PageRequest) -> Page[WebhookEndpoint]:
        return await newest_first_page(self.collection, {}, page, endpoint_from_doc)

    async def active(self) -> list[WebhookEndpoint]:
        cursor = self.collection.find({"status": EndpointStatus.ACTIVE.value}).sort("_id", ASCENDING).limit(MAX_ENDPOINTS)
        return [endpoint_from_doc(doc) async for doc in cursor]

    async def replace(self, endpoint: WebhookEndpoint, *, expected_version: int, session: Session) -> bool:
        """Writes everything but the cursor (the delivery worker owns it), if still at `expected_version`."""
        doc = endpoint_to_doc(endpoint)
        del doc["cursor"], doc["_id"]
        result = await self.collection.update_one(
            {"_id": endpoint.id, "version": expected_version}, {"$set": doc}, session=session
        )
        return result.matched_count == 1

    async def delete(self, endpoint_id: str, *, session: Session) -> bool:
        return (await self.collection.delete_one({"_id": endpoint_id}, session=session)).deleted_count == 1

    async def advance_cursor(self, endpoint_id: str, *, from_seq: int, to_seq: int, session: Session) -> bool:
        """Moves the cursor only from where the caller read it: a second worker (a deposed leader)
        that scanned the same range fails here and its transaction, deliveries included, aborts."""
        result = await self.collection.update_one(
            {"_id": endpoint_id, "cursor": from_seq}, {"$set": {"cursor": to_seq}}, session=session
        )
        return result.matched_count == 1


class WebhookDeliveryRepository:
    def __init__(self, db: AsyncDatabase):
        self.collection = db["webhook_deliveries"]

    async def enqueue(self, endpoint_id: str, events: list[DomainEvent], *, at: datetime, session: Session) -> None:
        """One delivery per event, unless the pair exists already."""
        if not events:
            return
        await self.collection.bulk_write(
            [
                UpdateOne(
                    {"endpoint_id": endpoint_id, "event_id": event.id},
                    {"$setOnInsert": _new_delivery(endpoint_id, event, at)},
                    upsert=True,
                )
                for event in events
            ],
            ordered=True,
            session=session,
        )

    async def requeue(self, endpoint_id: str, events: list[DomainEvent], *, at: datetime, session: Session) -> int:
        """Replay: every one of `events` is sent again (its delivery reset to PENDING, or made)."""
        if not events:
            return 0
        operations = []
        for event in events:
            fresh = _new_delivery(endpoint_id, event, at)
            reset = {key: fresh.pop(key) for key in ("status", "attempts", "next_attempt_at", "updated_at")}
            operations.append(
                UpdateOne({"endpoint_id": endpoint_id, "event_id": event.id}, {"$set": reset, "$setOnInsert": fresh}, upsert=True)
            )
        await self.collection.bulk_write(operations, ordered=True, session=session)
        return len(operations)

    async def requeue_one(self, delivery_id: str, *, at: datetime, session: Session) -> WebhookDelivery | None:
        doc = await self.collection.find_one_and_update(
            {"_id": delivery_id},
            {"$set": {"status": DeliveryStatus.PENDING.value, "attempts": 0, "next_attempt_at": at, "updated_at": at}},
            return_document=ReturnDocument.AFTER,
            session=session,
        )
        return delivery_from_doc(doc) if doc else None

    async def get(self, delivery_id: str) -> WebhookDelivery | None:
        doc = await self.collection.find_one({"_id": delivery_id})
        return delivery_from_doc(doc) if doc else None

    async def open_in_order(self, endpoint_id: str, *, limit: int) -> list[WebhookDelivery]:
        """The endpoint's oldest open deliveries, in seq order (the worker picks heads among them)."""
        cursor = (
            self.collection.find({"endpoint_id": endpoint_id, "status": {"$in": [s.value for s in OPEN_STATUSES]}})
            .sort("seq", ASCENDING)
            .limit(limit)
        )
        return [delivery_from_doc(doc) async for doc in cursor]

    async def record_attempt(
        self,
        delivery: WebhookDelivery,
        attempt: DeliveryAttempt,
        *,
        status: DeliveryStatus,
        next_attempt_at: datetime,
    ) -> bool:
        """Guarded on the attempt count read before sending: a replay in between wins."""
        fields: dict[str, Any] = {
            "status": status.value,
            "attempts": delivery.attempts + 1,
            "next_attempt_at": next_attempt_at,
            "updated_at": attempt.at,
            "response_code": attempt.response_code,
            "latency_ms": attempt.latency_ms,
            "last_error": attempt.error,
        }
        if status is DeliveryStatus.DELIVERED:
            fields["delivered_at"] = attempt.at
        entry = {"at": attempt.at, "response_code": attempt.response_code, "latency_ms": attempt.latency_ms, "error": attempt.error}
        result = await self.collection.update_one(
            {"_id": delivery.id, "attempts": delivery.attempts, "status": {"$in": [s.value for s in OPEN_STATUSES]}},
            {"$set": fields, "$push": {"log": {"$each": [entry], "$slice": -MAX_ATTEMPT_LOG}}},
        )
        return result.matched_count == 1

    async def page(self, selection: DeliveryFilter, page: PageRequest) -> Page[WebhookDelivery]:
        query: dict[str, Any] = {}
        if selection.endpoint_id is not None:
            query["endpoint_id"] = selection.endpoint_id
        if selection.statuses:
            query["status"] = {"$in": [s.value for s in selection.statuses]}
        if selection.event_types:
            query["event_type"] = {"$in": list(selection.event_types)}
        if selection.aggregate_id is not None:
            query["aggregate_id"] = selection.aggregate_id
        return await newest_first_page(self.collection, query, page, delivery_from_doc)

    async def delete_for_endpoint(self, endpoint_id: str, *, session: Session) -> int:
        return (await self.collection.delete_many({"endpoint_id": endpoint_id}, session=session)).deleted_count


def _new_delivery(endpoint_id: str, event: DomainEvent, at: datetime) -> dict[str, Any]:
    return {
        "_id": new_id(),
        "endpoint_id": endpoint_id,
        "event_id": event.id,
        "event_type": event.type,
        "seq": event.seq,
        "aggregate_type": event.aggregate_type,
        "aggregate_id": event.aggregate_id,
        "aggregate": aggregate_key(event),
        "status": DeliveryStatus.PENDING.value,
        "attempts": 0,
        "next_attempt_at": at,
        "created_at": at,
        "updated_at": at,
    }
