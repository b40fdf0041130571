"""Cases collection: one document per case, its thread embedded (bounded); SLA policies per scope.

Queues page two ways: newest first on (created_at, _id) like every list, or most urgent first on
(priority_rank desc, next_due asc, _id asc), with `next_due` stored so the sort is one index walk.
Text search is a case-insensitive regex over the subject and entry texts, built from the escaped
input: the text is data, never an operator or a pattern.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

from pymongo import ASCENDING, DESCENDING, ReturnDocument
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

from app.domain.cases import (
    CLAIMABLE,
    CLOCK_RUNNING,
    PRIORITY_RANK,
    Case,
    CaseEntry,
    CaseFilter,
    CaseKeyTaken,
    CaseLinks,
    CaseOrder,
    CasePriority,
    CaseStatus,
    CaseTopic,
    ContactChannel,
    EntryKind,
    PendingClaim,
    Sla,
    SlaKind,
    SlaPolicy,
    SlaTargets,
)
from app.domain.errors import ErrorCode, FieldIssue, InvalidInput
from app.domain.pagination import Page, PageRequest, decode_cursor, encode_cursor
from app.repositories.database import Session
from app.repositories.keyset import newest_first_page, newest_first_pages_by_customer

MOST_URGENT = [("priority_rank", DESCENDING), ("next_due", ASCENDING), ("_id", ASCENDING)]
MAX_CASES_PER_ORDER = 50


def _entry_to_doc(entry: CaseEntry) -> dict[str, Any]:
    return {
        "id": entry.id, "kind": entry.kind.value, "body": entry.body, "author": entry.author, "author_role": entry.author_role,
        "at": entry.at, "from_customer": entry.from_customer, "order_id": entry.order_id, "action": entry.action,
        # Denormalized so a search by CUSTOMER or CHANNEL callers matches visible entries only.
        "visible": entry.customer_visible,
    }


def _entry_from_doc(doc: dict[str, Any]) -> CaseEntry:
    return CaseEntry(
        id=doc["id"], kind=EntryKind(doc["kind"]), body=doc["body"], author=doc["author"], author_role=doc["author_role"],
        at=doc["at"], from_customer=bool(doc.get("from_customer")), order_id=doc.get("order_id"), action=doc.get("action"),
    )


def to_doc(case: Case) -> dict[str, Any]:
    sla = case.sla
    return {
        "_id": case.id,
        "number": case.number,
        "customer_id": case.customer_id,
        "client_key": case.client_key,
        "contact_channel": case.contact_channel.value,
        "topic": case.topic.value,
        "priority": case.priority.value,
        "priority_rank": PRIORITY_RANK[case.priority],
        "status": case.status.value,
        "subject": case.subject,
        "order_ids": list(case.links.order_ids),
        "shipment_ids": list(case.links.shipment_ids),
        "return_ids": list(case.links.return_ids),
        "sla": {
            "first_response_due": sla.first_response_due,
            "resolution_due": sla.resolution_due,
            "first_responded_at": sla.first_responded_at,
            "first_response_breached_at": sla.first_response_breached_at,
            "resolution_breached_at": sla.resolution_breached_at,
            "paused_at": sla.paused_at,
        },
        "breached": sla.breached,
        "next_due": sla.next_due(),
        "channel_id": case.channel_id,
        "location_id": case.location_id,
        "assignee": case.assignee,
        "entries": [_entry_to_doc(e) for e in case.entries],
        "resolved_at": case.resolved_at,
        "closed_at": case.closed_at,
        "last_contact_at": case.last_contact_at,
        "opened_by": case.opened_by,
        "input_hash": case.input_hash,
        "pending_claim": (
            {"event_id": case.pending_claim.event_id, "role": case.pending_claim.role, "at": case.pending_claim.at}
            if case.pending_claim else None
        ),
        "created_at": case.created_at,
        "updated_at": case.updated_at,
        "version": case.version,
    }


def from_doc(doc: dict[str, Any]) -> Case:
    sla = doc.get("sla") or {}
    return Case(
        id=doc["_id"],
        number=doc["number"],
        customer_id=doc["customer_id"],
        client_key=doc["client_key"],
        contact_channel=ContactChannel(doc["contact_channel"]),
        topic=CaseTopic(doc["topic"]),
        priority=CasePriority(doc["priority"]),
        status=CaseStatus(doc["status"]),
        subject=doc["subject"],
        links=CaseLinks(tuple(doc.get("order_ids", ())), tuple(doc.get("shipment_ids", ())), tuple(doc.get("return_ids", ()))),
        sla=Sla(
            first_response_due=sla.get("first_response_due"),
            resolution_due=sla.get("resolution_due"),
            first_responded_at=sla.get("first_responded_at"),
            first_response_breached_at=sla.get("first_response_breached_at"),
            resolution_breached_at=sla.get("resolution_breached_at"),
            paused_at=sla.get("paused_at"),
        ),
        channel_id=doc.get("channel_id"),
        location_id=doc.get("location_id"),
        assignee=doc.get("assignee"),
        entries=tuple(_entry_from_doc(e) for e in doc.get("entries", ())),
        resolved_at=doc.get("resolved_at"),
        closed_at=doc.get("closed_at"),
        last_contact_at=doc.get("last_contact_at"),
        opened_by=doc.get("opened_by", ""),
        input_hash=doc.get("input_hash"),
        pending_claim=PendingClaim(**doc["pending_claim"]) if doc.get("pending_claim") else None,
        created_at=doc["created_at"],
        updated_at=doc["updated_at"],
        version=int(doc.get("version", 1)),
    )


def filter_query(selection: CaseFilter) -> dict[str, Any]:
    query: dict[str, Any] = {}
    if selection.statuses:
        query["status"] = {"$in": [s.value for s in selection.statuses]}
    if selection.priorities:
        query["priority"] = {"$in": [p.value for p in selection.priorities]}
    if selection.topics:
        query["topic"] = {"$in": [t.value for t in selection.topics]}
    if selection.contact_channels:
        query["contact_channel"] = {"$in": [c.value for c in selection.contact_channels]}
    if selection.channel_ids:
        query["channel_id"] = {"$in": list(selection.channel_ids)}
    if selection.location_ids:
        query["location_id"] = {"$in": list(selection.location_ids)}
    if selection.assignee is not None:
        query["assignee"] = selection.assignee
    elif selection.unassigned is not None:
        query["assignee"] = None if selection.unassigned else {"$ne": None}
    if selection.breached is not None:
        query["breached"] = selection.breached
    if selection.customer_id is not None:
        query["customer_id"] = selection.customer_id
    if selection.order_id is not None:
        query["order_ids"] = selection.order_id
    if selection.text:
        # re.escape: the caller's text is matched literally; a `$`-key or a pattern cannot get through.
        pattern = {"$regex": re.escape(selection.text), "$options": "i"}
        entry = {"body": pattern, "visible": True} if selection.visible_text_only else {"body": pattern}
        query["$or"] = [{"subject": pattern}, {"entries": {"$elemMatch": entry}}]
    return query


def _urgent_after(after: str) -> dict[str, Any]:
    rank, due, case_id = decode_cursor(after, 3)
    if not isinstance(rank, int) or not isinstance(due, datetime):
        raise InvalidInput([FieldIssue(ErrorCode.INVALID_INPUT, "after is not a valid cursor", ("after",))])
    return {
        "$or": [
            {"priority_rank": {"$lt": rank}},
            {"priority_rank": rank, "next_due": {"$gt": due}},
            {"priority_rank": rank, "next_due": due, "_id": {"$gt": str(case_id)}},
        ]
    }


def _urgency_key(case: Case) -> tuple[object, ...]:
    return (PRIORITY_RANK[case.priority], case.sla.next_due(), case.id)


class CaseRepository:
    def __init__(self, db: AsyncDatabase):
        self.collection = db["cases"]
        self.policies = db["case_sla_policies"]

    async def get(self, case_id: str, *, session: Session | None = None) -> Case | None:
        doc = await self.collection.find_one({"_id": case_id}, session=session)
        return from_doc(doc) if doc else None

    async def by_ids(self, ids: list[str], *, session: Session | None = None) -> list[Case]:
        return [from_doc(doc) async for doc in self.collection.find({"_id": {"$in": ids}}, session=session)]

    async def by_client_key(self, customer_id: str, client_key: str) -> Case | None:
        doc = await self.collection.find_one({"customer_id": customer_id, "client_key": client_key})
        return from_doc(doc) if doc else None

    async def insert(self, case: Case, *, session: Session) -> None:
        try:
            await self.collection.insert_one(to_doc(case), session=session)
        except DuplicateKeyError as exc:
            if exc.has_error_label("TransientTransactionError"):
                raise
            raise CaseKeyTaken(f"{case.customer_id}/{case.client_key}") from exc

    async def replace(self, case: Case, *, expected_version: int, session: Session | None) -> bool:
        result = await self.collection.replace_one({"_id": case.id, "version": expected_version}, to_doc(case), session=session)
        return result.matched_count == 1

    async def append_entry(self, case: Case, *, expected_version: int, session: Session | None) -> bool:
        """Writes `case`, whose last entry is new, guarded on the version: the entry is pushed rather than
        the whole thread rewritten (a thread holds up to 500 entries)."""
        doc = to_doc(case)
        entries = doc.pop("entries")
        doc.pop("_id")
        result = await self.collection.update_one(
            {"_id": case.id, "version": expected_version}, {"$set": doc, "$push": {"entries": entries[-1]}}, session=session
        )
        return result.matched_count == 1

    async def page(self, selection: CaseFilter, page: PageRequest, order: CaseOrder = CaseOrder.NEWEST) -> Page[Case]:
        query = filter_query(selection)
        if order is CaseOrder.NEWEST:
            return await newest_first_page(self.collection, query, page, from_doc)
        if page.after:
            keyset = _urgent_after(page.after)
            query = {"$and": [query, keyset]} if query else keyset
        docs = await self.collection.find(query).sort(MOST_URGENT).limit(page.first + 1).to_list()
        items = [from_doc(doc) for doc in docs[: page.first]]
        return Page(
            items=items,
            cursors=[encode_cursor(*_urgency_key(c)) for c in items],
            has_next_page=len(docs) > page.first,
            has_previous_page=page.after is not None,
        )

    async def pages_by_customer(self, customer_ids: list[str], selection: CaseFilter, page: PageRequest) -> dict[str, Page[Case]]:
        return await newest_first_pages_by_customer(self.collection, filter_query(selection), customer_ids, page, from_doc)

    async def for_orders(self, order_ids: list[str]) -> dict[str, list[Case]]:
        """Each order's cases, newest first (bounded per order)."""
        found: dict[str, list[Case]] = {order_id: [] for order_id in order_ids}
        cursor = self.collection.find({"order_ids": {"$in": order_ids}}).sort([("created_at", -1), ("_id", -1)])
        async for doc in cursor.limit(MAX_CASES_PER_ORDER * max(1, len(order_ids))):
            case = from_doc(doc)
            for order_id in case.links.order_ids:
                if order_id in found and len(found[order_id]) < MAX_CASES_PER_ORDER:
                    found[order_id].append(case)
        return found

    async def contact_figures(self, customer_ids: list[str]) -> dict[str, tuple[int, datetime | None]]:
        """Per customer: open (NEW, OPEN, PENDING_CUSTOMER) cases, and the latest contact on any case."""
        pipeline: list[dict[str, Any]] = [
            {"$match": {"customer_id": {"$in": customer_ids}}},
            {
                "$group": {
                    "_id": "$customer_id",
                    "open": {"$sum": {"$cond": [{"$in": ["$status", ["NEW", "OPEN", "PENDING_CUSTOMER"]]}, 1, 0]}},
                    "last": {"$max": "$last_contact_at"},
                }
            },
        ]
        figures: dict[str, tuple[int, datetime | None]] = {c: (0, None) for c in customer_ids}
        async for row in await self.collection.aggregate(pipeline):
            figures[row["_id"]] = (int(row["open"]), row.get("last"))
        return figures

    async def claim_next(self, selection: CaseFilter, assignee: str, claim: PendingClaim) -> Case | None:
        """Atomically gives `assignee` the most urgent unassigned claimable case, or None. One
        findOneAndUpdate guarded on `assignee: null`, outside any transaction: concurrent claimers
        all reach for the same case, and the server settles that contention inside one update
        (a transaction would abort and redo all its work on every write conflict). The claim's
        event travels in the same update (`pending_claim`) and is moved to the log right after."""
        query = filter_query(selection)
        query["assignee"] = None
        query["status"] = {"$in": sorted(s.value for s in CLAIMABLE if not selection.statuses or s in selection.statuses)}
        pending = {"event_id": claim.event_id, "role": claim.role, "at": claim.at}
        doc = await self.collection.find_one_and_update(
            query,
            {"$set": {"assignee": assignee, "updated_at": claim.at, "pending_claim": pending}, "$inc": {"version": 1}},
            sort=MOST_URGENT,
            return_document=ReturnDocument.AFTER,
        )
        return from_doc(doc) if doc else None

    async def settle_claim(self, case_id: str, event_id: str, *, session: Session) -> bool:
        """Clears a pending claim; True when this call did (its event is then appended in the same transaction)."""
        result = await self.collection.update_one(
            {"_id": case_id, "pending_claim.event_id": event_id}, {"$set": {"pending_claim": None}}, session=session
        )
        return result.modified_count == 1

    async def pending_claims(self, older_than: datetime, limit: int = 100) -> list[Case]:
        """Claims whose event was not logged (the claimer died in between)."""
        cursor = self.collection.find({"pending_claim.at": {"$lte": older_than}}).limit(limit)
        return [from_doc(doc) async for doc in cursor]

    # --- SLA breaches (the scheduler) ----------------------------------------------------------------

    async def claim_breach(self, kind: SlaKind, now: datetime, until: datetime, owner: str) -> Case | None:
        """Leases one case whose `kind` target has passed unmet while its clock runs, like scheduled orders."""
        due, breached = _breach_fields(kind)
        query: dict[str, Any] = {
            "status": {"$in": sorted(s.value for s in CLOCK_RUNNING)},
            f"sla.{due}": {"$lte": now},
            f"sla.{breached}": None,
            "$or": [{"lease": None}, {"lease.until": {"$lte": now}}],
        }
        if kind is SlaKind.FIRST_RESPONSE:
            query["sla.first_responded_at"] = None
        doc = await self.collection.find_one_and_update(
            query, {"$set": {"lease": {"owner": owner, "until": until}}}, sort=[(f"sla.{due}", ASCENDING)],
            return_document=ReturnDocument.AFTER,
        )
        return from_doc(doc) if doc else None

    async def release_lease(self, case_id: str, owner: str) -> None:
        await self.collection.update_one({"_id": case_id, "lease.owner": owner}, {"$set": {"lease": None}})

    # --- SLA policies --------------------------------------------------------------------------------

    async def sla_policy(self, scope: str, *, session: Session | None = None) -> SlaPolicy | None:
        doc = await self.policies.find_one({"_id": scope}, session=session)
        if doc is None:
            return None
        targets = {CasePriority(p): SlaTargets(int(t["first_response_minutes"]), int(t["resolution_minutes"])) for p, t in doc["targets"].items()}
        return SlaPolicy(scope=scope, targets=targets, version=int(doc.get("version", 0)))

    async def save_sla_policy(self, policy: SlaPolicy, *, actor: str, at: datetime, session: Session) -> SlaPolicy:
        targets = {
            p.value: {"first_response_minutes": t.first_response_minutes, "resolution_minutes": t.resolution_minutes}
            for p, t in policy.targets.items()
        }
        doc = await self.policies.find_one_and_update(
            {"_id": policy.scope},
            {"$set": {"targets": targets, "updated_at": at, "updated_by": actor}, "$inc": {"version": 1}},
            upsert=True, return_document=ReturnDocument.AFTER, session=session,
        )
        return SlaPolicy(scope=policy.scope, targets=policy.targets, version=int(doc["version"]))


def _breach_fields(kind: SlaKind) -> tuple[str, str]:
    if kind is SlaKind.FIRST_RESPONSE:
        return "first_response_due", "first_response_breached_at"
    return "resolution_due", "resolution_breached_at"

