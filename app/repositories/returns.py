"""Returns collection: one document per return, its lines, routing, label and carrier scans embedded."""

from __future__ import annotations

from typing import Any

from pymongo import ReturnDocument
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

from app.domain.money import Money
from app.domain.pagination import Page, PageRequest
from app.domain.returns import (
    ClientKeyTaken,
    Disposition,
    Return,
    ReturnFilter,
    ReturnLine,
    ReturnMethod,
    ReturnReason,
    ReturnRouting,
    ReturnRoutingRule,
    ReturnStatus,
    RoutingCandidate,
    ShippingPayer,
)
from app.domain.shipments import Label, TrackingEvent
from app.domain.tracking import MAX_EVENTS_PER_SHIPMENT
from app.repositories.database import Session
from app.repositories.keyset import created_between, newest_first_page, newest_first_pages_by_customer
from app.repositories.mapping import day_from_doc, day_to_doc
from app.repositories.shipments import tracking_to_doc

MAX_RETURNS_PER_ORDER = 200


def _line_to_doc(line: ReturnLine) -> dict[str, Any]:
    return {
        "id": line.id,
        "order_line_id": line.order_line_id,
        "sku": line.sku,
        "name": line.name,
        "quantity": line.quantity,
        "reason": line.reason.value,
        "unit_price_cents": line.unit_price.cents,
        "currency": line.unit_price.currency,
        "note": line.note,
        "received_quantity": line.received_quantity,
        "disposition": line.disposition.value if line.disposition else None,
        "disposition_note": line.disposition_note,
    }


def _line_from_doc(doc: dict[str, Any]) -> ReturnLine:
    return ReturnLine(
        id=doc["id"],
        order_line_id=doc["order_line_id"],
        sku=doc["sku"],
        name=doc.get("name", doc["sku"]),
        quantity=int(doc["quantity"]),
        reason=ReturnReason(doc["reason"]),
        unit_price=Money(int(doc["unit_price_cents"]), doc.get("currency", "USD")),
        note=doc.get("note"),
        received_quantity=doc.get("received_quantity"),
        disposition=Disposition(doc["disposition"]) if doc.get("disposition") else None,
        disposition_note=doc.get("disposition_note"),
    )


def routing_to_doc(routing: ReturnRouting) -> dict[str, Any]:
    """Also the `routing` payload of the ReturnAuthorized event."""
    return {
        "rule": routing.rule.value,
        "location_id": routing.location_id,
        "summary": routing.summary,
        "distance_km": routing.distance_km,
        "candidates": [
            {"location_id": c.location_id, "distance_km": c.distance_km, "outcome": c.outcome} for c in routing.candidates
        ],
    }


def _routing_from_doc(doc: dict[str, Any] | None) -> ReturnRouting | None:
    if not doc:
        return None
    return ReturnRouting(
        rule=ReturnRoutingRule(doc["rule"]),
        location_id=doc["location_id"],
        summary=doc["summary"],
        distance_km=doc.get("distance_km"),
        candidates=tuple(
            RoutingCandidate(c["location_id"], c.get("distance_km"), c["outcome"]) for c in doc.get("candidates", [])
        ),
    )


def _label_to_doc(label: Label) -> dict[str, Any]:
    return {
        "carrier": label.carrier,
        "service": label.service,
        "service_name": label.service_name,
        "cost_cents": label.cost.cents,
        "currency": label.cost.currency,
        "billable_weight_grams": label.billable_weight_grams,
        "zone": label.zone,
        "estimated_delivery": day_to_doc(label.estimated_delivery),
        "purchased_at": label.purchased_at,
    }


