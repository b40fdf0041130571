"""Products collection, keyed by SKU."""

from __future__ import annotations

import re
from typing import Any

from pymongo import ReplaceOne, UpdateOne
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import BulkWriteError

from app.domain.errors import Conflict
from app.domain.gtin import gtin14, looks_like_gtin
from app.domain.pagination import Page, PageRequest, decode_cursor, encode_cursor
from app.domain.products import MAX_SEARCH_WORDS, Dimensions, HandlingFlag, Product, ProductFilter, search_terms, search_words
from app.repositories.database import Session
from app.repositories.mapping import money_from_doc, money_to_doc

_DUPLICATE_KEY = 11000


def to_doc(product: Product) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "_id": product.sku,
        "name": product.name,
        "price": money_to_doc(product.price),
        "weight_grams": product.weight_grams,
        "dimensions": {
            "length_cm": product.dimensions.length_cm,
            "width_cm": product.dimensions.width_cm,
            "height_cm": product.dimensions.height_cm,
        },
        "handling": sorted(flag.value for flag in product.handling),
        "category": product.category,
        "active": product.active,
        "barcode": product.barcode,
        "search_terms": search_terms(product),
    }
    if product.barcode:
        doc["gtin14"] = gtin14(product.barcode)  # absent otherwise: the unique index is partial on strings
    return doc


def from_doc(doc: dict[str, Any]) -> Product:
    dims = doc.get("dimensions") or {}
    return Product(
        sku=doc["_id"],
        name=doc["name"],
        price=money_from_doc(doc.get("price")),
        weight_grams=int(doc.get("weight_grams", 0)),
        dimensions=Dimensions(
            length_cm=float(dims.get("length_cm", 0)),
            width_cm=float(dims.get("width_cm", 0)),
            height_cm=float(dims.get("height_cm", 0)),
        ),
        handling=frozenset(HandlingFlag(flag) for flag in doc.get("handling", [])),
        category=doc.get("category"),
        active=doc.get("active", True),
        barcode=doc.get("barcode"),
    )


def _prefix(term: str) -> dict[str, Any]:
    # Anchored prefix regex on an indexed array: an index range scan, not a collection scan.
    # re.escape keeps user input a literal, never a pattern.
    return {"search_terms": {"$regex": "^" + re.escape(term)}}


def filter_query(selection: ProductFilter) -> dict[str, Any]:
    """The MongoDB filter for a selection; every text alternative is served by an index
    (`search_terms` for SKU and name-word prefixes, `gtin14` for a barcode)."""
    clauses: list[dict[str, Any]] = []
    text = (selection.search or "").strip()
    if text:
        lowered = text.lower()
        alternatives: list[dict[str, Any]] = []
        if not any(c.isspace() for c in lowered):
            alternatives.append(_prefix(lowered))  # one token: a SKU prefix, or the start of a name word
        else:
            words = search_words(lowered)[:MAX_SEARCH_WORDS]
            if words:
                alternatives.append({"$and": [_prefix(word) for word in words]})  # every word starts a name word
        if looks_like_gtin(text):
            alternatives.append({"gtin14": gtin14(text)})
        clauses.append({"$or": alternatives} if alternatives else {"_id": {"$in": []}})
    if selection.active is not None:
        clauses.append({"active": selection.active})
    if selection.category is not None:
        clauses.append({"category": selection.category.strip()})
    if selection.handling is not None:
        clauses.append({"handling": selection.handling.value})
    if not clauses:
        return {}
    return clauses[0] if len(clauses) == 1 else {"$and": clauses}


class ProductRepository:
    def __init__(self, db: AsyncDatabase):
        self.collection = db["products"]

    async def by_skus(self, skus: list[str], *, session: Session | None = None) -> list[Product]:
        return [from_doc(doc) async for doc in self.collection.find({"_id": {"$in": skus}}, session=session)]

    async def holders_of(self, barcodes: list[str], *, session: Session | None = None) -> dict[str, str]:
        """GTIN-14 → SKU of the product holding that barcode now."""
        keys = sorted({gtin14(b) for b in barcodes})
        if not keys:
            return {}
        cursor = self.collection.find({"gtin14": {"$in": keys}}, {"gtin14": 1}, session=session)
        return {doc["gtin14"]: doc["_id"] async for doc in cursor}

    async def page(self, selection: ProductFilter, page: PageRequest) -> Page[Product]:
        """By SKU, keyset-paged (the cursor is the last SKU seen)."""
        query = filter_query(selection)
        if page.after:
            (after_sku,) = decode_cursor(page.after, 1)
            keyset = {"_id": {"$gt": str(after_sku)}}
            query = {"$and": [query, keyset]} if query else keyset
        docs = await self.collection.find(query).sort("_id", 1).limit(page.first + 1).to_list()
        items = [from_doc(doc) for doc in docs[: page.first]]
        return Page(
            items=items,
            cursors=[encode_cursor(p.sku) for p in items],
            has_next_page=len(docs) > page.first,
            has_previous_page=page.after is not None,
        )

    async def existing_skus(self, skus: list[str], *, session: Session | None = None) -> set[str]:
        """Which of these SKUs are in the catalogue (ids only: a bulk import checks hundreds at a time)."""
        return {doc["_id"] async for doc in self.collection.find({"_id": {"$in": skus}}, {"_id": 1}, session=session)}

    async def sample_skus(self, limit: int) -> list[str]:
        return [doc["_id"] async for doc in self.collection.find({}, {"_id": 1}).sort("_id", 1).limit(limit)]

    async def write(self, products: list[Product], *, session: Session) -> None:
        """Create or replace these products in the caller's transaction. Their barcodes are
        released first, so one batch may move or swap barcodes between its own products; a barcode
        held by a product outside the batch (a concurrent writer that committed first) is a Conflict."""
        if not products:
            return
        skus = [p.sku for p in products]
        await self.collection.update_many({"_id": {"$in": skus}, "gtin14": {"$exists": True}}, {"$unset": {"gtin14": ""}}, session=session)
        try:
            await self.collection.bulk_write(
                [ReplaceOne({"_id": p.sku}, to_doc(p), upsert=True) for p in products], ordered=True, session=session
            )
        except BulkWriteError as exc:
            if any(error.get("code") == _DUPLICATE_KEY for error in exc.details.get("writeErrors", [])):
                raise Conflict("a barcode in this batch was just given to another product; try again", field=("products",)) from exc
            raise

    async def index_unsearchable(self, batch_size: int = 1_000) -> int:
        """Gives products stored before search existed their search terms (a no-op once done):
        search reads only that field, so such products were invisible to it."""
        indexed = 0
        while True:
            docs = await self.collection.find({"search_terms": {"$exists": False}}).limit(batch_size).to_list()
            if not docs:
                return indexed
            await self.collection.bulk_write(
                [
                    UpdateOne({"_id": doc["_id"], "search_terms": {"$exists": False}}, {"$set": {"search_terms": search_terms(from_doc(doc))}})
                    for doc in docs
                ],
                ordered=False,
            )
            indexed += len(docs)

    async def upsert_many(self, products: list[Product]) -> None:
        """Unaudited bulk load (demo seed, tests); the API goes through ProductService."""
        if products:
            await self.collection.bulk_write(
                [ReplaceOne({"_id": p.sku}, to_doc(p), upsert=True) for p in products], ordered=False
            )
