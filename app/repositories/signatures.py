"""Webhook nonces seen recently: one document per (source, nonce), gone by TTL once the signature's
timestamp is outside the tolerance (the time check refuses a replay from then on)."""

from __future__ import annotations

from datetime import datetime

from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError


class WebhookNonceRepository:
    def __init__(self, db: AsyncDatabase):
        self.collection = db["webhook_nonces"]

    async def claim(self, source: str, nonce: str, *, seen_at: datetime, expires_at: datetime) -> bool:
        """True the first time (source, nonce) is claimed; False for a replay. One atomic insert on
        the unique `_id`, so two concurrent deliveries of the same request cannot both pass."""
        try:
            await self.collection.insert_one(
                {"_id": f"{source}:{nonce}", "source": source, "seen_at": seen_at, "expires_at": expires_at}
            )
        except DuplicateKeyError:
            return False
        return True
