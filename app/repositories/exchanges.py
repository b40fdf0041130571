"""Exchanges collection: one document per return that asked for replacement goods."""

from __future__ import annotations

from typing import Any

from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

from app.domain.exchanges import Charge, Exchange, ExchangeLine, ExchangeNotPossible, ExchangeStatus
from app.domain.money import Money
from app.domain.returns import ExchangeMode
from app.repositories.database import Session

MAX_PENDING_SCAN = 100


def to_doc(exchange: Exchange) -> dict[str, Any]:
    currency = exchange.currency
    return {
        "_id": exchange.id,
        "return_id": exchange.return_id,
        "order_id": exchange.order_id,
        "customer_id": exchange.customer_id,
        "channel_id": exchange.channel_id,
        "mode": exchange.mode.value,
        "status": exchange.status.value,
        "currency": currency,
        "lines": [
            {
                "return_line_id": line.return_line_id,
                "order_line_id": line.order_line_id,
                "returned_sku": line.returned_sku,
                "sku": line.sku,
                "name": line.name,
                "quantity": line.quantity,
                "unit_price_cents": line.unit_price.cents,
                "credit_cents": line.credit.cents,
            }
            for line in exchange.lines
        ],
        "credit_cents": exchange.credit.cents,
        "replacement_total_cents": exchange.replacement_total.cents,
        "settlement": exchange.settlement.value,
        "replacement_order_id": exchange.replacement_order_id,
        "charge": (
            {
                "provider": exchange.charge.provider,
                "payment_reference": exchange.charge.payment_reference,
                "amount_cents": exchange.charge.amount.cents,
                "provider_reference": exchange.charge.provider_reference,
            }
            if exchange.charge
            else None
        ),
        "requested_by": exchange.requested_by,
        "created_at": exchange.created_at,
        "updated_at": exchange.updated_at,
        "placed_at": exchange.placed_at,
        "version": exchange.version,
    }


def from_doc(doc: dict[str, Any]) -> Exchange:
    currency = doc.get("currency", "USD")
    charge = doc.get("charge")
    return Exchange(
        id=doc["_id"],
        return_id=doc["return_id"],
        order_id=doc["order_id"],
        customer_id=doc["customer_id"],
        channel_id=doc["channel_id"],
        mode=ExchangeMode(doc["mode"]),
        status=ExchangeStatus(doc["status"]),
        lines=tuple(
            ExchangeLine(
                return_line_id=line["return_line_id"],
                order_line_id=line["order_line_id"],
                returned_sku=line["returned_sku"],
                sku=line["sku"],
                name=line.get("name", line["sku"]),
                quantity=int(line["quantity"]),
                unit_price=Money(int(line["unit_price_cents"]), currency),
                credit=Money(int(line["credit_cents"]), currency),
            )
            for line in doc.get("lines", [])
        ),
        created_at=doc["created_at"],
        updated_at=doc["updated_at"],
        requested_by=doc.get("requested_by", ""),
        replacement_order_id=doc.get("replacement_order_id"),
        charge=(
            Charge(
                provider=charge["provider"],
                payment_reference=charge.get("payment_reference"),
                amount=Money(int(charge["amount_cents"]), currency),
                provider_reference=charge.get("provider_reference"),
            )
            if charge
            else None
        ),
        placed_at=doc.get("placed_at"),
        version=int(doc.get("version", 1)),
    )


class ExchangeRepository:
    def __init__(self, db: AsyncDatabase):
        self.collection = db["exchanges"]

    async def insert(self, exchange: Exchange, *, session: Session) -> None:
        """ExchangeNotPossible when the return has an exchange already (unique `return` index)."""
        try:
            await self.collection.insert_one(to_doc(exchange), session=session)
        except DuplicateKeyError as exc:
            if exc.has_error_label("TransientTransactionError"):
                raise
            raise ExchangeNotPossible("this return has an exchange already", field=("returnId",)) from exc

    async def replace(self, exchange: Exchange, *, expected_version: int, session: Session) -> bool:
        result = await self.collection.replace_one(
            {"_id": exchange.id, "version": expected_version}, to_doc(exchange), session=session
        )
        return result.matched_count == 1

    async def get(self, exchange_id: str, *, session: Session | None = None) -> Exchange | None:
        doc = await self.collection.find_one({"_id": exchange_id}, session=session)
        return from_doc(doc) if doc else None

    async def by_ids(self, ids: list[str]) -> list[Exchange]:
        return [from_doc(doc) async for doc in self.collection.find({"_id": {"$in": ids}})]

    async def for_return(self, return_id: str, *, session: Session | None = None) -> Exchange | None:
        doc = await self.collection.find_one({"return_id": return_id}, session=session)
        return from_doc(doc) if doc else None

    async def for_returns(self, return_ids: list[str]) -> dict[str, Exchange]:
        return {doc["return_id"]: from_doc(doc) async for doc in self.collection.find({"return_id": {"$in": return_ids}})}

    async def by_replacement_orders(self, order_ids: list[str]) -> dict[str, Exchange]:
        found = self.collection.find({"replacement_order_id": {"$in": order_ids}})
        return {doc["replacement_order_id"]: from_doc(doc) async for doc in found}

    async def pending(self, *, limit: int = MAX_PENDING_SCAN) -> list[Exchange]:
        """Exchanges waiting for their return to arrive, oldest first."""
        cursor = self.collection.find({"status": ExchangeStatus.PENDING.value}).sort([("status", 1), ("created_at", 1)]).limit(limit)
        return [from_doc(doc) async for doc in cursor]
