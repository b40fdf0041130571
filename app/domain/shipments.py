"""Shipments: what leaves one location for one order, and where it stands on its way to the shopper."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from enum import StrEnum

from app.domain.errors import ErrorCode, DomainError
from app.domain.geo import GeoPoint
from app.domain.locations import Address
from app.domain.money import Money
from app.domain.products import HandlingFlag


class ShipmentStatus(StrEnum):
    PENDING = "PENDING"  # waiting to be picked
    PICKING = "PICKING"  # on a picker's wave
    PICKED = "PICKED"
    PACKED = "PACKED"
    SHIPPED = "SHIPPED"  # label bought, handed to the carrier: stock consumed
    IN_TRANSIT = "IN_TRANSIT"
    OUT_FOR_DELIVERY = "OUT_FOR_DELIVERY"
    DELIVERED = "DELIVERED"
    EXCEPTION = "EXCEPTION"  # carrier reported a problem (address, damage, weather); may recover
    READY_FOR_PICKUP = "READY_FOR_PICKUP"  # packed at the pick-up store
    PICKED_UP = "PICKED_UP"  # handed over: stock consumed
    CANCELLED = "CANCELLED"


class FulfilmentMethod(StrEnum):
    SHIP = "SHIP"  # a carrier takes it to an address
    PICKUP = "PICKUP"  # the shopper collects it at this location


# Before the goods leave, lines still follow the order's open allocations (sync) or may be refused.
EDITABLE = frozenset({ShipmentStatus.PENDING, ShipmentStatus.PICKING})
PRE_SHIP = frozenset({ShipmentStatus.PENDING, ShipmentStatus.PICKING, ShipmentStatus.PICKED, ShipmentStatus.PACKED})
SHIPPED_STATES = frozenset(
    {
        ShipmentStatus.SHIPPED,
        ShipmentStatus.IN_TRANSIT,
        ShipmentStatus.OUT_FOR_DELIVERY,
        ShipmentStatus.DELIVERED,
        ShipmentStatus.EXCEPTION,
    }
)
# Stock has left the building: allocations are FULFILLED.
CONSUMED_STATES = SHIPPED_STATES | {ShipmentStatus.PICKED_UP}

# Warehouse steps. Tracking states move only through carrier events (see app.domain.tracking).
TRANSITIONS: dict[ShipmentStatus, frozenset[ShipmentStatus]] = {
    ShipmentStatus.PENDING: frozenset({ShipmentStatus.PICKING, ShipmentStatus.CANCELLED}),
    ShipmentStatus.PICKING: frozenset({ShipmentStatus.PICKED, ShipmentStatus.CANCELLED}),
    ShipmentStatus.PICKED: frozenset({ShipmentStatus.PACKED, ShipmentStatus.CANCELLED}),
    ShipmentStatus.PACKED: frozenset({ShipmentStatus.SHIPPED, ShipmentStatus.READY_FOR_PICKUP, ShipmentStatus.CANCELLED}),
    ShipmentStatus.SHIPPED: frozenset({ShipmentStatus.IN_TRANSIT, ShipmentStatus.OUT_FOR_DELIVERY, ShipmentStatus.DELIVERED, ShipmentStatus.EXCEPTION}),
    ShipmentStatus.IN_TRANSIT: frozenset({ShipmentStatus.OUT_FOR_DELIVERY, ShipmentStatus.DELIVERED, ShipmentStatus.EXCEPTION}),
    ShipmentStatus.OUT_FOR_DELIVERY: frozenset({ShipmentStatus.DELIVERED, ShipmentStatus.EXCEPTION}),
    ShipmentStatus.EXCEPTION: frozenset({ShipmentStatus.IN_TRANSIT, ShipmentStatus.OUT_FOR_DELIVERY, ShipmentStatus.DELIVERED}),
    ShipmentStatus.READY_FOR_PICKUP: frozenset({ShipmentStatus.PICKED_UP, ShipmentStatus.CANCELLED}),
    ShipmentStatus.DELIVERED: frozenset(),
    ShipmentStatus.PICKED_UP: frozenset(),
    ShipmentStatus.CANCELLED: frozenset(),
}


class IllegalShipmentTransition(DomainError):
    code = ErrorCode.ILLEGAL_TRANSITION


def transition(current: ShipmentStatus, target: ShipmentStatus) -> ShipmentStatus:
    if target in TRANSITIONS[current]:
        return target
    raise IllegalShipmentTransition(f"a shipment that is {current} cannot become {target}", field=("status",))


@dataclass(frozen=True, slots=True)
class ShipmentLine:
    """One open allocation of the order, as it travels: allocation ids tie shipments to reservations."""

    allocation_id: str
    line_id: str
    sku: str
    name: str
    quantity: int
    picked_quantity: int | None = None
    handling: frozenset[HandlingFlag] = frozenset()


@dataclass(frozen=True, slots=True)
class Package:
    number: int
    weight_grams: int
    length_cm: float
    width_cm: float
    height_cm: float


@dataclass(frozen=True, slots=True)
class Label:
    carrier: str
    service: str
    tracking_number: str
    cost: Money
    billable_weight_grams: int
    zone: int
    estimated_delivery: date
    purchased_at: datetime
    service_name: str = ""


class TrackingEventKind(StrEnum):
    LABEL_CREATED = "LABEL_CREATED"
    PICKED_UP = "PICKED_UP"
    IN_TRANSIT = "IN_TRANSIT"
    OUT_FOR_DELIVERY = "OUT_FOR_DELIVERY"
    DELIVERED = "DELIVERED"
    EXCEPTION = "EXCEPTION"


@dataclass(frozen=True, slots=True)
class TrackingEvent:
    """One carrier scan. `id` is the carrier's event id: the key that makes redelivery harmless."""

    id: str
    kind: TrackingEventKind
    occurred_at: datetime
    received_at: datetime
    description: str | None = None
    location: str | None = None
    estimated_delivery: date | None = None


