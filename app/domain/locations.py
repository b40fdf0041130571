"""Stores, distribution centers and drop-ship partners: where stock lives and orders ship from.

How a location is described and validated for onboarding is in location_drafts.py; what a change
does to one (versions, events) is at the end of this module.
"""

from __future__ import annotations

import zoneinfo
from dataclasses import dataclass, field, replace
from datetime import datetime, time
from enum import StrEnum
from typing import Any

from app.domain.errors import Conflict
from app.domain.events import Actor, DomainEvent, field_changes
from app.domain.geo import GeoPoint
from app.domain.geocoding import PointSource
from app.domain.ids import new_id


class LocationKind(StrEnum):
    STORE = "STORE"
    DISTRIBUTION_CENTER = "DISTRIBUTION_CENTER"
    DROP_SHIP = "DROP_SHIP"


@dataclass(frozen=True, slots=True)
class Address:
    line1: str
    city: str
    postal_code: str
    country: str = "US"
    line2: str | None = None
    region: str | None = None
    name: str | None = None
    phone: str | None = None


@dataclass(frozen=True, slots=True)
class Zone:
    """A pick area: aisles are walked in `walk_order`."""

    code: str
    name: str
    walk_order: int


@dataclass(frozen=True, slots=True)
class Capabilities:
    ships: bool = True
    offers_pickup: bool = False
    accepts_returns: bool = False


class Weekday(StrEnum):
    MONDAY = "MONDAY"
    TUESDAY = "TUESDAY"
    WEDNESDAY = "WEDNESDAY"
    THURSDAY = "THURSDAY"
    FRIDAY = "FRIDAY"
    SATURDAY = "SATURDAY"
    SUNDAY = "SUNDAY"


WEEKDAYS = tuple(Weekday)  # in `datetime.weekday()` order


@dataclass(frozen=True, slots=True)
class OpeningHours:
    """When pick-ups are handed over on one weekday, in the location's local time (`opens` < `closes`)."""

    weekday: Weekday
    opens: time
    closes: time


@dataclass(frozen=True, slots=True)
class LocationBin:
    """A bin of the location's master list. `code` is `<zone>-<aisle>-<shelf>-<bin>` (e.g. `A-01-1-07`),
    the code inventory levels' bins (`BinLocation.code`) and pick lists use: a pick walks zones in
    their `walk_order`, then aisles, shelves and bins in natural order."""

    code: str
    zone: str


@dataclass(frozen=True, slots=True)
class Location:
    id: str
    name: str
    kind: LocationKind
    address: Address
    point: GeoPoint
    capabilities: Capabilities = field(default_factory=Capabilities)
    zones: tuple[Zone, ...] = ()
    handling_cost_cents: int = 0
    priority: int = 0  # higher wins ties in routing
    active: bool = True
    timezone: str = "America/New_York"
    point_source: PointSource = PointSource.GIVEN  # how `point` was found: given, or a centroid
    bins: tuple[LocationBin, ...] = ()
    opening_hours: tuple[OpeningHours, ...] = ()  # pick-up hand-over hours; empty = not published
    version: int = 0  # +1 on every change
    # +1 whenever a field inventory documents copy (point, kind, active) changes: each inventory
    # document records the copies_version it copied, so stale copies can be found and refreshed.
    copies_version: int = 0

    def hours_on(self, weekday: Weekday) -> OpeningHours | None:
        return next((h for h in self.opening_hours if h.weekday is weekday), None)

    def is_open(self, at: datetime) -> bool:
        """Whether pick-ups are handed over at `at` (an aware datetime), in the location's time zone."""
        local = at.astimezone(zoneinfo.ZoneInfo(self.timezone))
        hours = self.hours_on(WEEKDAYS[local.weekday()])
        return hours is not None and hours.opens <= local.time().replace(tzinfo=None) < hours.closes


def copied_fields_changed(before: Location, after: Location) -> bool:
    """Whether inventory documents' copies of the location (point, kind, active) go stale."""
    return (before.point, before.kind, before.active) != (after.point, after.kind, after.active)


