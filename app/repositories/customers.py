"""Customers collection, and lifetime figures aggregated from their orders."""

from __future__ import annotations

import re
from collections import defaultdict
from typing import Any

from pymongo import ReplaceOne
from pymongo.errors import DuplicateKeyError
from pymongo.asynchronous.database import AsyncDatabase

from app.domain.customers import (
    ChannelIdentity,
    ChannelSpend,
    Customer,
    CustomerKeyTaken,
    LifetimeFigures,
    customer_keys,
    normalize_phone,
)
from app.domain.money import Money
from app.domain.orders import OrderStatus
from app.domain.pagination import Page, PageRequest, decode_cursor, encode_cursor
from app.repositories.database import Session
from app.repositories.mapping import address_from_doc, address_to_doc


def _search_terms(customer: Customer) -> list[str]:
    terms = {customer.first_name.lower(), customer.last_name.lower(), customer.display_name.lower()}
    if customer.email:
        terms.add(customer.email.lower())
    phone = normalize_phone(customer.phone)
    if phone:
        digits = phone.lstrip("+")
        terms.add(digits)
        if len(digits) > 10:
            terms.add(digits[-10:])  # the national number, so "617555…" finds "+1 617 555…"
    return sorted(t for t in terms if t)


def to_doc(customer: Customer) -> dict[str, Any]:
    return {
        "_id": customer.id,
        "first_name": customer.first_name,
        "last_name": customer.last_name,
        "email": customer.email,
        "phone": customer.phone,
        "created_at": customer.created_at,
        "addresses": [address_to_doc(a) for a in customer.addresses],
        "identities": [{"channel_id": i.channel_id, "external_id": i.external_id} for i in customer.identities],
        "search_terms": _search_terms(customer),
    }


def from_doc(doc: dict[str, Any]) -> Customer:
    return Customer(
        id=doc["_id"],
        first_name=doc.get("first_name", ""),
        last_name=doc.get("last_name", ""),
        email=doc.get("email"),
        phone=doc.get("phone"),
        created_at=doc["created_at"],
        addresses=tuple(a for a in (address_from_doc(d) for d in doc.get("addresses", [])) if a),
        identities=tuple(ChannelIdentity(i["channel_id"], i["external_id"]) for i in doc.get("identities", [])),
    )


class CustomerRepository:
    def __init__(self, db: AsyncDatabase):
        self.collection = db["customers"]
        self.keys = db["customer_keys"]
        self.orders = db["orders"]

    async def by_ids(self, ids: list[str], *, session: Session | None = None) -> list[Customer]:
        return [from_doc(doc) async for doc in self.collection.find({"_id": {"$in": ids}}, session=session)]

    async def search(self, text: str | None, page: PageRequest) -> Page[Customer]:
        query: dict[str, Any] = {}
        if text and text.strip():
            term = text.strip().lower()
            digits = normalize_phone(term)
            # Anchored prefix regex on an indexed array: an index range scan, not a collection scan.
            # re.escape keeps user input a literal, never a pattern.
            alternatives = [{"search_terms": {"$regex": "^" + re.escape(term)}}]
            if digits and len(digits.lstrip("+")) >= 4:
                alternatives.append({"search_terms": {"$regex": "^" + re.escape(digits.lstrip("+"))}})
            query["$or"] = alternatives
        if page.after:
            (after_id,) = decode_cursor(page.after, 1)
            query["_id"] = {"$gt": str(after_id)}
        cursor = self.collection.find(query).sort("_id", 1).limit(page.first + 1)
        docs = [doc async for doc in cursor]
        items = [from_doc(doc) for doc in docs[: page.first]]
        return Page(
            items=items,
            cursors=[encode_cursor(c.id) for c in items],
            has_next_page=len(docs) > page.first,
            has_previous_page=page.after is not None,
        )

    async def lifetime_figures(self, customer_ids: list[str]) -> dict[str, LifetimeFigures]:
        pipeline: list[dict[str, Any]] = [
            {"$match": {"customer_id": {"$in": customer_ids}, "status": {"$ne": OrderStatus.CANCELLED.value}}},
            {
                "$group": {
                    "_id": {"customer": "$customer_id", "channel": "$channel_id", "currency": "$totals.currency"},
                    "orders": {"$sum": 1},
                    "cents": {"$sum": "$totals.total_cents"},
                    "first": {"$min": "$created_at"},
                    "last": {"$max": "$created_at"},
                }
            },
        ]
        rows: dict[str, list[dict[str, Any]]] = defaultdict(list)
        async for row in await self.orders.aggregate(pipeline):
            rows[row["_id"]["customer"]].append(row)
        figures: dict[str, LifetimeFigures] = {}
        for customer_id in customer_ids:
            groups = sorted(rows.get(customer_id, []), key=lambda r: r["_id"]["channel"])
            if not groups:
                figures[customer_id] = LifetimeFigures.empty()
                continue
            currency = groups[0]["_id"]["currency"] or "USD"
            by_channel = tuple(
                ChannelSpend(g["_id"]["channel"], int(g["orders"]), Money(int(g["cents"]), currency)) for g in groups
            )
            figures[customer_id] = LifetimeFigures(
                order_count=sum(c.order_count for c in by_channel),
                spend=Money(sum(c.spend.cents for c in by_channel), currency),
                by_channel=by_channel,
                first_order_at=min(g["first"] for g in groups),
                last_order_at=max(g["last"] for g in groups),
            )
        return figures

    async def upsert_many(self, customers: list[Customer]) -> None:
        if customers:
            await self.collection.bulk_write(
                [ReplaceOne({"_id": c.id}, to_doc(c), upsert=True) for c in customers], ordered=False
            )

    async def match(
        self,
        *,
        identity: ChannelIdentity | None,
        email: str | None,
        phone: str | None,
        session: Session | None = None,
    ) -> Customer | None:
        """The customer known by this channel identity, else this email, else this phone (normalized)."""
        if identity is not None:
            doc = await self.collection.find_one(
                {"identities": {"$elemMatch": {"channel_id": identity.channel_id, "external_id": identity.external_id}}},
                session=session,
            )
            if doc:
                return from_doc(doc)
        if email:
            doc = await self.collection.find_one({"email": email}, session=session)
            if doc:
                return from_doc(doc)
        if phone:
            doc = await self.collection.find_one({"phone": phone}, sort=[("_id", 1)], session=session)
            if doc:
                return from_doc(doc)
        return None

    async def insert(self, customer: Customer, *, session: Session) -> None:
        """Creates the customer and claims its keys (email, phone, channel identities) in `customer_keys`.

        Two transactions creating the same new person collide on a key (unique `_id`; the email also
        on the unique `email` index): one commits, the other retries or gets CustomerKeyTaken and re-matches.
        """
        try:
            await self.collection.insert_one(to_doc(customer), session=session)
            keys = customer_keys(customer)
            if keys:
                await self.keys.insert_many([{"_id": key, "customer_id": customer.id} for key in keys], session=session)
        except DuplicateKeyError as exc:
            if exc.has_error_label("TransientTransactionError"):
                raise
            raise CustomerKeyTaken(str(exc)) from exc

    async def add_identity(self, customer_id: str, identity: ChannelIdentity, *, session: Session) -> None:
        await self.collection.update_one(
            {"_id": customer_id},
            {"$addToSet": {"identities": {"channel_id": identity.channel_id, "external_id": identity.external_id}}},
            session=session,
        )