@dataclass(frozen=True, slots=True)
class Shipment:
    id: str
    number: str  # human-readable: the order's external id and a sequence
    order_id: str
    customer_id: str
    channel_id: str
    location_id: str
    method: FulfilmentMethod
    status: ShipmentStatus
    lines: tuple[ShipmentLine, ...]
    created_at: datetime
    updated_at: datetime
    destination: Address | None = None
    destination_point: GeoPoint | None = None
    held: bool = False  # order scheduled or on hold: not pickable, not shippable
    packages: tuple[Package, ...] = ()
    label: Label | None = None
    tracking: tuple[TrackingEvent, ...] = ()
    promised_date: date | None = None  # what the shopper was promised (requested date or the first ETA)
    eta: date | None = None  # current estimate; recomputed as tracking events arrive
    shipping_policy: str | None = None
    status_at: datetime | None = None
    version: int = 1
    extra: dict[str, datetime] = field(default_factory=dict, compare=False)  # milestones: picked_at, shipped_at, ...

    @property
    def tracking_number(self) -> str | None:
        return self.label.tracking_number if self.label else None

    @property
    def item_count(self) -> int:
        return sum(line.quantity for line in self.lines)

    @property
    def handling(self) -> frozenset[HandlingFlag]:
        flags: set[HandlingFlag] = set()
        for line in self.lines:
            flags |= line.handling
        return frozenset(flags)

    @property
    def allocation_ids(self) -> frozenset[str]:
        return frozenset(line.allocation_id for line in self.lines)


@dataclass(frozen=True, slots=True)
class ShipmentFilter:
    """Selection for shipment lists. Scope fields are ANDed in by services."""

    statuses: tuple[ShipmentStatus, ...] = ()
    location_ids: tuple[str, ...] = ()
    order_id: str | None = None
    customer_id: str | None = None
    channel_ids: tuple[str, ...] = ()
    tracking_number: str | None = None
