"""Purchase orders, and the incoming invariant: `inventory.incoming` == open units on open POs.

Stored besides the domain fields: `open_skus` (SKUs with open units while the PO is SUBMITTED or
PARTIALLY_RECEIVED, for incoming-by-PO and promise dates), `crossing_ids` (unique across POs: a
crossing's line exists once) and `draft_key` (while a replenishment draft is open: one per
supplier and location).
"""

from __future__ import annotations

from typing import Any

from pymongo import ASCENDING
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

from app.domain.errors import Conflict
from app.domain.pagination import Page, PageRequest
from app.domain.purchase_orders import (
    OPEN_STATUSES,
    PurchaseOrder,
    PurchaseOrderFilter,
    PurchaseOrderLine,
    PurchaseOrderSource,
    PurchaseOrderStatus,
)
from app.repositories.database import Session
from app.repositories.keyset import newest_first_page

MAX_OPEN_PER_SKU = 100


class DraftTaken(Conflict):
    """Another transaction opened the replenishment draft first: the caller's transaction runs again."""


def draft_key(supplier_code: str, location_id: str) -> str:
    return f"{supplier_code}@{location_id}"


def _line_doc(line: PurchaseOrderLine) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "id": line.id,
        "sku": line.sku,
        "supplier_sku": line.supplier_sku,
        "quantity": line.quantity,
        "unit_cost_cents": line.unit_cost_cents,
        "received": line.received,
        "damaged": line.damaged,
    }
    if line.crossing_id:
        doc["crossing_id"] = line.crossing_id
    return doc


def to_doc(po: PurchaseOrder) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "_id": po.id,
        "number": po.number,
        "supplier_code": po.supplier_code,
        "location_id": po.location_id,
        "status": po.status.value,
        "currency": po.currency,
        "lines": [_line_doc(line) for line in po.lines],
        "source": po.source.value,
        "created_at": po.created_at,
        "updated_at": po.updated_at,
        "submitted_at": po.submitted_at,
        "expected_at": po.expected_at,
        "version": po.version,
        "note": po.note,
    }
    crossings = [line.crossing_id for line in po.lines if line.crossing_id]
    if crossings:
        doc["crossing_ids"] = crossings
    if po.status in OPEN_STATUSES:
        doc["open_skus"] = sorted({line.sku for line in po.lines if line.open_quantity > 0})
    if po.status is PurchaseOrderStatus.DRAFT and po.source is PurchaseOrderSource.REPLENISHMENT:
        doc["draft_key"] = draft_key(po.supplier_code, po.location_id)
    return doc


def from_doc(doc: dict[str, Any]) -> PurchaseOrder:
    return PurchaseOrder(
        id=doc["_id"],
        number=doc["number"],
        supplier_code=doc["supplier_code"],
        location_id=doc["location_id"],
        status=PurchaseOrderStatus(doc["status"]),
        currency=doc["currency"],
        lines=tuple(
            PurchaseOrderLine(
                id=line["id"],
                sku=line["sku"],
                supplier_sku=line["supplier_sku"],
                quantity=int(line["quantity"]),
                unit_cost_cents=int(line["unit_cost_cents"]),
                received=int(line.get("received", 0)),
                damaged=int(line.get("damaged", 0)),
                crossing_id=line.get("crossing_id"),
            )
            for line in doc.get("lines", [])
        ),
        source=PurchaseOrderSource(doc.get("source", "MANUAL")),
        created_at=doc["created_at"],
        updated_at=doc["updated_at"],
        submitted_at=doc.get("submitted_at"),
        expected_at=doc.get("expected_at"),
        version=int(doc.get("version", 1)),
        note=doc.get("note"),
    )


def filter_query(selection: PurchaseOrderFilter) -> dict[str, Any]:
    query: dict[str, Any] = {}
    if selection.statuses:
        query["status"] = {"$in": sorted(s.value for s in selection.statuses)}
    if selection.supplier_codes:
        query["supplier_code"] = {"$in": sorted(selection.supplier_codes)}
    if selection.location_ids:
        query["location_id"] = {"$in": sorted(selection.location_ids)}
    if selection.skus:
        query["lines.sku"] = {"$in": sorted(selection.skus)}
    return query


