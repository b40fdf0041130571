"""Orders collection. Allocations live inside the order, so one document holds an order's truth."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pymongo import ReplaceOne, ReturnDocument
from pymongo.errors import DuplicateKeyError
from pymongo.asynchronous.database import AsyncDatabase

from app.domain.geo import GeoPoint
from app.domain.geocoding import PointSource
from app.domain.money import DEFAULT_CURRENCY, Money
from app.domain.orders import (
    BACKORDER_FILLABLE,
    Allocation,
    AllocationStatus,
    Delivery,
    DeliveryMethod,
    ExternalIdTaken,
    Hold,
    Order,
    OrderFilter,
    OrderLine,
    OrderStatus,
    OrderTotals,
)
from app.domain.pagination import Page, PageRequest
from app.domain.payments import Payment, PaymentMethod, RefundTally
from app.repositories.database import Session
from app.repositories.keyset import created_between, newest_first_page, newest_first_pages_by_customer
from app.repositories.mapping import (
    address_from_doc,
    address_to_doc,
    day_from_doc,
    day_to_doc,
    point_from_doc,
    point_to_doc,
)


def to_doc(order: Order) -> dict[str, Any]:
    currency = order.totals.subtotal.currency
    delivery = order.delivery
    doc: dict[str, Any] = {
        "_id": order.id,
        "channel_id": order.channel_id,
        "external_id": order.external_id,
        "customer_id": order.customer_id,
        "status": order.status.value,
        "currency": currency,
        "lines": [
            {
                "id": line.id,
                "sku": line.sku,
                "name": line.name,
                "quantity": line.quantity,
                "unit_price_cents": line.unit_price.cents,
                "cancelled_quantity": line.cancelled_quantity,
            }
            for line in order.lines
        ],
        "delivery": {
            "method": delivery.method.value,
            "address": address_to_doc(delivery.address) if delivery.address else None,
            "point": point_to_doc(delivery.point) if delivery.point else None,
            "pickup_location_id": delivery.pickup_location_id,
            "requested_date": day_to_doc(delivery.requested_date),
            "point_source": delivery.point_source.value if delivery.point_source else None,
        },
        "totals": {
            "subtotal_cents": order.totals.subtotal.cents,
            "shipping_cents": order.totals.shipping.cents,
            "tax_cents": order.totals.tax.cents,
            "total_cents": order.totals.total.cents,
            "currency": currency,
        },
        "allocations": [allocation_to_doc(a) for a in order.allocations],
        "location_ids": sorted(order.location_ids),
        "hold": (
            {
                "reason": order.hold.reason,
                "placed_by": order.hold.placed_by,
                "placed_at": order.hold.placed_at,
                "previous_status": order.hold.previous_status.value,
            }
            if order.hold
            else None
        ),
        "notes": order.notes,
        "release_at": order.release_at,
        "routing": order.routing,
        "created_at": order.created_at,
        "updated_at": order.updated_at,
        "version": order.version,
        "input_hash": order.input_hash,
        "payments": [payment_to_doc(p) for p in order.payments],
        "refund_tally": tally_to_doc(order.refund_tally),
    }
    if order.exchange_for_return_id:
        doc["exchange_for_return_id"] = order.exchange_for_return_id
    backordered = sorted(order.backordered_skus) if order.status in BACKORDER_FILLABLE else []
    if backordered:
        # Present only while something waits for stock: the partial index stays small.
        doc["backordered_skus"] = backordered
    return doc


def allocation_to_doc(allocation: Allocation) -> dict[str, Any]:
    return {
        "id": allocation.id,
        "line_id": allocation.line_id,
        "sku": allocation.sku,
        "location_id": allocation.location_id,
        "quantity": allocation.quantity,
        "status": allocation.status.value,
    }


def from_doc(doc: dict[str, Any]) -> Order:
    currency = doc.get("currency", DEFAULT_CURRENCY)
    totals = doc.get("totals") or {}
    delivery = doc.get("delivery") or {}
    hold = doc.get("hold")
    requested = delivery.get("requested_date")
    point = point_from_doc(delivery.get("point"))
    method = DeliveryMethod(delivery.get("method", DeliveryMethod.SHIP))
    return Order(
        id=doc["_id"],
        channel_id=doc["channel_id"],
        external_id=doc["external_id"],
        customer_id=doc["customer_id"],
        status=OrderStatus(doc["status"]),
        lines=tuple(
            OrderLine(
                id=line["id"],
                sku=line["sku"],
                name=line.get("name", line["sku"]),
                quantity=int(line["quantity"]),
                unit_price=Money(int(line["unit_price_cents"]), currency),
                cancelled_quantity=int(line.get("cancelled_quantity", 0)),
            )
            for line in doc.get("lines", [])
        ),
        delivery=Delivery(
            method=method,
            address=address_from_doc(delivery.get("address")),
            point=GeoPoint(point.lat, point.lng) if point else None,
            pickup_location_id=delivery.get("pickup_location_id"),
            requested_date=day_from_doc(requested),
            point_source=_point_source(delivery.get("point_source"), method, point is not None),
        ),
        totals=OrderTotals(
            subtotal=Money(int(totals.get("subtotal_cents", 0)), currency),
            shipping=Money(int(totals.get("shipping_cents", 0)), currency),
            tax=Money(int(totals.get("tax_cents", 0)), currency),
        ),
        created_at=doc["created_at"],
        updated_at=doc.get("updated_at", doc["created_at"]),
        notes=doc.get("notes"),
        allocations=tuple(
            Allocation(
                id=a["id"],
                line_id=a["line_id"],
                sku=a["sku"],
                location_id=a["location_id"],
                quantity=int(a["quantity"]),
                status=AllocationStatus(a.get("status", AllocationStatus.OPEN)),
            )
            for a in doc.get("allocations", [])
        ),
        hold=(
            Hold(
                reason=hold["reason"],
                placed_by=hold["placed_by"],
                placed_at=hold["placed_at"],
                previous_status=OrderStatus(hold["previous_status"]),
            )
            if hold
            else None
        ),
        release_at=doc.get("release_at"),
        version=int(doc.get("version", 1)),
        routing=doc.get("routing"),
        input_hash=doc.get("input_hash"),
        payments=tuple(payment_from_doc(p, currency) for p in doc.get("payments") or ()),
        refund_tally=tally_from_doc(doc.get("refund_tally")),
        exchange_for_return_id=doc.get("exchange_for_return_id"),
    )


def payment_to_doc(payment: Payment) -> dict[str, Any]:
    return {
        "provider": payment.provider,
        "method": payment.method.value,
        "reference": payment.reference,
        "amount_cents": payment.amount.cents,
    }


def payment_from_doc(doc: dict[str, Any], currency: str) -> Payment:
    return Payment(
        provider=doc["provider"],
        method=PaymentMethod(doc["method"]),
        reference=doc["reference"],
        amount=Money(int(doc["amount_cents"]), currency),
    )


def tally_to_doc(tally: RefundTally) -> dict[str, Any]:
    """Line and payment keys are strings (BSON keys); `refunded_cents` is stored for lifetime figures."""
    return {
        "total_cents": tally.total_cents,
        "credit_cents": tally.credit_cents,
        "refunded_cents": tally.refunded_cents,
        "shipping_cents": tally.shipping_cents,
        "lines": {line_id: cents for line_id, cents in tally.lines},
        "payments": {str(index): cents for index, cents in tally.payments},
        "count": tally.count,
    }


def tally_from_doc(doc: dict[str, Any] | None) -> RefundTally:
    if not doc:
        return RefundTally()
    return RefundTally(
        total_cents=int(doc.get("total_cents", 0)),
        credit_cents=int(doc.get("credit_cents", 0)),
        shipping_cents=int(doc.get("shipping_cents", 0)),
        lines=tuple(sorted(((k, int(v)) for k, v in (doc.get("lines") or {}).items()), key=lambda kv: (len(kv[0]), kv[0]))),
        payments=tuple(sorted((int(k), int(v)) for k, v in (doc.get("payments") or {}).items())),
        count=int(doc.get("count", 0)),
    )


def filter_query(selection: OrderFilter) -> dict[str, Any]:
    query: dict[str, Any] = {}
    if selection.statuses:
        query["status"] = {"$in": [s.value for s in selection.statuses]}
    if selection.channel_ids:
        query["channel_id"] = {"$in": list(selection.channel_ids)}
    if selection.customer_id is not None:
        query["customer_id"] = selection.customer_id
    if selection.location_ids:
        query["location_ids"] = {"$in": list(selection.location_ids)}
    query.update(created_between(selection.created_from, selection.created_to))
    return query


# The routing explanation (every candidate location, its scores and the decisions) is most of a
# routed order's document: ~5 KB of ~7 in its compact shape (app/domain/routing/stored.py; ~15 KB of
# ~17 before). A page that does not show it leaves it in the database,
# which cut decoding a page of 100 from ~40 ms of CPU to ~4 (docs/ARCHITECTURE.md, "One request").
_ROUTING = ("routing",)


class OrderRepository:
    def __init__(self, db: AsyncDatabase):
        self.collection = db["orders"]

    async def by_ids(self, ids: list[str], *, session: Session | None = None) -> list[Order]:
        return [from_doc(doc) async for doc in self.collection.find({"_id": {"$in": ids}}, session=session)]

    async def by_external_id(self, channel_id: str, external_id: str, *, session: Session | None = None) -> Order | None:
        doc = await self.collection.find_one({"channel_id": channel_id, "external_id": external_id}, session=session)
        return from_doc(doc) if doc else None

    async def page(self, selection: OrderFilter, page: PageRequest, *, with_routing: bool = True) -> Page[Order]:
        return await newest_first_page(
            self.collection, filter_query(selection), page, from_doc, leave_out=() if with_routing else _ROUTING
        )

    async def pages_by_customer(
        self, customer_ids: list[str], selection: OrderFilter, page: PageRequest, *, with_routing: bool = True
    ) -> dict[str, Page[Order]]:
        return await newest_first_pages_by_customer(
            self.collection, filter_query(selection), customer_ids, page, from_doc, leave_out=() if with_routing else _ROUTING
        )

    async def upsert_many(self, orders: list[Order]) -> None:
        if orders:
            await self.collection.bulk_write(
                [ReplaceOne({"_id": o.id}, to_doc(o), upsert=True) for o in orders], ordered=False
            )

    async def insert_many(self, orders: list[Order], *, session: Session | None = None) -> None:
        if orders:
            await self.collection.insert_many([to_doc(o) for o in orders], ordered=False, session=session)

    async def by_id(self, order_id: str, *, session: Session | None = None) -> Order | None:
        doc = await self.collection.find_one({"_id": order_id}, session=session)
        return from_doc(doc) if doc else None

    async def insert(self, order: Order, *, session: Session) -> None:
        """ExternalIdTaken when (channel, external id) exists: the unique index is the idempotency guard."""
        try:
            await self.collection.insert_one(to_doc(order), session=session)
        except DuplicateKeyError as exc:
            if exc.has_error_label("TransientTransactionError"):
                raise  # the transaction helper retries these
            raise ExternalIdTaken(f"{order.channel_id}/{order.external_id}") from exc

    async def count_for_customer(self, customer_id: str, *, limit: int, session: Session | None = None) -> int:
        """How many orders a customer has, counting no further than `limit` (index `customer_created`)."""
        return await self.collection.count_documents({"customer_id": customer_id}, limit=limit, session=session)

    async def reassign_customer(self, from_id: str, to_id: str, *, session: Session) -> int:
        """Moves every order of one customer to another (a customer merge): one update_many on the
        `customer_created` index, bounded by one customer's history. The version moves on, so a
        writer holding an older copy of one of these orders fails its guard instead of writing the
        old customer back."""
        result = await self.collection.update_many(
            {"customer_id": from_id}, {"$set": {"customer_id": to_id}, "$inc": {"version": 1}}, session=session
        )
        return result.modified_count

    async def replace(self, order: Order, *, expected_version: int, session: Session) -> bool:
        """Writes `order` only if the stored one is still at `expected_version`."""
        result = await self.collection.replace_one(
            {"_id": order.id, "version": expected_version}, to_doc(order), session=session
        )
        return result.matched_count == 1

    async def waiting_for(self, sku: str, *, limit: int, session: Session | None = None) -> list[Order]:
        """Orders with backordered quantity of `sku`, oldest first."""
        cursor = (
            self.collection.find({"backordered_skus": sku}, session=session)
            .sort([("created_at", 1), ("_id", 1)])
            .limit(limit)
        )
        return [from_doc(doc) async for doc in cursor]

    async def skus_waiting(self, skus: list[str], *, session: Session | None = None) -> set[str]:
        """Which of these SKUs some order is waiting for: one query for a batch of stock changes,
        instead of one `waiting_for` per SKU (a bulk import grows thousands of levels)."""
        rows = await self.collection.aggregate(
            [
                {"$match": {"backordered_skus": {"$in": skus}}},
                {"$project": {"_id": 0, "backordered_skus": 1}},
                {"$unwind": "$backordered_skus"},
                {"$match": {"backordered_skus": {"$in": skus}}},
                {"$group": {"_id": "$backordered_skus"}},
                {"$limit": len(skus)},
            ],
            session=session,
        )
        return {row["_id"] async for row in rows}

    async def index_backorders_in_fulfilment(self) -> int:
        """Orders stored IN_FULFILLMENT or PARTIALLY_SHIPPED while part of them waited for stock got no
        `backordered_skus` before those statuses could be filled, so nothing ever found them; this
        gives them the field (start-up; a no-op once done)."""
        query = {
            "status": {"$in": [OrderStatus.IN_FULFILLMENT.value, OrderStatus.PARTIALLY_SHIPPED.value]},
            "backordered_skus": {"$exists": False},
        }
        indexed = 0
        async for doc in self.collection.find(query):
            waiting = sorted(from_doc(doc).backordered_skus)
            if waiting:
                # Guarded by version: an order written meanwhile has the field from its writer already.
                await self.collection.update_one(
                    {"_id": doc["_id"], "version": doc["version"]}, {"$set": {"backordered_skus": waiting}}
                )
                indexed += 1
        return indexed

    async def backordered_skus(self, *, limit: int) -> list[str]:
        """SKUs that some order is waiting for (for the periodic backorder sweep)."""
        rows = await self.collection.aggregate(
            [
                {"$match": {"backordered_skus": {"$exists": True}}},
                {"$unwind": "$backordered_skus"},
                {"$group": {"_id": "$backordered_skus"}},
                {"$sort": {"_id": 1}},
                {"$limit": limit},
            ]
        )
        return [row["_id"] async for row in rows]

    async def claim_due(self, now: datetime, lease_until: datetime, owner: str) -> Order | None:
        """Leases one scheduled order whose release time has come, so one instance works on it at a time.

        The lease only saves duplicate work; the release itself is guarded by status and version.
        """
        doc = await self.collection.find_one_and_update(
            {
                "status": OrderStatus.SCHEDULED.value,
                "release_at": {"$lte": now},
                "$or": [{"lease.until": {"$exists": False}}, {"lease.until": {"$lte": now}}],
            },
            {"$set": {"lease": {"owner": owner, "until": lease_until}}},
            sort=[("release_at", 1)],
            return_document=ReturnDocument.AFTER,
        )
        return from_doc(doc) if doc else None


def _point_source(stored: str | None, method: DeliveryMethod, has_point: bool) -> PointSource | None:
    """Orders stored before geocoding existed had a SHIP point only because the channel sent one."""
    if stored:
        return PointSource(stored)
    return PointSource.GIVEN if method is DeliveryMethod.SHIP and has_point else None