def _label_from_doc(doc: dict[str, Any] | None, tracking_number: str | None) -> Label | None:
    if not doc or not tracking_number:
        return None
    estimated = day_from_doc(doc["estimated_delivery"])
    assert estimated is not None
    return Label(
        carrier=doc["carrier"],
        service=doc["service"],
        tracking_number=tracking_number,
        cost=Money(int(doc["cost_cents"]), doc.get("currency", "USD")),
        billable_weight_grams=int(doc["billable_weight_grams"]),
        zone=int(doc["zone"]),
        estimated_delivery=estimated,
        purchased_at=doc["purchased_at"],
        service_name=doc.get("service_name", ""),
    )


def _tracking_from_doc(doc: dict[str, Any]) -> TrackingEvent:
    from app.domain.shipments import TrackingEventKind

    return TrackingEvent(
        id=doc["id"],
        kind=TrackingEventKind(doc["kind"]),
        occurred_at=doc["occurred_at"],
        received_at=doc["received_at"],
        description=doc.get("description"),
        location=doc.get("location"),
        estimated_delivery=day_from_doc(doc.get("estimated_delivery")),
    )


def to_doc(ret: Return) -> dict[str, Any]:
    return {
        "_id": ret.id,
        "number": ret.number,
        "order_id": ret.order_id,
        "customer_id": ret.customer_id,
        "channel_id": ret.channel_id,
        "client_key": ret.client_key,
        "sequence": ret.sequence,
        "method": ret.method.value,
        "status": ret.status.value,
        "location_id": ret.location_id,
        "lines": [_line_to_doc(line) for line in ret.lines],
        # Top level and distinct, so `returns(filter: {reasons})` is one indexed match.
        "reasons": sorted({line.reason.value for line in ret.lines}),
        "routing": routing_to_doc(ret.routing) if ret.routing else None,
        "label": _label_to_doc(ret.label) if ret.label else None,
        "label_paid_by": ret.label_paid_by.value if ret.label_paid_by else None,
        # Top level, so the carrier webhook finds the return by an indexed equality.
        "tracking_number": ret.tracking_number,
        "tracking": [tracking_to_doc(e) for e in ret.tracking],
        "requested_by": ret.requested_by,
        "status_reason": ret.status_reason,
        "received_at": ret.received_at,
        "inspected_at": ret.inspected_at,
        "closed_at": ret.closed_at,
        "refund_id": ret.refund_id,
        "input_hash": ret.input_hash,
        "created_at": ret.created_at,
        "updated_at": ret.updated_at,
        "version": ret.version,
    }


def from_doc(doc: dict[str, Any]) -> Return:
    return Return(
        id=doc["_id"],
        number=doc["number"],
        order_id=doc["order_id"],
        customer_id=doc["customer_id"],
        channel_id=doc["channel_id"],
        client_key=doc["client_key"],
        sequence=int(doc.get("sequence", 1)),
        method=ReturnMethod(doc["method"]),
        status=ReturnStatus(doc["status"]),
        location_id=doc.get("location_id"),
        lines=tuple(_line_from_doc(line) for line in doc.get("lines", [])),
        routing=_routing_from_doc(doc.get("routing")),
        label=_label_from_doc(doc.get("label"), doc.get("tracking_number")),
        label_paid_by=ShippingPayer(doc["label_paid_by"]) if doc.get("label_paid_by") else None,
        tracking=tuple(_tracking_from_doc(e) for e in doc.get("tracking", [])),
        requested_by=doc.get("requested_by"),
        status_reason=doc.get("status_reason"),
        received_at=doc.get("received_at"),
        inspected_at=doc.get("inspected_at"),
        closed_at=doc.get("closed_at"),
        refund_id=doc.get("refund_id"),
        input_hash=doc.get("input_hash"),
        created_at=doc["created_at"],
        updated_at=doc["updated_at"],
        version=int(doc.get("version", 1)),
    )


