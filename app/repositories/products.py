"""Products collection, keyed by SKU."""

from __future__ import annotations

from typing import Any

from pymongo import ReplaceOne
from pymongo.asynchronous.database import AsyncDatabase

from app.domain.products import Dimensions, HandlingFlag, Product
from app.repositories.database import Session
from app.repositories.mapping import money_from_doc, money_to_doc


def to_doc(product: Product) -> dict[str, Any]:
    return {
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
    }


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
    )


class ProductRepository:
    def __init__(self, db: AsyncDatabase):
        self.collection = db["products"]

    async def by_skus(self, skus: list[str], *, session: Session | None = None) -> list[Product]:
        return [from_doc(doc) async for doc in self.collection.find({"_id": {"$in": skus}}, session=session)]

    async def sample_skus(self, limit: int) -> list[str]:
        return [doc["_id"] async for doc in self.collection.find({}, {"_id": 1}).sort("_id", 1).limit(limit)]

    async def upsert_many(self, products: list[Product]) -> None:
        if products:
            await self.collection.bulk_write(
                [ReplaceOne({"_id": p.sku}, to_doc(p), upsert=True) for p in products], ordered=False
            )
