"""Customers collection, and lifetime figures aggregated from their orders."""

from __future__ import annotations

import re
from collections import defaultdict
from typing import Any

from collections.abc import Collection
from datetime import datetime

from pymongo import ReplaceOne, UpdateOne
from pymongo.errors import DuplicateKeyError
from pymongo.asynchronous.database import AsyncDatabase

from app.domain.customers import (
    ChannelIdentity,
    ChannelSpend,
    Customer,
    CustomerKeyTaken,
    LifetimeFigures,
    customer_keys,
    identity_key,
    normalize_phone,
)
from app.domain.money import Money
from app.domain.orders import OrderStatus
from app.domain.returns import COUNTS_AGAINST_ORDER, ReturnStatus

NOT_COUNTED = frozenset(ReturnStatus) - COUNTS_AGAINST_ORDER  # rejected and cancelled returns bring nothing back
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


# Tombstones (customers merged into another) keep their document for the audit trail; every read
# that lists or matches customers leaves them out.
LIVE: dict[str, Any] = {"merged_into": {"$exists": False}}


def _keyed(value: str) -> dict[str, Any]:
    """An equality the partial `email` / `phone` indexes serve: the planner uses a partial index
    only when the query repeats its filter (`$type: string`); a bare equality scans the collection."""
    return {"$eq": value, "$type": "string"}


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
        merged_into=doc.get("merged_into"),
    )


