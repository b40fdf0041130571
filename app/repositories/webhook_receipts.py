"""Signatures of webhooks already accepted, kept for the replay window (TTL index on `expires_at`)."""

from __future__ import annotations

from datetime import datetime

from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

from app.repositories.database import Session


class WebhookReceiptRepository:
    def __init__(self, db: AsyncDatabase):
        self.collection = db["webhook_receipts"]

    async def first_time(self, key: str, *, source: str, expires_at: datetime, session: Session | None = None) -> bool:
        """True the first time a key is seen; False for a replay. The unique _id decides, atomically."""
        try:
            await self.collection.insert_one({"_id": key, "source": source, "expires_at": expires_at}, session=session)
        except DuplicateKeyError:
            return False
        return True
