"""Stores, distribution centers and drop-ship partners: where stock lives and orders ship from."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

from app.domain.geo import GeoPoint


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
