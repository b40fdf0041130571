"""Carriers: the adapter interface, and built-in rate-card carriers modelled on UPS, USPS and FedEx.

A real carrier API plugs in by implementing `Carrier` and registering it under its code in a
`CarrierRegistry`; nothing else changes. Rate cards are illustrative figures, shaped like the real ones:
zones from origin-destination distance, rates by billable weight (max of actual and dimensional) and
zone, transit days per service and zone, carrier-shaped tracking numbers with check digits.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from enum import StrEnum
from typing import Protocol, runtime_checkable

from app.domain.errors import ErrorCode, DomainError, NotFound
from app.domain.geo import GeoPoint, distance_km
from app.domain.locations import Address
from app.domain.money import Money
from app.domain.products import HandlingFlag, Product

GRAMS_PER_LB = 453.59237
CM3_PER_IN3 = 16.387064


class ServiceLevel(StrEnum):
    GROUND = "GROUND"
    TWO_DAY = "TWO_DAY"
    OVERNIGHT = "OVERNIGHT"


class ShippingPolicy(StrEnum):
    """How a service is chosen among the quotes."""

    CHEAPEST = "CHEAPEST"
    FASTEST = "FASTEST"
    CHEAPEST_ON_TIME = "CHEAPEST_ON_TIME"  # cheapest that meets the promised or requested date


@dataclass(frozen=True, slots=True)
class Parcel:
    weight_grams: int
    length_cm: float
    width_cm: float
    height_cm: float


@dataclass(frozen=True, slots=True)
class RateRequest:
    origin: Address
    origin_point: GeoPoint
    destination: Address
    destination_point: GeoPoint
    parcels: tuple[Parcel, ...]
    ship_date: date
    handling: frozenset[HandlingFlag] = frozenset()


@dataclass(frozen=True, slots=True)
class Quote:
    carrier: str
    service: str  # carrier service code, e.g. UPS_GROUND
    service_name: str
    level: ServiceLevel
    amount: Money
    zone: int
    billable_weight_grams: int
    transit_days: int  # business days
    estimated_delivery: date


@dataclass(frozen=True, slots=True)
class PurchasedLabel:
    quote: Quote
    tracking_number: str


@dataclass(frozen=True, slots=True)
class TrackingUpdate:
    """A carrier's tracking event in our terms, parsed from its webhook payload."""

    event_id: str
    tracking_number: str
    kind: str  # a TrackingEventKind value
    occurred_at: datetime
    description: str | None = None
    location: str | None = None
    estimated_delivery: date | None = None


class CarrierError(DomainError):
    code = ErrorCode.CONFLICT


@runtime_checkable
class Carrier(Protocol):
    """What the OMS needs from a carrier. Implementations may call remote APIs (hence async)."""

    code: str
    name: str

    async def rates(self, request: RateRequest) -> list[Quote]: ...

    async def buy_label(self, request: RateRequest, service: str, *, idempotency_key: str) -> PurchasedLabel:
        """Buy a label. The same idempotency key must return the same label, never charge twice."""
        ...

    async def void_label(self, tracking_number: str) -> None: ...

    def tracking_updates(self, payload: Mapping[str, object]) -> list[TrackingUpdate]:
        """Parse a (signature-verified) webhook payload into tracking updates."""
        ...


class CarrierRegistry:
    """Carriers keyed by code: the only place that knows which carriers exist."""

    def __init__(self, carriers: Iterable[Carrier]):
        self._carriers: dict[str, Carrier] = {}
        for carrier in carriers:
            self._carriers[carrier.code] = carrier

    def get(self, code: str) -> Carrier:
        carrier = self._carriers.get(code.lower())
        if carrier is None:
            raise NotFound(f"no carrier {code!r}", field=("carrier",))
        return carrier

    def all(self) -> list[Carrier]:
        return list(self._carriers.values())

    def with_carrier(self, carrier: Carrier) -> CarrierRegistry:
        """A registry where `carrier` replaces any carrier with its code (how a real API is plugged in)."""
        return CarrierRegistry([*(c for c in self._carriers.values() if c.code != carrier.code), carrier])


# --- zones, weights, dates -------------------------------------------------------------------------

# Upper bound in miles of zones 1..8, the shape of the USPS/UPS ground zone charts.
_ZONE_MILES = (50, 150, 300, 600, 1000, 1400, 1800)


def zone_for(origin: GeoPoint, destination: GeoPoint) -> int:
    miles = distance_km(origin, destination) / 1.609344
    for zone, limit in enumerate(_ZONE_MILES, start=1):
        if miles <= limit:
            return max(2, zone)  # zone 1 exists only for local USPS; carriers start at 2
    return 8


def billable_weight_grams(parcel: Parcel, dim_divisor: int) -> int:
    """Max of actual and dimensional weight, rounded up to the next whole pound (how carriers bill)."""
    cubic_inches = parcel.length_cm * parcel.width_cm * parcel.height_cm / CM3_PER_IN3
    dimensional_lb = cubic_inches / dim_divisor
    actual_lb = parcel.weight_grams / GRAMS_PER_LB
    pounds = max(1, math.ceil(max(actual_lb, dimensional_lb) - 1e-9))
    return round(pounds * GRAMS_PER_LB)