class PurchaseOrderRepository:
    def __init__(self, db: AsyncDatabase):
        self.collection = db["purchase_orders"]
        self.inventory = db["inventory"]

    async def insert(self, po: PurchaseOrder, *, session: Session) -> None:
        try:
            await self.collection.insert_one(to_doc(po), session=session)
        except DuplicateKeyError as exc:
            if exc.has_error_label("TransientTransactionError"):
                raise
            raise DraftTaken(f"a replenishment draft for {po.supplier_code} at {po.location_id} is open already") from exc

    async def get(self, po_id: str, *, session: Session | None = None) -> PurchaseOrder | None:
        doc = await self.collection.find_one({"_id": po_id}, session=session)
        return from_doc(doc) if doc else None

    async def by_ids(self, ids: list[str]) -> list[PurchaseOrder]:
        return [from_doc(doc) async for doc in self.collection.find({"_id": {"$in": ids}})]

    async def open_draft(self, supplier_code: str, location_id: str, *, session: Session) -> PurchaseOrder | None:
        doc = await self.collection.find_one({"draft_key": draft_key(supplier_code, location_id)}, session=session)
        return from_doc(doc) if doc else None

    async def replace(self, po: PurchaseOrder, *, expected_version: int, session: Session) -> bool:
        """Writes `po` only if the stored one is still at `expected_version`."""
        result = await self.collection.replace_one({"_id": po.id, "version": expected_version}, to_doc(po), session=session)
        return result.matched_count == 1

    async def page(self, selection: PurchaseOrderFilter, page: PageRequest) -> Page[PurchaseOrder]:
        return await newest_first_page(self.collection, filter_query(selection), page, from_doc)

    async def open_for_skus(
        self, skus: list[str], *, location_ids: list[str] | None = None, session: Session | None = None
    ) -> list[PurchaseOrder]:
        """Open POs with open units of these SKUs, earliest expected first (bounded per SKU)."""
        query: dict[str, Any] = {"open_skus": {"$in": skus}}
        if location_ids is not None:
            query["location_id"] = {"$in": location_ids}
        cursor = self.collection.find(query, session=session).sort([("expected_at", ASCENDING), ("_id", ASCENDING)])
        return [from_doc(doc) async for doc in cursor.limit(MAX_OPEN_PER_SKU * max(1, len(skus)))]

    async def figures(self) -> tuple[int, int]:
        """(open POs, units incoming on them) for the dashboard."""
        pipeline: list[dict[str, Any]] = [
            {"$match": {"status": {"$in": sorted(s.value for s in OPEN_STATUSES)}}},
            {"$unwind": "$lines"},
            {
                "$group": {
                    "_id": "$_id",
                    "open": {"$sum": {"$max": [0, {"$subtract": ["$lines.quantity", {"$add": ["$lines.received", "$lines.damaged"]}]}]}},
                }
            },
            {"$group": {"_id": None, "pos": {"$sum": 1}, "units": {"$sum": "$open"}}},
        ]
        async for row in await self.collection.aggregate(pipeline):
            return int(row["pos"]), int(row["units"])
        return 0, 0

    async def incoming_mismatches(self, *, limit: int = 100) -> list[tuple[str, str, int, int]]:
        """(sku, location, incoming, open on POs) wherever they differ: the incoming invariant,
        checked in one aggregation over both collections. Empty when it holds."""
        open_lines: list[dict[str, Any]] = [
            {"$match": {"status": {"$in": sorted(s.value for s in OPEN_STATUSES)}}},
            {"$unwind": "$lines"},
            {
                "$project": {
                    "_id": {"$concat": ["$lines.sku", "@", "$location_id"]},
                    "sku": "$lines.sku",
                    "location_id": "$location_id",
                    "incoming": {"$literal": 0},
                    "open": {"$max": [0, {"$subtract": ["$lines.quantity", {"$add": ["$lines.received", "$lines.damaged"]}]}]},
                }
            },
        ]
        pipeline: list[dict[str, Any]] = [
            {"$match": {"incoming": {"$nin": [0, None]}}},
            {"$project": {"sku": 1, "location_id": 1, "incoming": 1, "open": {"$literal": 0}}},
            {"$unionWith": {"coll": "purchase_orders", "pipeline": open_lines}},
            {
                "$group": {
                    "_id": "$_id",
                    "sku": {"$first": "$sku"},
                    "location_id": {"$first": "$location_id"},
                    "incoming": {"$sum": "$incoming"},
                    "open": {"$sum": "$open"},
                }
            },
            {"$match": {"$expr": {"$ne": ["$incoming", "$open"]}}},
            {"$sort": {"_id": 1}},
            {"$limit": limit},
        ]
        return [
            (row["sku"], row["location_id"], int(row["incoming"]), int(row["open"]))
            async for row in await self.inventory.aggregate(pipeline)
        ]

    async def insert_many(self, pos: list[PurchaseOrder]) -> None:
        if pos:
            await self.collection.insert_many([to_doc(po) for po in pos])


