"""Newest-first keyset pages on (created_at, _id): stable under inserts, no skip. Orders,
shipments and returns page this way; one cursor format for all."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any, Protocol, TypeVar

from pymongo.asynchronous.collection import AsyncCollection

from app.domain.errors import ErrorCode, FieldIssue, InvalidInput
from app.domain.pagination import Page, PageRequest, decode_cursor, encode_cursor


class _Dated(Protocol):
    id: str
    created_at: datetime


T = TypeVar("T", bound=_Dated)

NEWEST_FIRST = [("created_at", -1), ("_id", -1)]


def created_between(created_from: datetime | None, created_to: datetime | None) -> dict[str, Any]:
    """The `created_at` condition of a list filter's date range [from, to); empty when open."""
    created: dict[str, Any] = {}
    if created_from:
        created["$gte"] = created_from
    if created_to:
        created["$lt"] = created_to
    return {"created_at": created} if created else {}


def after_cursor(after: str) -> dict[str, Any]:
    """Strictly after the cursor in (created_at desc, _id desc) order."""
    created_at, item_id = decode_cursor(after, 2)
    if not isinstance(created_at, datetime):
        raise InvalidInput([FieldIssue(ErrorCode.INVALID_INPUT, "after is not a valid cursor", ("after",))])
    return {"$or": [{"created_at": {"$lt": created_at}}, {"created_at": created_at, "_id": {"$lt": str(item_id)}}]}


def page_of(docs: Sequence[dict[str, Any]], page: PageRequest, from_doc: Callable[[dict[str, Any]], T]) -> Page[T]:
    """`docs` holds up to first + 1 documents: the extra one only says that a next page exists."""
    items = [from_doc(doc) for doc in docs[: page.first]]
    return Page(
        items=items,
        cursors=[encode_cursor(item.created_at, item.id) for item in items],
        has_next_page=len(docs) > page.first,
        has_previous_page=page.after is not None,
    )


async def newest_first_page(
    collection: AsyncCollection,
    query: dict[str, Any],
    page: PageRequest,
    from_doc: Callable[[dict[str, Any]], T],
    *,
    leave_out: Sequence[str] = (),
) -> Page[T]:
    """`leave_out`: top-level fields the page does not read (from_doc must do without them)."""
    if page.after:
        keyset = after_cursor(page.after)
        query = {"$and": [query, keyset]} if query else keyset
    projection = {name: 0 for name in leave_out} or None
    docs = await collection.find(query, projection).sort(NEWEST_FIRST).limit(page.first + 1).to_list()
    return page_of(docs, page, from_doc)


async def newest_first_pages_by_customer(
    collection: AsyncCollection,
    query: dict[str, Any],
    customer_ids: list[str],
    page: PageRequest,
    from_doc: Callable[[dict[str, Any]], T],
    *,
    leave_out: Sequence[str] = (),
) -> dict[str, Page[T]]:
    """The same page for several customers in one aggregation ($firstN per customer, bounded).
    `leave_out` as for newest_first_page."""
    query = {**query, "customer_id": {"$in": customer_ids}}
    if page.after:
        query = {"$and": [query, after_cursor(page.after)]}
    pipeline: list[dict[str, Any]] = [
        {"$match": query},
        {"$sort": {"customer_id": 1, "created_at": -1, "_id": -1}},
        *([{"$unset": list(leave_out)}] if leave_out else []),
        {"$group": {"_id": "$customer_id", "docs": {"$firstN": {"input": "$$ROOT", "n": page.first + 1}}}},
    ]
    found: dict[str, list[dict[str, Any]]] = {}
    if page.first > 0:
        async for row in await collection.aggregate(pipeline):
            found[row["_id"]] = row["docs"]
    return {customer_id: page_of(found.get(customer_id, []), page, from_doc) for customer_id in customer_ids}