def add_business_days(start: date, days: int) -> date:
    current = start
    while current.weekday() >= 5:
        current += timedelta(days=1)
    added = 0
    while added < days:
        current += timedelta(days=1)
        if current.weekday() < 5:
            added += 1
    return current


def estimated_parcels(lines: Iterable[tuple[str, int]], products: Mapping[str, Product]) -> tuple[Parcel, ...]:
    """Before packing: one parcel estimated from the catalog for (sku, quantity) lines; none when no
    line's product is known."""
    items = [
        (product.weight_grams, product.dimensions.length_cm, product.dimensions.width_cm, product.dimensions.height_cm, quantity)
        for sku, quantity in lines
        if (product := products.get(sku)) is not None
    ]
    return (parcel_for(items),) if items else ()


def parcel_for(items: Iterable[tuple[int, float, float, float, int]]) -> Parcel:
    """One estimated parcel for (weight g, l, w, h cm, quantity) items: weight summed, volume cubed."""
    weight = 0
    volume = 0.0
    longest = 0.0
    for grams, length, width, height, quantity in items:
        weight += grams * quantity
        volume += length * width * height * quantity
        longest = max(longest, length, width, height)
    side = max(volume ** (1 / 3), 1.0)
    # The longest item must fit; keep the volume by shrinking the other sides.
    if longest > side:
        other = math.sqrt(volume / longest)
        return Parcel(weight_grams=max(weight, 1), length_cm=round(longest, 1), width_cm=round(other, 1), height_cm=round(other, 1))
    return Parcel(weight_grams=max(weight, 1), length_cm=round(side, 1), width_cm=round(side, 1), height_cm=round(side, 1))


# --- tracking numbers -------------------------------------------------------------------------------


def _digits(seed: str | int, count: int) -> str:
    """A serial number as is (unique while serials are), a string key hashed (stable per key, but a
    7-digit UPS reference collides by chance within a few thousand labels)."""
    if isinstance(seed, int):
        if not 0 <= seed < 10**count:
            raise ValueError(f"label serial {seed} does not fit {count} digits")
        return str(seed).zfill(count)
    value = int.from_bytes(hashlib.sha256(seed.encode()).digest(), "big")
    return str(value % 10**count).zfill(count)


def ups_check_digit(body: str) -> int:
    """UPS: over the 15 characters after `1Z`, letters as (ord-63) mod 10, odd positions once, even twice."""
    total = 0
    for position, char in enumerate(body, start=1):
        value = int(char) if char.isdigit() else (ord(char) - 63) % 10
        total += value * (2 if position % 2 == 0 else 1)
    return (10 - total % 10) % 10


def usps_check_digit(body: str) -> int:
    """USPS IMpb (mod 10): from the right, weights 3 and 1 alternate."""
    total = sum(int(d) * (3 if i % 2 == 0 else 1) for i, d in enumerate(reversed(body)))
    return (10 - total % 10) % 10


def fedex_check_digit(body: str) -> int:
    """FedEx Express 12-digit: from the right, weights 1, 3, 7 repeat; sum mod 11, then mod 10."""
    weights = (1, 3, 7)
    total = sum(int(d) * weights[i % 3] for i, d in enumerate(reversed(body)))
    return total % 11 % 10


def is_valid_tracking_number(carrier: str, number: str) -> bool:
    if carrier == "ups":
        return len(number) == 18 and number.startswith("1Z") and number[-1].isdigit() and ups_check_digit(number[2:17]) == int(number[-1])
    if carrier == "usps":
        return len(number) == 22 and number.isdigit() and usps_check_digit(number[:-1]) == int(number[-1])
    if carrier == "fedex":
        return len(number) == 12 and number.isdigit() and fedex_check_digit(number[:-1]) == int(number[-1])
    return False


def ups_tracking_number(seed: str | int, shipper: str, service_code: str) -> str:
    body = f"{shipper}{service_code}{_digits(seed, 7)}"
    return f"1Z{body}{ups_check_digit(body)}"


def usps_tracking_number(seed: str | int, service_code: str) -> str:
    body = f"{service_code}{_digits(seed, 22 - len(service_code) - 1)}"
    return f"{body}{usps_check_digit(body)}"


def fedex_tracking_number(seed: str | int) -> str:
    body = "7" + _digits(seed, 10)  # FedEx Express numbers commonly start with 7
    return f"{body}{fedex_check_digit(body)}"


# --- selection policy -------------------------------------------------------------------------------


def choose_quote(quotes: list[Quote], policy: ShippingPolicy, *, promised: date | None = None) -> Quote:
    """CHEAPEST_ON_TIME falls back to the fastest when no quote meets the date (the least late)."""
    if not quotes:
        raise CarrierError("no carrier quoted this shipment", code=ErrorCode.CONFLICT)

    def cheapest(candidates: list[Quote]) -> Quote:
        return min(candidates, key=lambda q: (q.amount.cents, q.estimated_delivery, q.carrier, q.service))

    def fastest(candidates: list[Quote]) -> Quote:
        return min(candidates, key=lambda q: (q.estimated_delivery, q.amount.cents, q.carrier, q.service))

    if policy is ShippingPolicy.CHEAPEST:
        return cheapest(quotes)
    if policy is ShippingPolicy.FASTEST:
        return fastest(quotes)
    on_time = [q for q in quotes if promised is None or q.estimated_delivery <= promised]
    return cheapest(on_time) if on_time else fastest(quotes)