def filter_query(selection: ReturnFilter) -> dict[str, Any]:
    query: dict[str, Any] = {}
    if selection.statuses:
        query["status"] = {"$in": [s.value for s in selection.statuses]}
    if selection.location_ids:
        query["location_id"] = {"$in": list(selection.location_ids)}
    if selection.channel_ids:
        query["channel_id"] = {"$in": list(selection.channel_ids)}
    if selection.reasons:
        query["reasons"] = {"$in": [r.value for r in selection.reasons]}
    if selection.order_id is not None:
        query["order_id"] = selection.order_id
    if selection.customer_id is not None:
        query["customer_id"] = selection.customer_id
    query.update(created_between(selection.created_from, selection.created_to))
    return query


class ReturnRepository:
    def __init__(self, db: AsyncDatabase):
        self.collection = db["returns"]

    async def by_ids(self, ids: list[str], *, session: Session | None = None) -> list[Return]:
        return [from_doc(doc) async for doc in self.collection.find({"_id": {"$in": ids}}, session=session)]

    async def get(self, return_id: str, *, session: Session | None = None) -> Return | None:
        doc = await self.collection.find_one({"_id": return_id}, session=session)
        return from_doc(doc) if doc else None

    async def by_client_key(self, order_id: str, client_key: str, *, session: Session | None = None) -> Return | None:
        doc = await self.collection.find_one({"order_id": order_id, "client_key": client_key}, session=session)
        return from_doc(doc) if doc else None

    async def by_tracking_number(self, tracking_number: str, *, session: Session | None = None) -> Return | None:
        doc = await self.collection.find_one({"tracking_number": tracking_number}, session=session)
        return from_doc(doc) if doc else None

    async def for_orders(self, order_ids: list[str], *, session: Session | None = None) -> dict[str, list[Return]]:
        """Each order's returns, oldest first (bounded per order)."""
        found: dict[str, list[Return]] = {order_id: [] for order_id in order_ids}
        cursor = self.collection.find({"order_id": {"$in": order_ids}}, session=session).sort([("order_id", 1), ("sequence", 1)])
        async for doc in cursor.limit(MAX_RETURNS_PER_ORDER * max(1, len(order_ids))):
            found[doc["order_id"]].append(from_doc(doc))
        return found

    async def page(self, selection: ReturnFilter, page: PageRequest) -> Page[Return]:
        return await newest_first_page(self.collection, filter_query(selection), page, from_doc)

    async def pages_by_customer(self, customer_ids: list[str], selection: ReturnFilter, page: PageRequest) -> dict[str, Page[Return]]:
        return await newest_first_pages_by_customer(self.collection, filter_query(selection), customer_ids, page, from_doc)

    async def insert(self, ret: Return, *, session: Session) -> None:
        """ClientKeyTaken when (order, client key) or (order, sequence) is taken: the caller re-reads
        and either replays the stored return or re-checks quantities against the new one."""
        try:
            await self.collection.insert_one(to_doc(ret), session=session)
        except DuplicateKeyError as exc:
            if exc.has_error_label("TransientTransactionError"):
                raise  # the transaction helper retries these
            raise ClientKeyTaken(f"{ret.order_id}/{ret.client_key}") from exc

    async def replace(self, ret: Return, *, expected_version: int, session: Session | None) -> bool:
        """Writes `ret` only if the stored one is still at `expected_version`."""
        result = await self.collection.replace_one({"_id": ret.id, "version": expected_version}, to_doc(ret), session=session)
        return result.matched_count == 1

    async def add_tracking_event(self, tracking_number: str, event: TrackingEvent, *, session: Session | None) -> Return | None:
        """Appends unless this carrier event id is already there (or the list is full): None then."""
        doc = await self.collection.find_one_and_update(
            {
                "tracking_number": tracking_number,
                "tracking.id": {"$ne": event.id},
                f"tracking.{MAX_EVENTS_PER_SHIPMENT - 1}": {"$exists": False},
            },
            {"$push": {"tracking": tracking_to_doc(event)}},
            return_document=ReturnDocument.AFTER,
            session=session,
        )
        return from_doc(doc) if doc else None