class LocationInUse(Conflict):
    """A location cannot be deactivated while orders hold open allocations there."""

    def __init__(self, location_id: str, open_allocations: int):
        super().__init__(
            f"{location_id} holds {open_allocations} open allocation(s): fulfil, cancel or re-route them "
            "before deactivating it"
        )
        self.location_id = location_id
        self.open_allocations = open_allocations


# --- audit ------------------------------------------------------------------------------------------

LOCATION_AGGREGATE = "Location"
LOCATION_CREATED = "LocationCreated"
LOCATION_UPDATED = "LocationUpdated"
LOCATION_DEACTIVATED = "LocationDeactivated"
LOCATION_REACTIVATED = "LocationReactivated"


def _clock(value: time) -> str:
    return value.strftime("%H:%M")


def location_data(location: Location) -> dict[str, Any]:
    """The location in the API's field names, for event payloads (versions left out: events carry
    their own)."""
    address = location.address
    return {
        "code": location.id,
        "name": location.name,
        "kind": location.kind.value,
        "address": {
            "name": address.name,
            "line1": address.line1,
            "line2": address.line2,
            "city": address.city,
            "region": address.region,
            "postalCode": address.postal_code,
            "country": address.country,
            "phone": address.phone,
        },
        "point": {"lat": location.point.lat, "lng": location.point.lng},
        "pointSource": location.point_source.value,
        "capabilities": {
            "ships": location.capabilities.ships,
            "offersPickup": location.capabilities.offers_pickup,
            "acceptsReturns": location.capabilities.accepts_returns,
        },
        "zones": [{"code": z.code, "name": z.name, "walkOrder": z.walk_order} for z in location.zones],
        "bins": [{"code": b.code, "zone": b.zone} for b in location.bins],
        "handlingCostCents": location.handling_cost_cents,
        "priority": location.priority,
        "timezone": location.timezone,
        "openingHours": [
            {"weekday": h.weekday.value, "opens": _clock(h.opens), "closes": _clock(h.closes)} for h in location.opening_hours
        ],
        "active": location.active,
    }


def with_state_of(location: Location, stored: Location | None) -> Location:
    """The validated location as it will be stored: a new one active at version 1; an existing one
    keeps its active flag, and its versions move on (copies_version only when a copied field changes)."""
    if stored is None:
        return replace(location, active=True, version=1, copies_version=0)
    kept = replace(location, active=stored.active, version=stored.version, copies_version=stored.copies_version)
    if kept == stored:
        return stored
    bump = 1 if copied_fields_changed(stored, kept) else 0
    return replace(kept, version=stored.version + 1, copies_version=stored.copies_version + bump)


def with_active(stored: Location, active: bool) -> Location:
    """The stored location deactivated or reactivated: a copied field changes, so both versions move on."""
    return replace(stored, active=active, version=stored.version + 1, copies_version=stored.copies_version + 1)


def changed_fields(before: Location | None, after: Location) -> tuple[str, ...]:
    """The API names of the fields that differ (all of them for a new location)."""
    if before is None:
        return tuple(location_data(after))
    return tuple(field_changes(location_data(before), location_data(after)))


def location_event(
    kind: str, before: Location | None, after: Location, *, actor: Actor, at: datetime, reason: str | None
) -> DomainEvent:
    """`LocationCreated` (the whole location), `LocationUpdated` (only what changed, before and
    after), `LocationDeactivated` / `LocationReactivated`; every one with the version it produced."""
    payload: dict[str, Any] = {"code": after.id, "version": after.version}
    if kind == LOCATION_CREATED or before is None:
        payload["location"] = location_data(after)
    else:
        payload["changes"] = field_changes(location_data(before), location_data(after))
    return DomainEvent(
        id=new_id(),
        type=kind,
        aggregate_type=LOCATION_AGGREGATE,
        aggregate_id=after.id,
        at=at,
        actor=actor,
        payload=payload,
        reason=reason,
        location_id=after.id,
    )
