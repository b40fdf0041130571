"""Shipments collection: one document per shipment, tracking events embedded (bounded)."""

from __future__ import annotations

from typing import Any

from pymongo import ReplaceOne, ReturnDocument
from pymongo.asynchronous.database import AsyncDatabase

from app.domain.money import Money
from app.domain.pagination import Page, PageRequest
from app.domain.products import HandlingFlag
from app.domain.shipments import (
    FulfilmentMethod,
    Label,
    Package,
    Shipment,
    ShipmentFilter,
    ShipmentLine,
    ShipmentStatus,
    TrackingEvent,
    TrackingEventKind,
)
from app.domain.tracking import MAX_EVENTS_PER_SHIPMENT
from app.repositories.database import Session
from app.repositories.keyset import newest_first_page
from app.repositories.mapping import (
    address_from_doc,
    address_to_doc,
    day_from_doc,
    day_to_doc,
    point_from_doc,
    point_to_doc,
)

MAX_SHIPMENTS_PER_ORDER = 200


def tracking_to_doc(event: TrackingEvent) -> dict[str, Any]:
    return {
        "id": event.id,
        "kind": event.kind.value,
        "occurred_at": event.occurred_at,
        "received_at": event.received_at,
        "description": event.description,
        "location": event.location,
        "estimated_delivery": day_to_doc(event.estimated_delivery),
    }


