"""Settings kept per scope, `_id` "global" or a channel id (routing and return policies): replaced
whole, versioned on every write; the services resolve a channel's scope over the global one."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any, Generic, TypeVar

from pymongo import ReturnDocument
from pymongo.asynchronous.database import AsyncDatabase

from app.repositories.database import Session

P = TypeVar("P")  # the policy's settings
C = TypeVar("C")  # the policy as stored: settings plus scope, version and who changed it when


class ScopedPolicyRepository(Generic[P, C]):
    def __init__(
        self,
        db: AsyncDatabase,
        collection: str,
        *,
        to_doc: Callable[[P], dict[str, Any]],
        configured: Callable[[dict[str, Any]], C],
    ):
        self.collection = db[collection]
        self._to_doc = to_doc
        self._configured = configured

    async def get_many(self, scopes: list[str], *, session: Session | None = None) -> dict[str, C]:
        """Stored policies among `scopes` (a channel and "global": two documents at most in practice)."""
        cursor = self.collection.find({"_id": {"$in": scopes}}, session=session).limit(len(scopes))
        return {doc["_id"]: self._configured(doc) async for doc in cursor}

    async def put(self, scope: str, policy: P, *, updated_by: str, at: datetime, session: Session | None = None) -> C:
        """Replaces the scope's settings and bumps its version atomically (upsert)."""
        doc = await self.collection.find_one_and_update(
            {"_id": scope},
            {"$set": {**self._to_doc(policy), "updated_at": at, "updated_by": updated_by}, "$inc": {"version": 1}},
            upsert=True,
            return_document=ReturnDocument.AFTER,
            session=session,
        )
        return self._configured(doc)

    async def delete(self, scope: str, *, session: Session | None = None) -> bool:
        result = await self.collection.delete_one({"_id": scope}, session=session)
        return result.deleted_count == 1
