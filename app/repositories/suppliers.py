"""Suppliers (`_id` = code) and their catalogue (`supplier_items`, `_id` = "<supplier>|<sku>")."""

from __future__ import annotations

from typing import Any

from pymongo import ASCENDING, ReplaceOne
from pymongo.asynchronous.database import AsyncDatabase

from app.domain.suppliers import Supplier, SupplierItem
from app.repositories.database import Session

MAX_SUPPLIERS = 1_000
MAX_ITEMS_PER_SKU = 100


def supplier_to_doc(supplier: Supplier) -> dict[str, Any]:
    return {
        "_id": supplier.code,
        "name": supplier.name,
        "contact_email": supplier.contact_email,
        "contact_phone": supplier.contact_phone,
        "lead_time_days": supplier.lead_time_days,
        "order_cutoff": supplier.order_cutoff,
        "min_order_value_cents": supplier.min_order_value_cents,
        "currency": supplier.currency,
        "version": supplier.version,
        "updated_at": supplier.updated_at,
    }


def supplier_from_doc(doc: dict[str, Any]) -> Supplier:
    return Supplier(
        code=doc["_id"],
        name=doc["name"],
        contact_email=doc.get("contact_email"),
        contact_phone=doc.get("contact_phone"),
        lead_time_days=int(doc["lead_time_days"]),
        order_cutoff=doc.get("order_cutoff", "23:59"),
        min_order_value_cents=int(doc.get("min_order_value_cents", 0)),
        currency=doc.get("currency", "USD"),
        version=int(doc.get("version", 1)),
        updated_at=doc.get("updated_at"),
    )


def item_id(supplier_code: str, sku: str) -> str:
    return f"{supplier_code}|{sku}"


def item_to_doc(item: SupplierItem) -> dict[str, Any]:
    return {
        "_id": item_id(item.supplier_code, item.sku),
        "supplier_code": item.supplier_code,
        "sku": item.sku,
        "supplier_sku": item.supplier_sku,
        "unit_cost_cents": item.unit_cost_cents,
        "pack_size": item.pack_size,
        "min_order_quantity": item.min_order_quantity,
        "preferred": item.preferred,
    }


def item_from_doc(doc: dict[str, Any]) -> SupplierItem:
    return SupplierItem(
        supplier_code=doc["supplier_code"],
        sku=doc["sku"],
        supplier_sku=doc["supplier_sku"],
        unit_cost_cents=int(doc["unit_cost_cents"]),
        pack_size=int(doc["pack_size"]),
        min_order_quantity=int(doc["min_order_quantity"]),
        preferred=bool(doc.get("preferred")),
    )


class SupplierRepository:
    def __init__(self, db: AsyncDatabase):
        self.suppliers = db["suppliers"]
        self.items = db["supplier_items"]

    async def all(self) -> list[Supplier]:
        cursor = self.suppliers.find({}).sort("_id", ASCENDING).limit(MAX_SUPPLIERS)
        return [supplier_from_doc(doc) async for doc in cursor]

    async def by_codes(self, codes: list[str], *, session: Session | None = None) -> list[Supplier]:
        return [supplier_from_doc(doc) async for doc in self.suppliers.find({"_id": {"$in": codes}}, session=session)]

    async def save(self, supplier: Supplier, *, session: Session) -> Supplier | None:
        """Upserts; returns the supplier as it was before (None when new)."""
        doc = supplier_to_doc(supplier)
        before = await self.suppliers.find_one_and_replace({"_id": supplier.code}, doc, upsert=True, session=session)
        return supplier_from_doc(before) if before else None

    async def items_for_skus(self, skus: list[str], *, session: Session | None = None) -> list[SupplierItem]:
        cursor = self.items.find({"sku": {"$in": skus}}, session=session).sort([("sku", 1), ("supplier_code", 1)])
        return [item_from_doc(doc) async for doc in cursor.limit(MAX_ITEMS_PER_SKU * max(1, len(skus)))]

    async def items_of(self, supplier_code: str, *, limit: int = 1_000) -> list[SupplierItem]:
        cursor = self.items.find({"supplier_code": supplier_code}).sort("sku", ASCENDING).limit(limit)
        return [item_from_doc(doc) async for doc in cursor]

    async def preferred_item(self, sku: str, *, session: Session | None = None) -> SupplierItem | None:
        doc = await self.items.find_one({"sku": sku, "preferred": True}, session=session)
        return item_from_doc(doc) if doc else None

    async def save_item(self, item: SupplierItem, *, session: Session) -> SupplierItem | None:
        """Upserts one catalogue entry; a preferred one takes the flag from the SKU's other suppliers
        in the same transaction. Returns the entry as it was (None when new)."""
        if item.preferred:
            await self.items.update_many(
                {"sku": item.sku, "preferred": True, "_id": {"$ne": item_id(item.supplier_code, item.sku)}},
                {"$set": {"preferred": False}},
                session=session,
            )
        before = await self.items.find_one_and_replace(
            {"_id": item_id(item.supplier_code, item.sku)}, item_to_doc(item), upsert=True, session=session
        )
        return item_from_doc(before) if before else None

    async def upsert_many(self, suppliers: list[Supplier], items: list[SupplierItem]) -> None:
        """Demo data: replaced by id, so seeding again leaves the same documents."""
        if suppliers:
            await self.suppliers.bulk_write([ReplaceOne({"_id": s.code}, supplier_to_doc(s), upsert=True) for s in suppliers], ordered=False)
        for start in range(0, len(items), 5_000):
            batch = items[start : start + 5_000]
            await self.items.bulk_write(
                [ReplaceOne({"_id": item_id(i.supplier_code, i.sku)}, item_to_doc(i), upsert=True) for i in batch], ordered=False
            )
