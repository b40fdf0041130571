"""The sequencer's two documents: its lease (who leads) and its relay state (fence, resume token, last seq)."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from pymongo import ReturnDocument
from pymongo.asynchronous.database import AsyncDatabase

from app.repositories.database import Session
from app.repositories.events import ResumeToken

SEQUENCER = "sequencer"
_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)


@dataclass(frozen=True, slots=True)
class Lease:
    owner: str
    epoch: int


@dataclass(frozen=True, slots=True)
class RelayState:
    epoch: int
    last_seq: int
    resume_token: ResumeToken | None


class LeaseRepository:
    """Leader election on one document. Expiry uses the server's clock ($$NOW), so instances' clocks
    may disagree without two leaders believing they hold an unexpired lease."""

    def __init__(self, db: AsyncDatabase):
        self.collection = db["leases"]

    async def acquire(self, name: str, owner: str, seconds: float) -> Lease | None:
        """Take the lease if it is free or expired (a new epoch), or extend it if already ours."""
        expires = {"$add": ["$$NOW", int(seconds * 1000)]}
        # $expr (server time) cannot sit in an upsert's filter, so create the document first.
        await self.collection.update_one(
            {"_id": name}, {"$setOnInsert": {"owner": None, "epoch": 0, "expires_at": _EPOCH}}, upsert=True
        )
        keep_epoch_if_ours = {"$cond": [{"$eq": ["$owner", owner]}, "$epoch", {"$add": ["$epoch", 1]}]}
        doc = await self.collection.find_one_and_update(
            {"_id": name, "$or": [{"owner": owner}, {"$expr": {"$lt": ["$expires_at", "$$NOW"]}}]},
            [{"$set": {"epoch": keep_epoch_if_ours, "owner": owner, "expires_at": expires}}],
            return_document=ReturnDocument.AFTER,
        )
        return Lease(owner=doc["owner"], epoch=int(doc["epoch"])) if doc else None

    async def renew(self, name: str, lease: Lease, seconds: float) -> bool:
        result = await self.collection.update_one(
            {"_id": name, "owner": lease.owner, "epoch": lease.epoch},
            [{"$set": {"expires_at": {"$add": ["$$NOW", int(seconds * 1000)]}}}],
        )
        return result.matched_count == 1

    async def release(self, name: str, lease: Lease) -> None:
        """Expire our lease now so another instance takes over without waiting for it to time out.
        Our session goes with it: a successor only ends the session of a holder that vanished."""
        await self.collection.update_one(
            {"_id": name, "owner": lease.owner, "epoch": lease.epoch},
            [{"$set": {"expires_at": "$$NOW"}}, {"$unset": "session"}],
        )

    async def record_session(self, name: str, lease: Lease, session_id: Mapping[str, Any]) -> bool:
        """Name the session the holder writes through, so a successor can abort its transaction if it dies."""
        result = await self.collection.update_one(
            {"_id": name, "owner": lease.owner, "epoch": lease.epoch},
            {"$set": {"session": {"owner": lease.owner, "epoch": lease.epoch, "id": session_id}}},
        )
        return result.matched_count == 1

    async def predecessor_session(self, name: str, lease: Lease) -> Mapping[str, Any] | None:
        """The session another, earlier holder recorded, if any. Never our own: its id went back to
        our driver's pool, where another of our transactions may be using it now."""
        doc = await self.collection.find_one(
            {"_id": name, "session.epoch": {"$lt": lease.epoch}, "session.owner": {"$ne": lease.owner}}, {"session": 1}
        )
        return doc["session"]["id"] if doc else None

    async def holder(self, name: str) -> Lease | None:
        doc = await self.collection.find_one({"_id": name, "$expr": {"$gte": ["$expires_at", "$$NOW"]}})
        return Lease(owner=doc["owner"], epoch=int(doc["epoch"])) if doc else None


class RelayStateRepository:
    """One document, written in the same transaction as each batch of stamps.

    `epoch` fences old leaders: a new leader raises it before reading anything, and every stamping
    transaction only writes if the epoch is still its own, so a deposed leader's batch aborts.
    """

    def __init__(self, db: AsyncDatabase):
        self.collection = db["relay_state"]

    async def fence(self, epoch: int) -> RelayState:
        doc = await self.collection.find_one_and_update(
            {"_id": SEQUENCER},
            {"$max": {"epoch": epoch}, "$setOnInsert": {"last_seq": 0, "resume_token": None}},
            upsert=True,
            return_document=ReturnDocument.AFTER,
        )
        return RelayState(epoch=int(doc["epoch"]), last_seq=int(doc["last_seq"]), resume_token=doc["resume_token"])

    async def save(self, epoch: int, last_seq: int, resume_token: ResumeToken | None, *, session: Session) -> bool:
        update: dict[str, Any] = {"last_seq": last_seq}
        if resume_token is not None:
            update["resume_token"] = resume_token
        result = await self.collection.update_one(
            {"_id": SEQUENCER, "epoch": epoch}, {"$set": update, "$currentDate": {"stamped_at": True}}, session=session
        )
        return result.matched_count == 1

    async def last_seq(self) -> int:
        doc = await self.collection.find_one({"_id": SEQUENCER}, {"last_seq": 1})
        return int(doc["last_seq"]) if doc else 0

    @contextlib.asynccontextmanager
    async def progress(self) -> AsyncIterator[AsyncIterator[int]]:
        """The last stamped seq each time a batch commits: followers read the new events by seq range."""
        stream = await self.collection.watch(
            [{"$match": {"operationType": {"$in": ["update", "replace", "insert"]}, "documentKey._id": SEQUENCER}}],
            max_await_time_ms=1_000,
        )

        async def seqs() -> AsyncIterator[int]:
            async for change in stream:
                fields = (change.get("updateDescription") or {}).get("updatedFields") or change.get("fullDocument") or {}
                if "last_seq" in fields:
                    yield int(fields["last_seq"])

        try:
            yield seqs()
        finally:
            await stream.close()
