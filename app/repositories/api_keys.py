"""API keys collection."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pymongo.asynchronous.database import AsyncDatabase

from app.domain.api_keys import ApiKey
from app.domain.principals import Role
from app.repositories.database import Session


def to_doc(key: ApiKey) -> dict[str, Any]:
    return {
        "_id": key.id,
        "name": key.name,
        "role": key.role.value,
        "secret_hash": key.secret_hash,
        "created_at": key.created_at,
        "location_ids": sorted(key.location_ids),
        "channel_id": key.channel_id,
        "customer_id": key.customer_id,
        "revoked_at": key.revoked_at,
    }


def from_doc(doc: dict[str, Any]) -> ApiKey:
    return ApiKey(
        id=doc["_id"],
        name=doc["name"],
        role=Role(doc["role"]),
        secret_hash=doc["secret_hash"],
        created_at=doc["created_at"],
        location_ids=frozenset(doc.get("location_ids", [])),
        channel_id=doc.get("channel_id"),
        customer_id=doc.get("customer_id"),
        revoked_at=doc.get("revoked_at"),
    )


class ApiKeyRepository:
    def __init__(self, db: AsyncDatabase):
        self.collection = db["api_keys"]

    async def get(self, key_id: str) -> ApiKey | None:
        doc = await self.collection.find_one({"_id": key_id})
        return from_doc(doc) if doc else None

    async def insert(self, key: ApiKey) -> None:
        await self.collection.insert_one(to_doc(key))

    async def revoke(self, key_id: str, at: datetime) -> bool:
        result = await self.collection.update_one({"_id": key_id, "revoked_at": None}, {"$set": {"revoked_at": at}})
        return result.modified_count == 1

    async def repoint_customer(self, from_id: str, to_id: str, *, session: Session) -> int:
        """CUSTOMER keys scoped to one customer now act for another (a customer merge). No index on
        `customer_id`: the collection holds keys, not shoppers' sessions, so it stays small."""
        result = await self.collection.update_many(
            {"role": Role.CUSTOMER.value, "customer_id": from_id}, {"$set": {"customer_id": to_id}}, session=session
        )
        return result.modified_count

    async def list(self) -> list[ApiKey]:
        return [from_doc(doc) async for doc in self.collection.find().sort("created_at", 1).limit(10_000)]