class CustomerRepository:
    def __init__(self, db: AsyncDatabase):
        self.collection = db["customers"]
        self.keys = db["customer_keys"]
        self.orders = db["orders"]
        self.returns = db["returns"]

    async def by_ids(self, ids: list[str], *, session: Session | None = None, include_merged: bool = False) -> list[Customer]:
        """Live customers by id; with `include_merged`, tombstones too (their `merged_into` set)."""
        query: dict[str, Any] = {"_id": {"$in": ids}} if include_merged else {"_id": {"$in": ids}, **LIVE}
        return [from_doc(doc) async for doc in self.collection.find(query, session=session)]

    async def live_id(self, customer_id: str, *, session: Session | None = None) -> str:
        """The id to act for: the survivor's when `customer_id` was merged into it, else unchanged."""
        doc = await self.collection.find_one({"_id": customer_id}, {"merged_into": 1}, session=session)
        return str(doc["merged_into"]) if doc and doc.get("merged_into") else customer_id

    async def search(self, text: str | None, page: PageRequest) -> Page[Customer]:
        query: dict[str, Any] = dict(LIVE)
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
        """Per customer and channel: orders, spend net of what refunds and exchange credit took back
        (the order's refund tally), money refunded, units bought, and units in live returns."""
        pipeline: list[dict[str, Any]] = [
            {"$match": {"customer_id": {"$in": customer_ids}, "status": {"$ne": OrderStatus.CANCELLED.value}}},
            {
                "$group": {
                    "_id": {"customer": "$customer_id", "channel": "$channel_id", "currency": "$totals.currency"},
                    "orders": {"$sum": 1},
                    "cents": {"$sum": {"$subtract": ["$totals.total_cents", {"$ifNull": ["$refund_tally.total_cents", 0]}]}},
                    "refunded": {"$sum": {"$ifNull": ["$refund_tally.refunded_cents", 0]}},
                    "units": {"$sum": {"$sum": {"$map": {
                        "input": "$lines", "in": {"$subtract": ["$$this.quantity", {"$ifNull": ["$$this.cancelled_quantity", 0]}]},
                    }}}},
                    "first": {"$min": "$created_at"},
                    "last": {"$max": "$created_at"},
                }
            },
        ]
        rows: dict[str, list[dict[str, Any]]] = defaultdict(list)
        async for row in await self.orders.aggregate(pipeline):
            rows[row["_id"]["customer"]].append(row)
        returned = await self._returned_units(customer_ids)
        figures: dict[str, LifetimeFigures] = {}
        for customer_id in customer_ids:
            groups = sorted(rows.get(customer_id, []), key=lambda r: r["_id"]["channel"])
            if not groups:
                figures[customer_id] = LifetimeFigures.empty()
                continue
            currency = groups[0]["_id"]["currency"] or "USD"
            by_channel = tuple(
                ChannelSpend(
                    g["_id"]["channel"],
                    int(g["orders"]),
                    Money(int(g["cents"]), currency),
                    refunds=Money(int(g["refunded"]), currency),
                    units=int(g["units"]),
                    returned_units=returned.get((customer_id, g["_id"]["channel"]), 0),
                )
                for g in groups
            )
            figures[customer_id] = LifetimeFigures(
                order_count=sum(c.order_count for c in by_channel),
                spend=Money(sum(c.spend.cents for c in by_channel), currency),
                by_channel=by_channel,
                first_order_at=min(g["first"] for g in groups),
                last_order_at=max(g["last"] for g in groups),
                refunds=Money(sum(c.refunds.cents for c in by_channel), currency),
            )
        return figures

    async def _returned_units(self, customer_ids: list[str]) -> dict[tuple[str, str], int]:
        """Units in live returns per (customer, channel): what was received once known, else what was authorized."""
        pipeline: list[dict[str, Any]] = [
            {"$match": {"customer_id": {"$in": customer_ids}, "status": {"$nin": [s.value for s in NOT_COUNTED]}}},
            {
                "$group": {
                    "_id": {"customer": "$customer_id", "channel": "$channel_id"},
                    "units": {"$sum": {"$sum": {"$map": {
                        "input": "$lines", "in": {"$ifNull": ["$$this.received_quantity", "$$this.quantity"]},
                    }}}},
                }
            },
        ]
        return {(row["_id"]["customer"], row["_id"]["channel"]): int(row["units"]) async for row in await self.returns.aggregate(pipeline)}

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
            doc = await self.collection.find_one({"email": _keyed(email)}, session=session)
            if doc:
                return from_doc(doc)
        if phone:
            doc = await self.collection.find_one({"phone": _keyed(phone)}, sort=[("_id", 1)], session=session)
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
        """Adds a channel identity and claims its key, so a concurrent upsert or capture giving the
        same identity to someone else collides (CustomerKeyTaken) instead of creating a second owner."""
        try:
            await self.keys.insert_one({"_id": identity_key(identity), "customer_id": customer_id}, session=session)
        except DuplicateKeyError as exc:
            if exc.has_error_label("TransientTransactionError"):
                raise
            raise CustomerKeyTaken(str(exc)) from exc
        await self.collection.update_one(
            {"_id": customer_id},
            {"$addToSet": {"identities": {"channel_id": identity.channel_id, "external_id": identity.external_id}}},
            session=session,
        )

    # --- Writes for upsertCustomer and mergeCustomers (always inside the caller's transaction) ---

    async def keys_owned_by_others(self, customer: Customer, keys: Collection[str], *, session: Session) -> set[str]:
        """Those of `keys` (keys of `customer`'s values) that another live customer holds: by its
        `customer_keys` claim, or by its own fields for customers written without claims (seeded,
        imported by older versions). Indexed reads: `_id`, and the email, phone and identity indexes."""
        if not keys:
            return set()
        wanted = set(keys)
        taken = {
            doc["_id"]
            async for doc in self.keys.find({"_id": {"$in": sorted(wanted)}, "customer_id": {"$ne": customer.id}}, session=session)
        }
        alternatives: list[dict[str, Any]] = []
        if customer.email and f"email:{customer.email}" in wanted:
            alternatives.append({"email": _keyed(customer.email)})
        if customer.phone and f"phone:{customer.phone}" in wanted:
            alternatives.append({"phone": _keyed(customer.phone)})
        alternatives += [
            {"identities": {"$elemMatch": {"channel_id": i.channel_id, "external_id": i.external_id}}}
            for i in customer.identities
            if identity_key(i) in wanted
        ]
        if alternatives:
            others = self.collection.find(
                {"_id": {"$ne": customer.id}, **LIVE, "$or": alternatives},
                {"email": 1, "phone": 1, "identities": 1, "first_name": 1, "last_name": 1, "created_at": 1},
                session=session,
            ).limit(50)  # any one owner is enough; bounded even where stored data shares a phone
            async for doc in others:
                taken |= wanted & set(customer_keys(from_doc(doc)))
        return taken

    async def save(self, before: Customer | None, after: Customer, *, session: Session) -> None:
        """Writes `after` (inserted when `before` is None, else replaced while still live) with its
        search terms, and keeps `customer_keys` in step: the keys it dropped are released, the ones
        it holds are claimed (existing claims are left alone, so check `keys_owned_by_others` for
        the keys it gained first). A key claimed concurrently by another transaction surfaces as a
        write conflict (retried by the transaction) or CustomerKeyTaken."""
        try:
            if before is None:
                await self.collection.insert_one(to_doc(after), session=session)
            else:
                await self.collection.replace_one({"_id": after.id, **LIVE}, to_doc(after), session=session)
            dropped = sorted(set(customer_keys(before)) - set(customer_keys(after))) if before else []
            await self.release_keys(after.id, dropped, session=session)
            await self._claim_keys(after.id, customer_keys(after), session=session)
        except DuplicateKeyError as exc:
            if exc.has_error_label("TransientTransactionError"):
                raise
            raise CustomerKeyTaken(str(exc)) from exc

    async def release_keys(self, customer_id: str, keys: list[str], *, session: Session) -> None:
        if keys:
            await self.keys.delete_many({"_id": {"$in": keys}, "customer_id": customer_id}, session=session)

    async def _claim_keys(self, customer_id: str, keys: list[str], *, session: Session) -> None:
        if keys:
            await self.keys.bulk_write(
                [UpdateOne({"_id": key}, {"$setOnInsert": {"customer_id": customer_id}}, upsert=True) for key in keys],
                ordered=True,
                session=session,
            )

    async def tombstone(self, merged: Customer, *, survivor_id: str, at: datetime, session: Session) -> None:
        """Keeps the merged customer as a tombstone pointing at the survivor. Its email, phone and
        identities (moved or released by the caller) are cleared so nothing matches it any more,
        and kept under `merged_from` for the audit trail; tombstones merged into it earlier now
        point at the survivor too, so `merged_into` is always one hop from a live customer."""
        await self.collection.update_one(
            {"_id": merged.id, **LIVE},
            {
                "$set": {
                    "merged_into": survivor_id,
                    "merged_at": at,
                    "merged_from": {
                        "email": merged.email,
                        "phone": merged.phone,
                        "identities": [{"channel_id": i.channel_id, "external_id": i.external_id} for i in merged.identities],
                    },
                    "email": None,
                    "phone": None,
                    "identities": [],
                    "search_terms": [],
                }
            },
            session=session,
        )
        await self.collection.update_many({"merged_into": merged.id}, {"$set": {"merged_into": survivor_id}}, session=session)
