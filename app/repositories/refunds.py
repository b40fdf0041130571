"""Refunds collection (one document per refund), and the refund tally on the order document.

A refund is stored PENDING before its provider is asked, then settled ISSUED or FAILED. A FAILED
refund of a return keeps its return under `failed_return_id`, out of the unique `return` index,
so the return may be refunded again.

The tally is the ceiling's guard: it lives on the order and is written only under the order's
version, inside the refund's transaction. Two refunds of one order therefore serialize on the
order document (the later one retries, re-reads and is refused if it no longer fits).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pymongo import ReturnDocument
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

from app.domain.money import Money
from app.domain.payments import RefundTally, TallyEntry
from app.domain.refunds import AlreadyRefunded, PaymentSplit, Refund, RefundKind, RefundLine, RefundLineKind, RefundStatus
from app.repositories.database import Session
from app.repositories.orders import tally_to_doc

MAX_REFUNDS_PER_ORDER = 200


def _line_to_doc(line: RefundLine) -> dict[str, Any]:
    return {
        "kind": line.kind.value,
        "amount_cents": line.amount.cents,
        "description": line.description,
        "order_line_id": line.order_line_id,
        "return_line_id": line.return_line_id,
        "sku": line.sku,
        "quantity": line.quantity,
    }


def _line_from_doc(doc: dict[str, Any], currency: str) -> RefundLine:
    return RefundLine(
        kind=RefundLineKind(doc["kind"]),
        amount=Money(int(doc["amount_cents"]), currency),
        description=doc.get("description", ""),
        order_line_id=doc.get("order_line_id"),
        return_line_id=doc.get("return_line_id"),
        sku=doc.get("sku"),
        quantity=int(doc.get("quantity", 0)),
    )


def to_doc(refund: Refund) -> dict[str, Any]:
    return {
        "_id": refund.id,
        "order_id": refund.order_id,
        "customer_id": refund.customer_id,
        "channel_id": refund.channel_id,
        "return_id": refund.return_id,
        "exchange_id": refund.exchange_id,
        "kind": refund.kind.value,
        "amount_cents": refund.amount.cents,
        "currency": refund.amount.currency,
        "lines": [_line_to_doc(line) for line in refund.lines],
        "splits": _splits_to_doc(refund.splits),
        "status": refund.status.value,
        "reason": refund.reason,
        "created_at": refund.created_at,
        "created_by": refund.created_by,
        "created_by_role": refund.created_by_role,
        "location_id": refund.location_id,
        "tally_entry": _entry_to_doc(refund.tally_entry) if refund.tally_entry else None,
    }


def _splits_to_doc(splits: tuple[PaymentSplit, ...]) -> list[dict[str, Any]]:
    return [
        {
            "payment_index": s.payment_index,
            "provider": s.provider,
            "reference": s.reference,
            "amount_cents": s.amount.cents,
            "provider_refund_id": s.provider_refund_id,
        }
        for s in splits
    ]


def _entry_to_doc(entry: TallyEntry) -> dict[str, Any]:
    """Pairs as lists: payment indexes are ints, which BSON keys cannot be."""
    return {
        "total_cents": entry.total_cents,
        "lines": [[k, v] for k, v in entry.lines],
        "shipping_cents": entry.shipping_cents,
        "payments": [[k, v] for k, v in entry.payments],
    }


def _entry_from_doc(doc: dict[str, Any] | None) -> TallyEntry | None:
    if not doc:
        return None
    return TallyEntry(
        total_cents=int(doc["total_cents"]),
        lines=tuple((str(k), int(v)) for k, v in doc.get("lines", [])),
        shipping_cents=int(doc.get("shipping_cents", 0)),
        payments=tuple((int(k), int(v)) for k, v in doc.get("payments", [])),
    )


def from_doc(doc: dict[str, Any]) -> Refund:
    currency = doc.get("currency", "USD")
    return Refund(
        id=doc["_id"],
        order_id=doc["order_id"],
        customer_id=doc["customer_id"],
        channel_id=doc["channel_id"],
        return_id=doc.get("return_id") or doc.get("failed_return_id"),
        exchange_id=doc.get("exchange_id"),
        kind=RefundKind(doc["kind"]),
        amount=Money(int(doc["amount_cents"]), currency),
        lines=tuple(_line_from_doc(line, currency) for line in doc.get("lines", [])),
        splits=tuple(
            PaymentSplit(
                payment_index=int(s["payment_index"]),
                provider=s["provider"],
                reference=s.get("reference"),
                amount=Money(int(s["amount_cents"]), currency),
                provider_refund_id=s.get("provider_refund_id"),
            )
            for s in doc.get("splits", [])
        ),
        status=RefundStatus(doc["status"]),
        reason=doc.get("reason"),
        created_at=doc["created_at"],
        created_by=doc.get("created_by", ""),
        created_by_role=doc.get("created_by_role", ""),
        location_id=doc.get("location_id"),
        tally_entry=_entry_from_doc(doc.get("tally_entry")),
        refused=Money(int(doc["refused_cents"]), currency) if doc.get("refused_cents") else None,
    )


class RefundRepository:
    def __init__(self, db: AsyncDatabase):
        self.collection = db["refunds"]
        self.orders = db["orders"]

    async def insert(self, refund: Refund, *, session: Session) -> None:
        """AlreadyRefunded when the return has a refund (the unique `return` index)."""
        try:
            await self.collection.insert_one(to_doc(refund), session=session)
        except DuplicateKeyError as exc:
            if exc.has_error_label("TransientTransactionError"):
                raise
            raise AlreadyRefunded("this return was refunded already", field=("returnId",)) from exc

    async def get(self, refund_id: str, *, session: Session | None = None) -> Refund | None:
        doc = await self.collection.find_one({"_id": refund_id}, session=session)
        return from_doc(doc) if doc else None

    async def refunded_return(self, return_id: str, *, session: Session) -> bool:
        """The return has a PENDING or ISSUED refund (FAILED ones keep it under `failed_return_id`)."""
        return await self.collection.find_one({"return_id": return_id}, {"_id": 1}, session=session) is not None

    async def settle(self, refund: Refund, *, at: datetime, session: Session) -> bool:
        """PENDING → ISSUED, PARTIALLY_ISSUED or FAILED (with the provider's references), once: False
        if it was not PENDING."""
        update: dict[str, Any] = {
            "$set": {"status": refund.status.value, "splits": _splits_to_doc(refund.splits), "settled_at": at},
            "$unset": {"lease": ""},
        }
        if refund.status is RefundStatus.PARTIALLY_ISSUED and refund.refused is not None:
            update["$set"] |= {"amount_cents": refund.amount.cents, "refused_cents": refund.refused.cents}
        if refund.status is RefundStatus.FAILED and refund.return_id:
            update["$set"]["failed_return_id"] = refund.return_id
            update["$unset"]["return_id"] = ""  # out of the unique index: the return may be refunded again
        result = await self.collection.update_one({"_id": refund.id, "status": RefundStatus.PENDING.value}, update, session=session)
        return result.modified_count == 1

    async def claim_pending(self, older_than: datetime, now: datetime, lease_until: datetime, owner: str) -> Refund | None:
        """Leases one PENDING refund left behind (a crash, a failed commit) so one instance completes it
        at a time. The lease only saves duplicate work; `settle` is what happens once."""
        doc = await self.collection.find_one_and_update(
            {
                "status": RefundStatus.PENDING.value,
                "created_at": {"$lte": older_than},
                "$or": [{"lease.until": {"$exists": False}}, {"lease.until": {"$lte": now}}],
            },
            {"$set": {"lease": {"owner": owner, "until": lease_until}}},
            sort=[("created_at", 1)],
            return_document=ReturnDocument.AFTER,
        )
        return from_doc(doc) if doc else None

    async def record_tally(
        self, order_id: str, tally: RefundTally, *, expected_version: int, at: datetime, session: Session
    ) -> bool:
        """Stores the order's new tally if the order is still at `expected_version` (and bumps it)."""
        result = await self.orders.update_one(
            {"_id": order_id, "version": expected_version},
            {"$set": {"refund_tally": tally_to_doc(tally), "updated_at": at}, "$inc": {"version": 1}},
            session=session,
        )
        return result.matched_count == 1

    async def exchange_credit(self, exchange_id: str, *, session: Session) -> Refund | None:
        doc = await self.collection.find_one({"exchange_id": exchange_id, "kind": "EXCHANGE_CREDIT", "status": "ISSUED"}, session=session)
        return from_doc(doc) if doc else None

    async def reverse(self, refund_id: str, *, at: datetime, session: Session) -> bool:
        """ISSUED exchange credit → REVERSED, once."""
        result = await self.collection.update_one(
            {"_id": refund_id, "status": "ISSUED"}, {"$set": {"status": "REVERSED", "settled_at": at}}, session=session
        )
        return result.modified_count == 1

    async def by_ids(self, ids: list[str]) -> list[Refund]:
        return [from_doc(doc) async for doc in self.collection.find({"_id": {"$in": ids}})]

    async def for_orders(self, order_ids: list[str]) -> dict[str, list[Refund]]:
        """Each order's refunds, oldest first (bounded per order)."""
        found: dict[str, list[Refund]] = {order_id: [] for order_id in order_ids}
        cursor = self.collection.find({"order_id": {"$in": order_ids}}).sort([("order_id", 1), ("created_at", 1), ("_id", 1)])
        async for doc in cursor.limit(MAX_REFUNDS_PER_ORDER * max(1, len(order_ids))):
            found[doc["order_id"]].append(from_doc(doc))
        return found

    async def for_returns(self, return_ids: list[str]) -> dict[str, Refund]:
        return {doc["return_id"]: from_doc(doc) async for doc in self.collection.find({"return_id": {"$in": return_ids}})}
