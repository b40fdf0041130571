"""Reorder-point crossings (markers, `_id` = the crossing event's id) and per-location replenishment policies."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from datetime import datetime
from typing import Any

from pymongo import ASCENDING
from pymongo.asynchronous.database import AsyncDatabase

from app.domain.replenishment import (
    Crossing,
    CrossingOutcome,
    ReplenishmentMode,
    ReplenishmentPolicy,
    TransferMode,
)
from app.repositories.database import Session


def crossing_to_doc(crossing: Crossing) -> dict[str, Any]:
    return {
        "_id": crossing.id,
        "sku": crossing.sku,
        "location_id": crossing.location_id,
        "reorder_point": crossing.reorder_point,
        "reorder_quantity": crossing.reorder_quantity,
        "available": crossing.available,
        "at": crossing.at,
        "outcome": crossing.outcome.value,
        "purchase_order_id": crossing.purchase_order_id,
        "transfer_from": crossing.transfer_from,
        "done_at": crossing.done_at,
    }


def crossing_from_doc(doc: dict[str, Any]) -> Crossing:
    return Crossing(
        id=doc["_id"],
        sku=doc["sku"],
        location_id=doc["location_id"],
        reorder_point=int(doc["reorder_point"]),
        reorder_quantity=int(doc["reorder_quantity"]),
        available=int(doc["available"]),
        at=doc["at"],
        outcome=CrossingOutcome(doc.get("outcome", "PENDING")),
        purchase_order_id=doc.get("purchase_order_id"),
        transfer_from=doc.get("transfer_from"),
        done_at=doc.get("done_at"),
    )


def policy_from_doc(location_id: str, doc: dict[str, Any] | None) -> ReplenishmentPolicy:
    if doc is None:
        return ReplenishmentPolicy(location_id=location_id)
    return ReplenishmentPolicy(
        location_id=location_id,
        mode=ReplenishmentMode(doc["mode"]),
        transfers=TransferMode(doc["transfers"]),
        transfer_radius_km=float(doc["transfer_radius_km"]),
        allow_over_receipt=bool(doc["allow_over_receipt"]),
        version=int(doc.get("version", 0)),
    )


class CrossingRepository:
    def __init__(self, db: AsyncDatabase):
        self.collection = db["reorder_crossings"]

    async def record(self, crossings: list[Crossing], *, session: Session | None) -> None:
        """In the transaction of the stock change that crossed."""
        if crossings:
            await self.collection.insert_many([crossing_to_doc(c) for c in crossings], ordered=True, session=session)

    async def get(self, crossing_id: str, *, session: Session | None = None) -> Crossing | None:
        doc = await self.collection.find_one({"_id": crossing_id}, session=session)
        return crossing_from_doc(doc) if doc else None

    async def claim(
        self, crossing_id: str, outcome: CrossingOutcome, *, at: datetime, session: Session,
        purchase_order_id: str | None = None, transfer_from: str | None = None,
    ) -> bool:
        """PENDING → `outcome`, guarded: in the transaction that acts on it, so only one worker's
        transaction can commit the crossing's replenishment."""
        result = await self.collection.update_one(
            {"_id": crossing_id, "outcome": CrossingOutcome.PENDING.value},
            {"$set": {"outcome": outcome.value, "done_at": at, "purchase_order_id": purchase_order_id, "transfer_from": transfer_from}},
            session=session,
        )
        return result.modified_count == 1

    async def pending(self, *, older_than: datetime | None = None, limit: int = 500) -> list[str]:
        query: dict[str, Any] = {"outcome": CrossingOutcome.PENDING.value}
        if older_than is not None:
            query["at"] = {"$lt": older_than}
        cursor = self.collection.find(query, {"_id": 1}).sort("at", ASCENDING).limit(limit)
        return [doc["_id"] async for doc in cursor]

    @contextlib.asynccontextmanager
    async def inserted(self) -> AsyncIterator[AsyncIterator[str]]:
        """Ids of crossings committed from now on, in commit order (a change stream)."""
        stream = await self.collection.watch([{"$match": {"operationType": "insert"}}], max_await_time_ms=1_000)

        async def ids() -> AsyncIterator[str]:
            async for change in stream:
                yield change["documentKey"]["_id"]

        try:
            yield ids()
        finally:
            await stream.close()


class ReplenishmentPolicyRepository:
    def __init__(self, db: AsyncDatabase):
        self.collection = db["replenishment_policies"]

    async def get(self, location_id: str, *, session: Session | None = None) -> ReplenishmentPolicy:
        return policy_from_doc(location_id, await self.collection.find_one({"_id": location_id}, session=session))

    async def save(self, policy: ReplenishmentPolicy, *, session: Session) -> ReplenishmentPolicy:
        """Writes the policy with the next version; returns the stored one."""
        doc = await self.collection.find_one_and_update(
            {"_id": policy.location_id},
            {
                "$set": {
                    "mode": policy.mode.value,
                    "transfers": policy.transfers.value,
                    "transfer_radius_km": policy.transfer_radius_km,
                    "allow_over_receipt": policy.allow_over_receipt,
                },
                "$inc": {"version": 1},
            },
            upsert=True,
            return_document=True,
            session=session,
        )
        return policy_from_doc(policy.location_id, doc)