def to_doc(shipment: Shipment) -> dict[str, Any]:
    label = shipment.label
    return {
        "_id": shipment.id,
        "number": shipment.number,
        "order_id": shipment.order_id,
        "customer_id": shipment.customer_id,
        "channel_id": shipment.channel_id,
        "location_id": shipment.location_id,
        "method": shipment.method.value,
        "status": shipment.status.value,
        "held": shipment.held,
        "lines": [
            {
                "allocation_id": line.allocation_id,
                "line_id": line.line_id,
                "sku": line.sku,
                "name": line.name,
                "quantity": line.quantity,
                "picked_quantity": line.picked_quantity,
                "handling": sorted(flag.value for flag in line.handling),
            }
            for line in shipment.lines
        ],
        "destination": address_to_doc(shipment.destination) if shipment.destination else None,
        "destination_point": point_to_doc(shipment.destination_point) if shipment.destination_point else None,
        "packages": [
            {"number": p.number, "weight_grams": p.weight_grams, "length_cm": p.length_cm, "width_cm": p.width_cm, "height_cm": p.height_cm}
            for p in shipment.packages
        ],
        "label": (
            {
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
            if label
            else None
        ),
        # Top level, so the webhook finds the shipment by an indexed equality.
        "tracking_number": label.tracking_number if label else None,
        "tracking": [tracking_to_doc(e) for e in shipment.tracking],
        "promised_date": day_to_doc(shipment.promised_date),
        "eta": day_to_doc(shipment.eta),
        "shipping_policy": shipment.shipping_policy,
        "status_at": shipment.status_at,
        "milestones": dict(shipment.extra),
        "created_at": shipment.created_at,
        "updated_at": shipment.updated_at,
        "version": shipment.version,
    }


def from_doc(doc: dict[str, Any]) -> Shipment:
    label = doc.get("label")
    point = point_from_doc(doc.get("destination_point"))
    return Shipment(
        id=doc["_id"],
        number=doc["number"],
        order_id=doc["order_id"],
        customer_id=doc["customer_id"],
        channel_id=doc["channel_id"],
        location_id=doc["location_id"],
        method=FulfilmentMethod(doc["method"]),
        status=ShipmentStatus(doc["status"]),
        held=bool(doc.get("held", False)),
        lines=tuple(
            ShipmentLine(
                allocation_id=line["allocation_id"],
                line_id=line["line_id"],
                sku=line["sku"],
                name=line.get("name", line["sku"]),
                quantity=int(line["quantity"]),
                picked_quantity=line.get("picked_quantity"),
                handling=frozenset(HandlingFlag(f) for f in line.get("handling", [])),
            )
            for line in doc.get("lines", [])
        ),
        destination=address_from_doc(doc.get("destination")),
        destination_point=point,
        packages=tuple(
            Package(p["number"], int(p["weight_grams"]), float(p["length_cm"]), float(p["width_cm"]), float(p["height_cm"]))
            for p in doc.get("packages", [])
        ),
        label=(
            Label(
                carrier=label["carrier"],
                service=label["service"],
                tracking_number=doc["tracking_number"],
                cost=Money(int(label["cost_cents"]), label.get("currency", "USD")),
                billable_weight_grams=int(label["billable_weight_grams"]),
                zone=int(label["zone"]),
                estimated_delivery=label["estimated_delivery"].date(),
                purchased_at=label["purchased_at"],
                service_name=label.get("service_name", ""),
            )
            if label
            else None
        ),
        tracking=tuple(
            TrackingEvent(
                id=e["id"],
                kind=TrackingEventKind(e["kind"]),
                occurred_at=e["occurred_at"],
                received_at=e["received_at"],
                description=e.get("description"),
                location=e.get("location"),
                estimated_delivery=day_from_doc(e.get("estimated_delivery")),
            )
            for e in doc.get("tracking", [])
        ),
        promised_date=day_from_doc(doc.get("promised_date")),
        eta=day_from_doc(doc.get("eta")),
        shipping_policy=doc.get("shipping_policy"),
        status_at=doc.get("status_at"),
        extra=dict(doc.get("milestones") or {}),
        created_at=doc["created_at"],
        updated_at=doc["updated_at"],
        version=int(doc.get("version", 1)),
    )


def filter_query(selection: ShipmentFilter) -> dict[str, Any]:
    query: dict[str, Any] = {}
    if selection.statuses:
        query["status"] = {"$in": [s.value for s in selection.statuses]}
    if selection.location_ids:
        query["location_id"] = {"$in": list(selection.location_ids)}
    if selection.order_id is not None:
        query["order_id"] = selection.order_id
    if selection.customer_id is not None:
        query["customer_id"] = selection.customer_id
    if selection.channel_ids:
        query["channel_id"] = {"$in": list(selection.channel_ids)}
    if selection.tracking_number is not None:
        query["tracking_number"] = selection.tracking_number
    return query


class ShipmentRepository:
    def __init__(self, db: AsyncDatabase):
        self.collection = db["shipments"]

    async def by_ids(self, ids: list[str], *, session: Session | None = None) -> list[Shipment]:
        return [from_doc(doc) async for doc in self.collection.find({"_id": {"$in": ids}}, session=session)]

    async def get(self, shipment_id: str, *, session: Session | None = None) -> Shipment | None:
        doc = await self.collection.find_one({"_id": shipment_id}, session=session)
        return from_doc(doc) if doc else None

    async def for_orders(self, order_ids: list[str], *, session: Session | None = None) -> dict[str, list[Shipment]]:
        found: dict[str, list[Shipment]] = {order_id: [] for order_id in order_ids}
        cursor = self.collection.find({"order_id": {"$in": order_ids}}, session=session).sort([("order_id", 1), ("created_at", 1), ("_id", 1)])
        async for doc in cursor.limit(MAX_SHIPMENTS_PER_ORDER * max(1, len(order_ids))):
            found[doc["order_id"]].append(from_doc(doc))
        return found

    async def by_tracking_number(self, tracking_number: str, *, session: Session | None = None) -> Shipment | None:
        doc = await self.collection.find_one({"tracking_number": tracking_number}, session=session)
        return from_doc(doc) if doc else None

    async def pickable(self, location_id: str, limit: int, *, ids: list[str] | None = None) -> list[Shipment]:
        """Released shipments waiting for or on a pick, most urgent promise first."""
        query: dict[str, Any] = {
            "location_id": location_id,
            "status": {"$in": [ShipmentStatus.PENDING.value, ShipmentStatus.PICKING.value]},
            "held": False,
        }
        if ids is not None:
            query["_id"] = {"$in": ids}
        cursor = self.collection.find(query).sort([("promised_date", 1), ("created_at", 1), ("_id", 1)]).limit(limit)
        return [from_doc(doc) async for doc in cursor]

    async def page(self, selection: ShipmentFilter, page: PageRequest) -> Page[Shipment]:
        return await newest_first_page(self.collection, filter_query(selection), page, from_doc)

    async def insert_many(self, shipments: list[Shipment], *, session: Session | None) -> None:
        if shipments:
            await self.collection.insert_many([to_doc(s) for s in shipments], ordered=True, session=session)

    async def upsert_many(self, shipments: list[Shipment]) -> None:
        """Bulk writes by id (demo data: seeding twice leaves the same shipments)."""
        if shipments:
            await self.collection.bulk_write([ReplaceOne({"_id": s.id}, to_doc(s), upsert=True) for s in shipments], ordered=False)

    async def reassign_customer(self, from_id: str, to_id: str, *, session: Session) -> int:
        """Moves every shipment of one customer to another (a customer merge), versions bumped as
        for orders; index `customer_created`."""
        result = await self.collection.update_many(
            {"customer_id": from_id}, {"$set": {"customer_id": to_id}, "$inc": {"version": 1}}, session=session
        )
        return result.modified_count

    async def replace(self, shipment: Shipment, *, expected_version: int, session: Session | None) -> bool:
        """Guarded on the version read: False when someone else changed it first."""
        result = await self.collection.replace_one(
            {"_id": shipment.id, "version": expected_version}, to_doc(shipment), session=session
        )
        return result.modified_count == 1

    async def add_tracking_event(self, tracking_number: str, event: TrackingEvent, *, session: Session | None) -> Shipment | None:
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
