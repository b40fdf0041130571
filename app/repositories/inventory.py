"""Inventory collection: one document per SKU × location.

`available` is stored (on_hand − reserved − safety stock, floored at 0) and kept current by every
write, so it can be indexed, filtered on in guarded updates and read by the geo query.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pymongo import ReplaceOne, UpdateOne
from pymongo.asynchronous.database import AsyncDatabase

from app.domain.geo import GeoPoint
from app.domain.inventory import (
    apply_delta,
    BinLocation,
    InventoryLevel,
    ReservationMismatch,
    StockPolicy,
    StoreStock,
    available,
    empty_level,
)
from app.domain.locations import Location, LocationKind
from app.domain.routing.plan import StockAtLocation
from app.repositories.database import Session
from app.repositories.mapping import point_to_doc

EARTH_RADIUS_M = 6_371_008.8
MAX_LEVELS_PER_SKU = 10_000


def inventory_id(sku: str, location_id: str) -> str:
    return f"{sku}@{location_id}"


def location_copy(location: Location) -> dict[str, Any]:
    """What an inventory document copies from its location, so storeAvailability is one `$geoNear`
    on `inventory`: kind, point, active, and the location's `copies_version` they came from (a
    location change bumps it; `refresh_location_copies` brings stale documents up to it)."""
    return {
        "location_kind": location.kind.value,
        "point": point_to_doc(location.point),
        "location_active": location.active,
        "location_version": location.copies_version,
    }


def _location_copy_stage(location: Location) -> dict[str, Any]:
    """`location_copy` for an update pipeline: the copy is written only if it is at least as new as
    the one stored, so a stock change that read the location before it moved cannot put the old
    point back."""
    newer = {"$gte": [location.copies_version, {"$ifNull": ["$location_version", 0]}]}
    return {name: {"$cond": [newer, {"$literal": value}, f"${name}"]} for name, value in location_copy(location).items()}


def to_doc(level: InventoryLevel, location: Location) -> dict[str, Any]:
    return {
        "_id": inventory_id(level.sku, level.location_id),
        "sku": level.sku,
        "location_id": level.location_id,
        **location_copy(location),
        "on_hand": level.on_hand,
        "reserved": level.reserved,
        "safety_stock": level.safety_stock,
        "incoming": level.incoming,
        "available": available(level.on_hand, level.reserved, level.safety_stock),
        "reorder_point": level.reorder_point,
        "reorder_quantity": level.reorder_quantity,
        "bin": (
            {"zone": level.bin.zone, "aisle": level.bin.aisle, "shelf": level.bin.shelf, "bin": level.bin.bin}
            if level.bin
            else None
        ),
        "updated_at": level.updated_at,
    }


def _bin_doc(bin_: BinLocation) -> dict[str, str]:
    return {"zone": bin_.zone, "aisle": bin_.aisle, "shelf": bin_.shelf, "bin": bin_.bin}


def from_doc(doc: dict[str, Any]) -> InventoryLevel:
    bin_doc = doc.get("bin")
    return InventoryLevel(
        sku=doc["sku"],
        location_id=doc["location_id"],
        on_hand=int(doc.get("on_hand", 0)),
        reserved=int(doc.get("reserved", 0)),
        safety_stock=int(doc.get("safety_stock", 0)),
        incoming=int(doc.get("incoming", 0)),
        reorder_point=int(doc.get("reorder_point", 0)),
        reorder_quantity=int(doc.get("reorder_quantity", 0)),
        bin=BinLocation(bin_doc["zone"], bin_doc["aisle"], bin_doc["shelf"], bin_doc["bin"]) if bin_doc else None,
        updated_at=doc.get("updated_at"),
    )


def _field(name: str) -> dict[str, Any]:
    return {"$ifNull": [f"${name}", 0]}


_LEVEL_FIELDS = {
    "_id": 0, "sku": 1, "location_id": 1, "on_hand": 1, "reserved": 1, "safety_stock": 1,
    "incoming": 1, "reorder_point": 1, "reorder_quantity": 1,
}


def stock_at(level: InventoryLevel) -> StockAtLocation:
    return StockAtLocation(
        sku=level.sku,
        location_id=level.location_id,
        available=level.available,
        on_hand=level.on_hand,
        reorder_point=level.reorder_point,
    )


# Recomputes the stored `available` in the same atomic update as the change (an update pipeline).
_AVAILABLE = {
    "$set": {
        "available": {"$max": [0, {"$subtract": [{"$subtract": ["$on_hand", "$reserved"]}, "$safety_stock"]}]}
    }
}


class InventoryRepository:
    def __init__(self, db: AsyncDatabase):
        self.collection = db["inventory"]

    async def for_skus(self, skus: list[str], *, session: Session | None = None) -> list[InventoryLevel]:
        cursor = self.collection.find({"sku": {"$in": skus}}, session=session).sort([("sku", 1), ("location_id", 1)])
        return [from_doc(doc) async for doc in cursor.limit(MAX_LEVELS_PER_SKU * max(1, len(skus)))]

    async def routing_stock(self, skus: list[str], *, session: Session | None = None) -> list[StockAtLocation]:
        """What routing needs: levels of these SKUs with something available, wherever they are."""
        return [stock_at(level) for level in await self.routing_levels(skus, session=session)]

    async def routing_levels(self, skus: list[str], *, session: Session | None = None) -> list[InventoryLevel]:
        """`routing_stock` as whole levels (quantities and policy, no bin): in a transaction, what a
        reservation of one of them starts from (a level changed since would fail it with a write
        conflict), so the reservation need not read it again."""
        cursor = self.collection.find(
            {"sku": {"$in": skus}, "available": {"$gt": 0}},
            _LEVEL_FIELDS,
            session=session,
            batch_size=1_000,  # a popular SKU is stocked at hundreds of locations: fewer round trips
        ).limit(MAX_LEVELS_PER_SKU * max(1, len(skus)))
        return [
            InventoryLevel(
                sku=doc["sku"],
                location_id=doc["location_id"],
                on_hand=int(doc.get("on_hand", 0)),
                reserved=int(doc.get("reserved", 0)),
                safety_stock=int(doc.get("safety_stock", 0)),
                incoming=int(doc.get("incoming", 0)),
                reorder_point=int(doc.get("reorder_point", 0)),
                reorder_quantity=int(doc.get("reorder_quantity", 0)),
            )
            async for doc in cursor
        ]

    async def by_keys(self, keys: list[tuple[str, str]], *, session: Session | None = None) -> list[InventoryLevel]:
        ids = [inventory_id(sku, location_id) for sku, location_id in keys]
        return [from_doc(doc) async for doc in self.collection.find({"_id": {"$in": ids}}, session=session)]

    async def stores_with_stock(
        self, skus: list[str], near: GeoPoint, radius_km: float, limit: int, *, require_all: bool
    ) -> list[StoreStock]:
        """Stores within the radius where the SKUs are available now, nearest first."""
        pipeline: list[dict[str, Any]] = [
            {
                "$geoNear": {
                    "near": point_to_doc(near),
                    "key": "point",
                    "distanceField": "distance_m",
                    "maxDistance": radius_km * 1000.0,
                    "spherical": True,
                    "query": {
                        "sku": skus[0] if len(skus) == 1 else {"$in": skus},
                        "location_kind": LocationKind.STORE.value,
                        "location_active": {"$ne": False},  # absent on documents written before it was copied
                        "available": {"$gt": 0},
                    },
                }
            },
            {"$project": {"_id": 0, "sku": 1, "location_id": 1, "available": 1, "distance_m": 1}},
        ]
        if len(skus) == 1:
            pipeline.append({"$limit": limit})
        else:
            pipeline += [
                {
                    "$group": {
                        "_id": "$location_id",
                        "distance_m": {"$min": "$distance_m"},
                        "items": {"$push": {"sku": "$sku", "available": "$available"}},
                    }
                },
                *([{"$match": {f"items.{len(skus) - 1}": {"$exists": True}}}] if require_all else []),
                {"$sort": {"distance_m": 1, "_id": 1}},
                {"$limit": limit},
                {"$project": {"location_id": "$_id", "distance_m": 1, "items": 1}},
            ]
        results: list[StoreStock] = []
        async for row in await self.collection.aggregate(pipeline):
            items = row.get("items") or [{"sku": row["sku"], "available": row["available"]}]
            results.append(
                StoreStock(
                    location_id=row["location_id"],
                    distance_km=row["distance_m"] / 1000.0,
                    quantities={item["sku"]: int(item["available"]) for item in items},
                )
            )
        return results

    async def insert_many(self, rows: list[tuple[InventoryLevel, Location]]) -> None:
        """Plain inserts for bulk loads into an empty collection (several times faster than upserts)."""
        if rows:
            await self.collection.insert_many([to_doc(lvl, loc) for lvl, loc in rows], ordered=False)

    async def is_empty(self) -> bool:
        return await self.collection.find_one({}, {"_id": 1}) is None

    async def upsert_many(self, rows: list[tuple[InventoryLevel, Location]], *, session: Session | None = None) -> None:
        if rows:
            await self.collection.bulk_write(
                [ReplaceOne({"_id": inventory_id(lvl.sku, lvl.location_id)}, to_doc(lvl, loc), upsert=True) for lvl, loc in rows],
                ordered=False,
                session=session,
            )

    async def move(
        self,
        sku: str,
        location_id: str,
        *,
        on_hand: int = 0,
        reserved: int = 0,
        require_available: bool = False,
        at: datetime,
        session: Session | None,
    ) -> tuple[InventoryLevel, InventoryLevel] | None:
        """Adds both deltas in one guarded update (fulfilment: on hand and reserved fall together);
        None when the level is missing or a guard fails (on hand or reserved would go negative; with
        `require_available`, not enough available to reserve). Returns the level before and after."""
        guard: dict[str, Any] = {}
        if on_hand < 0:
            guard["on_hand"] = {"$gte": -on_hand}
        if reserved < 0:
            guard["reserved"] = {"$gte": -reserved}
        if require_available and reserved > 0:
            guard["available"] = {"$gte": reserved}
        before = await self._update(
            sku,
            location_id,
            {"on_hand": {"$add": [_field("on_hand"), on_hand]}, "reserved": {"$add": [_field("reserved"), reserved]}},
            guard=guard,
            at=at,
            session=session,
        )
        return None if before is None else (before, apply_delta(before, on_hand=on_hand, reserved=reserved))

    async def _update(
        self,
        sku: str,
        location_id: str,
        changes: dict[str, Any],
        *,
        at: datetime,
        session: Session | None,
        guard: dict[str, Any] | None = None,
        location: Location | None = None,
    ) -> InventoryLevel | None:
        """One atomic update of one level; returns the level as it was before.

        With `guard`: None when the level is missing or the guard does not hold (nothing written).
        With `location`: the level is created when missing (no guard allowed then).
        """
        assert not (guard and location), "a guarded update never creates a level"
        stage: dict[str, Any] = {
            "on_hand": _field("on_hand"),
            "reserved": _field("reserved"),
            "safety_stock": _field("safety_stock"),
            "incoming": _field("incoming"),
            "reorder_point": _field("reorder_point"),
            "reorder_quantity": _field("reorder_quantity"),
            **changes,
            "updated_at": at,
        }
        if location is not None:
            stage |= {
                "sku": {"$literal": sku},
                "location_id": {"$literal": location_id},
                **_location_copy_stage(location),
            }
        before = await self.collection.find_one_and_update(
            {"_id": inventory_id(sku, location_id), **(guard or {})},
            [{"$set": stage}, _AVAILABLE],
            upsert=location is not None,
            session=session,
        )
        if before is None:
            return empty_level(sku, location_id) if location is not None else None
        return from_doc(before)

    async def reserve(self, sku: str, location_id: str, quantity: int, *, at: datetime, session: Session) -> InventoryLevel | None:
        """Promise `quantity` units only if that many are available now: the no-oversell guard."""
        return await self._update(
            sku,
            location_id,
            {"reserved": {"$add": [_field("reserved"), quantity]}},
            guard={"available": {"$gte": quantity}},
            at=at,
            session=session,
        )

    async def reserve_many(self, quantities: dict[tuple[str, str], int], *, at: datetime) -> bool:
        """`reserve` for many (sku, location) levels in one bulk write, each under the same guard
        (demo data's open orders); False when some guard failed, and those levels were left alone."""
        operations = [
            UpdateOne(
                {"_id": inventory_id(sku, location_id), "available": {"$gte": quantity}},
                [{"$set": {"reserved": {"$add": [_field("reserved"), quantity]}, "updated_at": at}}, _AVAILABLE],
            )
            for (sku, location_id), quantity in sorted(quantities.items())
        ]
        if not operations:
            return True
        result = await self.collection.bulk_write(operations, ordered=False)
        return result.matched_count == len(operations)

    async def reserve_read(self, quantities: dict[tuple[str, str], int], *, at: datetime, session: Session) -> bool:
        """`reserve` for levels this transaction has read already (`routing_levels`): one bulk write,
        each level under the same no-oversell guard, in sorted order. False when a guard failed
        (the caller aborts the transaction: earlier levels of the batch may be written)."""
        operations = [
            UpdateOne(
                {"_id": inventory_id(sku, location_id), "available": {"$gte": quantity}},
                [{"$set": {"reserved": {"$add": [_field("reserved"), quantity]}, "updated_at": at}}, _AVAILABLE],
            )
            for (sku, location_id), quantity in sorted(quantities.items())
        ]
        if not operations:
            return True
        result = await self.collection.bulk_write(operations, ordered=True, session=session)
        return result.matched_count == len(operations)

    async def release(self, sku: str, location_id: str, quantity: int, *, at: datetime, session: Session) -> InventoryLevel | None:
        return await self._update(
            sku,
            location_id,
            {"reserved": {"$add": [_field("reserved"), -quantity]}},
            guard={"reserved": {"$gte": quantity}},
            at=at,
            session=session,
        )

    async def add_on_hand(
        self, sku: str, location_id: str, delta: int, *, at: datetime, session: Session, location: Location | None = None
    ) -> InventoryLevel | None:
        """Add units, or remove them (negative delta) without taking on hand below zero."""
        change = {"on_hand": {"$add": [_field("on_hand"), delta]}}
        if delta >= 0:
            return await self._update(sku, location_id, change, at=at, session=session, location=location)
        return await self._update(sku, location_id, change, guard={"on_hand": {"$gte": -delta}}, at=at, session=session)

    async def add_incoming(
        self, sku: str, location_id: str, delta: int, *, at: datetime, session: Session, location: Location | None = None
    ) -> InventoryLevel | None:
        """Units on the way (submitted purchase orders): up on submit, down on receipt or cancel.
        Never below zero: None when the guard fails."""
        change = {"incoming": {"$add": [_field("incoming"), delta]}}
        if delta >= 0:
            return await self._update(sku, location_id, change, at=at, session=session, location=location)
        return await self._update(sku, location_id, change, guard={"incoming": {"$gte": -delta}}, at=at, session=session)

    async def remove_unreserved(self, sku: str, location_id: str, quantity: int, *, at: datetime, session: Session) -> InventoryLevel | None:
        """Take units that no order is promised: what a transfer may move."""
        return await self._update(
            sku,
            location_id,
            {"on_hand": {"$add": [_field("on_hand"), -quantity]}},
            guard={"$expr": {"$gte": [{"$subtract": ["$on_hand", "$reserved"]}, quantity]}},
            at=at,
            session=session,
        )

    async def set_on_hand(
        self, sku: str, location_id: str, count: int, *, at: datetime, session: Session, location: Location
    ) -> InventoryLevel:
        before = await self._update(sku, location_id, {"on_hand": {"$literal": count}}, at=at, session=session, location=location)
        assert before is not None
        return before

    async def set_policy(
        self, sku: str, location_id: str, policy: StockPolicy, *, at: datetime, session: Session, location: Location
    ) -> InventoryLevel:
        changes = {
            name: value
            for name, value in (
                ("safety_stock", policy.safety_stock),
                ("reorder_point", policy.reorder_point),
                ("reorder_quantity", policy.reorder_quantity),
            )
            if value is not None
        }
        changes = {name: {"$literal": value} for name, value in changes.items()}
        before = await self._update(sku, location_id, changes, at=at, session=session, location=location)
        assert before is not None
        return before

    async def write_imported(
        self, levels: list[tuple[InventoryLevel, Location | None]], *, at: datetime, session: Session
    ) -> bool:
        """Writes imported levels, in the caller's transaction: on hand, safety stock, reorder point
        and quantity, bin, and `available` from them; never `reserved` or `incoming`. `location`
        given: the level is new, and is inserted with the location's copies (plain inserts: several
        times cheaper than upserts). The others are updated in order, each guarded on the `reserved`
        the caller read (its `available` rests on it: plain `$set`s, about twice as fast as update
        pipelines); False when a guard failed (the caller retries from a fresh read). A level new in
        this batch and set again later in it is inserted first, then updated."""
        new = [to_doc(level, location) | {"updated_at": at} for level, location in levels if location is not None]
        if new:
            await self.collection.insert_many(new, ordered=True, session=session)
        updates = []
        for level, location in levels:
            if location is not None:
                continue
            changes: dict[str, Any] = {
                "on_hand": level.on_hand,
                "safety_stock": level.safety_stock,
                "reorder_point": level.reorder_point,
                "reorder_quantity": level.reorder_quantity,
                "available": level.available,
                "updated_at": at,
            }
            if level.bin is not None:
                changes["bin"] = _bin_doc(level.bin)
            selector = {"_id": inventory_id(level.sku, level.location_id), "reserved": level.reserved}
            updates.append(UpdateOne(selector, {"$set": changes}))
        if not updates:
            return True
        result = await self.collection.bulk_write(updates, ordered=True, session=session)
        return result.matched_count == len(updates)

    async def refresh_location_copies(self, location: Location) -> int:
        """Brings every inventory document of the location that copied an older `copies_version` up
        to date; returns how many changed. Not in a transaction, on purpose: a location may hold
        100,000 levels, more than one transaction should write. Safe to repeat and to race: it only
        ever moves a document's copy forward (filter on the older version), so a slow refresh of an
        earlier change cannot overwrite a later one. Uses index `location_sku`."""
        result = await self.collection.update_many(
            {"location_id": location.id, "location_version": {"$not": {"$gte": location.copies_version}}},
            {"$set": location_copy(location)},
        )
        return result.modified_count

    async def reservation_mismatches(self, *, limit: int = 100) -> list[ReservationMismatch]:
        """Levels where `reserved` differs from the sum of OPEN allocations across all orders.

        Empty when the invariant holds. One aggregation over both collections, for tests, benches and ops.
        """
        open_allocations: list[dict[str, Any]] = [
            {"$match": {"allocations.status": "OPEN"}},
            {"$unwind": "$allocations"},
            {"$match": {"allocations.status": "OPEN"}},
            {
                "$group": {
                    "_id": {"$concat": ["$allocations.sku", "@", "$allocations.location_id"]},
                    "sku": {"$first": "$allocations.sku"},
                    "location_id": {"$first": "$allocations.location_id"},
                    "allocated": {"$sum": "$allocations.quantity"},
                }
            },
            {"$set": {"reserved": 0}},
        ]
        pipeline: list[dict[str, Any]] = [
            {"$match": {"reserved": {"$ne": 0}}},
            {"$project": {"sku": 1, "location_id": 1, "reserved": 1, "allocated": {"$literal": 0}}},
            {"$unionWith": {"coll": "orders", "pipeline": open_allocations}},
            {
                "$group": {
                    "_id": "$_id",
                    "sku": {"$first": "$sku"},
                    "location_id": {"$first": "$location_id"},
                    "reserved": {"$sum": "$reserved"},
                    "allocated": {"$sum": "$allocated"},
                }
            },
            {"$match": {"$expr": {"$ne": ["$reserved", "$allocated"]}}},
            {"$sort": {"_id": 1}},
            {"$limit": limit},
        ]
        return [
            ReservationMismatch(row["sku"], row["location_id"], int(row["reserved"]), int(row["allocated"]))
            async for row in await self.collection.aggregate(pipeline)
        ]
