"""Channels collection."""

from __future__ import annotations

from typing import Any

from pymongo.asynchronous.database import AsyncDatabase

from app.domain.carriers import ShippingPolicy
from app.domain.channels import BackorderPolicy, Channel, ChannelKind
from app.repositories.database import Session


def to_doc(channel: Channel) -> dict[str, Any]:
    return {
        "_id": channel.id,
        "name": channel.name,
        "kind": channel.kind.value,
        "backorder_policy": channel.backorder_policy.value,
        "shipping_policy": channel.shipping_policy.value,
        "active": channel.active,
    }


def from_doc(doc: dict[str, Any]) -> Channel:
    return Channel(
        id=doc["_id"],
        name=doc["name"],
        kind=ChannelKind(doc["kind"]),
        backorder_policy=BackorderPolicy(doc.get("backorder_policy", BackorderPolicy.BACKORDER)),
        shipping_policy=ShippingPolicy(doc.get("shipping_policy", ShippingPolicy.CHEAPEST)),
        active=doc.get("active", True),
    )


class ChannelRepository:
    def __init__(self, db: AsyncDatabase):
        self.collection = db["channels"]

    async def all(self) -> list[Channel]:
        # A retailer has a handful of channels; bounded anyway.
        return [from_doc(doc) async for doc in self.collection.find().sort("_id", 1).limit(500)]

    async def by_ids(self, ids: list[str], *, session: Session | None = None) -> list[Channel]:
        return [from_doc(doc) async for doc in self.collection.find({"_id": {"$in": ids}}, session=session)]

    async def put(self, channel: Channel, *, session: Session) -> None:
        """Create or replace one channel in the caller's transaction."""
        doc = to_doc(channel)
        await self.collection.replace_one({"_id": doc["_id"]}, doc, upsert=True, session=session)

    async def upsert_many(self, channels: list[Channel]) -> None:
        """Unaudited bulk load (demo seed, tests); the API goes through ChannelService."""
        for channel in channels:
            doc = to_doc(channel)
            await self.collection.replace_one({"_id": doc["_id"]}, doc, upsert=True)
