"""Locations collection: stores, distribution centers, drop-ship partners.

Besides the location, a document carries `copies_pending: true` from the change of a field inventory
documents copy (point, kind, active) until those copies have been refreshed for its
`copies_version` (InventoryRepository.refresh_location_copies): repository state, not domain state.
"""

from __future__ import annotations

from datetime import time
from typing import Any

from pymongo import ReplaceOne
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

from app.domain.errors import Conflict
from app.domain.geocoding import PointSource
from app.domain.locations import Capabilities, Location, LocationBin, LocationKind, OpeningHours, Weekday, Zone
from app.domain.orders import OPEN_STATUSES, AllocationStatus
from app.repositories.database import Session
from app.repositories.mapping import address_from_doc, address_to_doc, point_from_doc, point_to_doc

MAX_LOCATIONS = 5_000


def to_doc(location: Location) -> dict[str, Any]:
    return {
        "_id": location.id,
        "name": location.name,
        "kind": location.kind.value,
        "address": address_to_doc(location.address),
        "point": point_to_doc(location.point),
        "capabilities": {
            "ships": location.capabilities.ships,
            "offers_pickup": location.capabilities.offers_pickup,
            "accepts_returns": location.capabilities.accepts_returns,
        },
        "zones": [{"code": z.code, "name": z.name, "walk_order": z.walk_order} for z in location.zones],
        "handling_cost_cents": location.handling_cost_cents,
        "priority": location.priority,
        "active": location.active,
        "timezone": location.timezone,
        "point_source": location.point_source.value,
        "bins": [{"code": b.code, "zone": b.zone} for b in location.bins],
        "opening_hours": [
            {"weekday": h.weekday.value, "opens": h.opens.strftime("%H:%M"), "closes": h.closes.strftime("%H:%M")}
            for h in location.opening_hours
        ],
        "version": location.version,
        "copies_version": location.copies_version,
    }


def _time(value: str) -> time:
    hours, minutes = value.split(":")
    return time(int(hours), int(minutes))


def from_doc(doc: dict[str, Any]) -> Location:
    caps = doc.get("capabilities") or {}
    address = address_from_doc(doc["address"])
    point = point_from_doc(doc["point"])
    assert address is not None and point is not None
    return Location(
        id=doc["_id"],
        name=doc["name"],
        kind=LocationKind(doc["kind"]),
        address=address,
        point=point,
        capabilities=Capabilities(
            ships=caps.get("ships", True),
            offers_pickup=caps.get("offers_pickup", False),
            accepts_returns=caps.get("accepts_returns", False),
        ),
        zones=tuple(Zone(z["code"], z["name"], int(z["walk_order"])) for z in doc.get("zones", [])),
        handling_cost_cents=int(doc.get("handling_cost_cents", 0)),
        priority=int(doc.get("priority", 0)),
        active=doc.get("active", True),
        timezone=doc.get("timezone", "America/New_York"),
        point_source=PointSource(doc.get("point_source", PointSource.GIVEN.value)),
        bins=tuple(LocationBin(b["code"], b["zone"]) for b in doc.get("bins", [])),
        opening_hours=tuple(
            OpeningHours(Weekday(h["weekday"]), _time(h["opens"]), _time(h["closes"])) for h in doc.get("opening_hours", [])
        ),
        version=int(doc.get("version", 0)),
        copies_version=int(doc.get("copies_version", 0)),
    )


