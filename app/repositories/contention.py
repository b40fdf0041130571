"""`sku_turns`: one small document per SKU that captures in different processes take turns on.

A capture that has collided with another process on a SKU claims the SKU's turn document as the
first write of its transaction. MongoDB lets one transaction at a time write a document, so a second
claimant fails at once, before it has read or planned anything. A loser then queues: it writes
itself into `waiter` outside any transaction, a write the server holds back until the current
holder's transaction ends, and the next claim by anybody else is refused while that registration
stands. Claims by whoever holds the waiting slot, or when it is empty or its lease has run out,
are granted and clear it. So two processes alternate on a hot SKU instead of one starving the other.

The lease (`waiter_until`, in the server's clock) keeps a waiter that died from blocking a SKU for
longer than that. Nothing here decides stock: correctness rests on the guarded reservation in the
same transaction, whether or not the claimant took its turn.
"""

from __future__ import annotations

from typing import Any

from pymongo import ReturnDocument
from pymongo.errors import DuplicateKeyError
from pymongo.asynchronous.database import AsyncDatabase

from app.domain.errors import Conflict
from app.repositories.database import Session

WAITER_LEASE_MS = 2_000


class NotYourTurn(Conflict):
    """Another capture is registered as next on this SKU: this one waits for its own turn."""


def _free(me: str) -> dict[str, Any]:
    """Whether `me` may take the turn: nobody waits, `me` is the one waiting, or the wait expired."""
    return {
        "$or": [
            {"$eq": [{"$ifNull": ["$waiter", None]}, None]},
            {"$eq": ["$waiter", me]},
            {"$lt": ["$waiter_until", "$$NOW"]},
        ]
    }


class TurnRepository:
    def __init__(self, db: AsyncDatabase):
        self.collection = db["sku_turns"]

    async def claim(self, session: Session, skus: list[str], me: str) -> None:
        """Inside a transaction, as its first writes: take the turn on each SKU (sorted, so two
        claimants of the same SKUs meet on the first). Raises NotYourTurn, or the driver's write
        conflict when another transaction holds a turn now."""
        for sku in sorted(skus):
            free = _free(me)
            take = {
                "granted": free,
                "turns": {"$add": [{"$ifNull": ["$turns", 0]}, 1]},
                "waiter": {"$cond": [free, None, "$waiter"]},
                "waiter_until": {"$cond": [free, None, "$waiter_until"]},
            }
            try:
                after = await self.collection.find_one_and_update(
                    {"_id": sku},
                    [{"$set": take}],
                    projection={"_id": 0, "granted": 1},
                    upsert=True,
                    return_document=ReturnDocument.AFTER,
                    session=session,
                )
            except DuplicateKeyError:  # two first claims of a new SKU: the other one inserted it
                raise NotYourTurn(f"the turn of {sku} was being created") from None
            if not after or not after["granted"]:
                raise NotYourTurn(f"another capture is next in line for {sku}")

    async def wait_in_line(self, skus: list[str], me: str) -> bool:
        """Outside any transaction: register `me` as next on each SKU whose waiting slot is free.
        The write always changes the document (`knocks`), so the server holds it back while a
        transaction holds the turn: it returns about when that transaction ends, and sees the slot
        its commit freed. False when someone else is registered on some SKU (from that one on,
        nothing is registered)."""
        for sku in sorted(skus):
            free = _free(me)
            after = await self.collection.find_one_and_update(
                {"_id": sku},
                [
                    {
                        "$set": {
                            "knocks": {"$add": [{"$ifNull": ["$knocks", 0]}, 1]},
                            "waiter": {"$cond": [free, me, "$waiter"]},
                            "waiter_until": {"$cond": [free, {"$add": ["$$NOW", WAITER_LEASE_MS]}, "$waiter_until"]},
                        }
                    }
                ],
                projection={"_id": 0, "waiter": 1},
                upsert=True,
                return_document=ReturnDocument.AFTER,
            )
            if not after or after.get("waiter") != me:
                return False  # in sorted order, like the claims: never next in a later line only
        return True

    async def leave_line(self, skus: list[str], me: str) -> None:
        """Give up a registration (a capture that ended without taking its turn)."""
        await self.collection.update_many({"_id": {"$in": sorted(skus)}, "waiter": me}, {"$set": {"waiter": None, "waiter_until": None}})
