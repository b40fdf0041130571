"""Locations collection: stores, distribution centers, drop-ship partners."""

from __future__ import annotations

from typing import Any

from pymongo import ReplaceOne
from pymongo.asynchronous.database import AsyncDatabase

from app.domain.locations import Capabilities, Location, LocationKind, Zone
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
    }


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
    )


class LocationRepository:
    def __init__(self, db: AsyncDatabase):
        self.collection = db["locations"]

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