class LocationRepository:
    def __init__(self, db: AsyncDatabase):
        self.collection = db["locations"]
        self._orders = db["orders"]

    async def get(self, location_id: str, *, session: Session | None = None) -> Location | None:
        doc = await self.collection.find_one({"_id": location_id}, session=session)
        return from_doc(doc) if doc else None

    async def save(
        self, location: Location, *, previous_version: int | None, copies_changed: bool, session: Session
    ) -> None:
        """Inserts a new location (`previous_version` None) or replaces the stored one if it is still
        at `previous_version`; Conflict when another writer got there first (nothing written).
        `copies_changed`: inventory copies of it are now stale (marked pending until refreshed)."""
        doc = to_doc(location)
        if previous_version is None:
            try:
                await self.collection.insert_one(doc, session=session)
            except DuplicateKeyError as exc:
                raise Conflict(f"location {location.id} was created concurrently; try again", field=("code",)) from exc
            return
        fields = {key: value for key, value in doc.items() if key != "_id"}
        if copies_changed:
            fields["copies_pending"] = True
        expected = previous_version if previous_version else {"$in": [0, None]}  # seeded documents carry no version
        result = await self.collection.update_one({"_id": location.id, "version": expected}, {"$set": fields}, session=session)
        if result.matched_count != 1:
            raise Conflict(f"location {location.id} was changed concurrently; try again", field=("code",))

    async def count_open_allocations(self, location_id: str, *, session: Session | None = None) -> int:
        """OPEN allocations at the location across all orders (what a deactivation must wait for).
        Reads the location's orders in open statuses (index `location_created`; only orders in
        OPEN_STATUSES can hold open allocations)."""
        pipeline: list[dict[str, Any]] = [
            {
                "$match": {
                    "location_ids": location_id,
                    "status": {"$in": sorted(s.value for s in OPEN_STATUSES)},
                    "allocations": {"$elemMatch": {"location_id": location_id, "status": AllocationStatus.OPEN.value}},
                }
            },
            {
                "$project": {
                    "n": {
                        "$size": {
                            "$filter": {
                                "input": "$allocations",
                                "cond": {
                                    "$and": [
                                        {"$eq": ["$$this.location_id", location_id]},
                                        {"$eq": ["$$this.status", AllocationStatus.OPEN.value]},
                                    ]
                                },
                            }
                        }
                    }
                }
            },
            {"$group": {"_id": None, "n": {"$sum": "$n"}}},
        ]
        async for row in await self._orders.aggregate(pipeline, session=session):
            return int(row["n"])
        return 0

    async def with_pending_copies(self) -> list[Location]:
        """Locations whose inventory copies may lag behind (a refresh not yet done, failed or raced).
        Index `copies_pending` (partial): usually empty."""
        return [from_doc(doc) async for doc in self.collection.find({"copies_pending": True}).limit(MAX_LOCATIONS)]

    async def copies_done(self, location_id: str, copies_version: int) -> None:
        """Clears the pending mark once every copy is at `copies_version`, unless the location has
        changed again since (that change's own refresh clears it then)."""
        await self.collection.update_one(
            {"_id": location_id, "copies_version": copies_version, "copies_pending": True},
            {"$unset": {"copies_pending": ""}},
        )

    async def by_ids(self, ids: list[str], *, session: Session | None = None) -> list[Location]:
        cursor = self.collection.find({"_id": {"$in": ids}}, session=session, batch_size=max(101, min(len(ids), MAX_LOCATIONS)))
        return [from_doc(doc) async for doc in cursor]

    async def list(
        self,
        *,
        kinds: list[LocationKind] | None = None,
        ships: bool | None = None,
        offers_pickup: bool | None = None,
        accepts_returns: bool | None = None,
        ids: list[str] | None = None,
        active: bool | None = True,
        session: Session | None = None,
    ) -> list[Location]:
        query: dict[str, Any] = {}
        if kinds:
            query["kind"] = {"$in": [k.value for k in kinds]}
        if ships is not None:
            query["capabilities.ships"] = ships
        if offers_pickup is not None:
            query["capabilities.offers_pickup"] = offers_pickup
        if accepts_returns is not None:
            query["capabilities.accepts_returns"] = accepts_returns
        if ids is not None:
            query["_id"] = {"$in": ids}
        if active is not None:
            query["active"] = active
        cursor = self.collection.find(query, session=session).sort("_id", 1).limit(MAX_LOCATIONS)
        return [from_doc(doc) async for doc in cursor]

    async def upsert_many(self, locations: list[Location]) -> None:
        if locations:
            await self.collection.bulk_write(
                [ReplaceOne({"_id": loc.id}, to_doc(loc), upsert=True) for loc in locations], ordered=False
            )
