"""Live API processes and the sessions their transactions run in (collection `instances`).

Each process beats on its own document; the sessions it opens transactions in are added once each
(the driver's session pool reuses them). Expiry uses the server's clock ($$NOW), so processes'
clocks may disagree.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from pymongo.asynchronous.database import AsyncDatabase


@dataclass(frozen=True, slots=True)
class LapsedInstance:
    owner: str
    beats: int
    sessions: tuple[Mapping[str, Any], ...]


class InstanceRegistry:
    def __init__(self, db: AsyncDatabase):
        self.collection = db["instances"]

    async def beat(self, owner: str, seconds: float) -> bool:
        """True when the entry had to be made anew (the first beat, or after being taken for dead)."""
        result = await self.collection.update_one(
            {"_id": owner},
            [
                {
                    "$set": {
                        "expires_at": {"$add": ["$$NOW", int(seconds * 1000)]},
                        "beats": {"$add": [{"$ifNull": ["$beats", 0]}, 1]},
                        "sessions": {"$ifNull": ["$sessions", []]},
                    }
                }
            ],
            upsert=True,
        )
        return result.upserted_id is not None

    async def add_sessions(self, owner: str, session_ids: list[Mapping[str, Any]], seconds: float) -> None:
        named = [{"$literal": dict(session_id)} for session_id in session_ids]
        await self.collection.update_one(
            {"_id": owner},
            [
                {
                    "$set": {
                        "sessions": {"$setUnion": [{"$ifNull": ["$sessions", []]}, named]},
                        "expires_at": {"$ifNull": ["$expires_at", {"$add": ["$$NOW", int(seconds * 1000)]}]},
                        "beats": {"$ifNull": ["$beats", 0]},
                    }
                }
            ],
            upsert=True,
        )

    async def lapsed(self, *, limit: int = 100) -> list[LapsedInstance]:
        """Processes whose last beat has expired: dead, or stalled."""
        docs = await self.collection.find({"$expr": {"$lt": ["$expires_at", "$$NOW"]}}).to_list(limit)
        return [
            LapsedInstance(owner=doc["_id"], beats=int(doc.get("beats", 0)), sessions=tuple(doc.get("sessions") or ()))
            for doc in docs
        ]

    async def forget(self, lapsed: LapsedInstance) -> bool:
        """Removes the process's entry unless it beat again since it was seen lapsed."""
        result = await self.collection.delete_one(
            {"_id": lapsed.owner, "beats": lapsed.beats, "$expr": {"$lt": ["$expires_at", "$$NOW"]}}
        )
        return result.deleted_count == 1

    async def remove(self, owner: str) -> None:
        """A clean exit: nothing of ours is left open."""
        await self.collection.delete_one({"_id": owner})
