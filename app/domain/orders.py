"""Orders: what was bought, on which channel, by whom, delivered how, and where it stands."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from enum import StrEnum

from app.domain.errors import ErrorCode, DomainError
from app.domain.geo import GeoPoint
from app.domain.locations import Address
from app.domain.money import Money


class OrderStatus(StrEnum):
    CREATED = "CREATED"
    SCHEDULED = "SCHEDULED"
    BACKORDERED = "BACKORDERED"
    PARTIALLY_ALLOCATED = "PARTIALLY_ALLOCATED"
    ALLOCATED = "ALLOCATED"
    ON_HOLD = "ON_HOLD"
    IN_FULFILLMENT = "IN_FULFILLMENT"
    PARTIALLY_SHIPPED = "PARTIALLY_SHIPPED"
    SHIPPED = "SHIPPED"
    READY_FOR_PICKUP = "READY_FOR_PICKUP"
    DELIVERED = "DELIVERED"
    PICKED_UP = "PICKED_UP"
    CANCELLED = "CANCELLED"


OPEN_STATUSES = frozenset(OrderStatus) - {OrderStatus.DELIVERED, OrderStatus.PICKED_UP, OrderStatus.CANCELLED}

_ALLOCATION_STATES = {
    OrderStatus.BACKORDERED,
    OrderStatus.PARTIALLY_ALLOCATED,
    OrderStatus.ALLOCATED,
}

# Legal moves. ON_HOLD returns to the status held before (see `release_hold`).
TRANSITIONS: dict[OrderStatus, frozenset[OrderStatus]] = {
    OrderStatus.CREATED: frozenset(_ALLOCATION_STATES | {OrderStatus.SCHEDULED, OrderStatus.ON_HOLD, OrderStatus.CANCELLED}),
    OrderStatus.SCHEDULED: frozenset(_ALLOCATION_STATES | {OrderStatus.ON_HOLD, OrderStatus.CANCELLED}),
    OrderStatus.BACKORDERED: frozenset(_ALLOCATION_STATES | {OrderStatus.ON_HOLD, OrderStatus.CANCELLED}),
    OrderStatus.PARTIALLY_ALLOCATED: frozenset(
        _ALLOCATION_STATES | {OrderStatus.IN_FULFILLMENT, OrderStatus.ON_HOLD, OrderStatus.CANCELLED, OrderStatus.PARTIALLY_SHIPPED}
    ),
    OrderStatus.ALLOCATED: frozenset(
        _ALLOCATION_STATES
        | {OrderStatus.IN_FULFILLMENT, OrderStatus.READY_FOR_PICKUP, OrderStatus.ON_HOLD, OrderStatus.CANCELLED}
    ),
    OrderStatus.ON_HOLD: frozenset(
        _ALLOCATION_STATES | {OrderStatus.SCHEDULED, OrderStatus.CREATED, OrderStatus.IN_FULFILLMENT, OrderStatus.CANCELLED}
    ),
    OrderStatus.IN_FULFILLMENT: frozenset(
        _ALLOCATION_STATES
        | {OrderStatus.PARTIALLY_SHIPPED, OrderStatus.SHIPPED, OrderStatus.READY_FOR_PICKUP, OrderStatus.ON_HOLD, OrderStatus.CANCELLED}
    ),
    OrderStatus.PARTIALLY_SHIPPED: frozenset({OrderStatus.SHIPPED, OrderStatus.DELIVERED, OrderStatus.PARTIALLY_SHIPPED}),
    OrderStatus.SHIPPED: frozenset({OrderStatus.DELIVERED}),
    OrderStatus.READY_FOR_PICKUP: frozenset({OrderStatus.PICKED_UP, OrderStatus.CANCELLED}),
    OrderStatus.DELIVERED: frozenset(),
    OrderStatus.PICKED_UP: frozenset(),
    OrderStatus.CANCELLED: frozenset(),
}


class IllegalTransition(DomainError):
    code = ErrorCode.ILLEGAL_TRANSITION


def transition(current: OrderStatus, target: OrderStatus) -> OrderStatus:
    """The new status, or IllegalTransition. Staying put is always legal."""
    if target == current or target in TRANSITIONS[current]:
        return target
    raise IllegalTransition(f"an order that is {current} cannot become {target}", field=("status",))


class DeliveryMethod(StrEnum):
    SHIP = "SHIP"
    PICKUP_IN_STORE = "PICKUP_IN_STORE"


@dataclass(frozen=True, slots=True)
class Delivery:
    method: DeliveryMethod
    address: Address | None = None
    point: GeoPoint | None = None
    pickup_location_id: str | None = None
    requested_date: date | None = None


@dataclass(frozen=True, slots=True)
class OrderLine:
    id: str  # stable within the order: "1", "2", ...
    sku: str
    name: str
    quantity: int
    unit_price: Money
    cancelled_quantity: int = 0

    @property
    def open_quantity(self) -> int:
        return self.quantity - self.cancelled_quantity

    @property
    def total(self) -> Money:
        return self.unit_price.times(self.open_quantity)


class AllocationStatus(StrEnum):
    OPEN = "OPEN"  # holds a reservation
    FULFILLED = "FULFILLED"  # shipped or handed over: reservation consumed with the stock
    RELEASED = "RELEASED"  # cancelled or re-routed: reservation given back


@dataclass(frozen=True, slots=True)
class Allocation:
    """Quantity of one line reserved at one location. Open allocations sum to inventory.reserved."""

    id: str
    line_id: str
    sku: str
    location_id: str
    quantity: int
    status: AllocationStatus = AllocationStatus.OPEN


@dataclass(frozen=True, slots=True)
class Hold:
    reason: str
    placed_by: str
    placed_at: datetime
    previous_status: OrderStatus


@dataclass(frozen=True, slots=True)
class OrderTotals:
    subtotal: Money
    shipping: Money
    tax: Money

    @property
    def total(self) -> Money:
        return self.subtotal + self.shipping + self.tax


@dataclass(frozen=True, slots=True)
class Order:
    id: str
    channel_id: str
    external_id: str
    customer_id: str
    status: OrderStatus
    lines: tuple[OrderLine, ...]
    delivery: Delivery
    totals: OrderTotals
    created_at: datetime
    updated_at: datetime
    notes: str | None = None
    allocations: tuple[Allocation, ...] = ()
    hold: Hold | None = None
    release_at: datetime | None = None  # scheduled delivery: when fulfilment should start
    version: int = 1
    # Set by routing; shaped by app.domain.routing, kept as plain data here.
    routing: dict[str, object] | None = field(default=None, compare=False)

    @property
    def location_ids(self) -> frozenset[str]:
        return frozenset(a.location_id for a in self.allocations if a.status is not AllocationStatus.RELEASED)

    @property
    def open_allocations(self) -> tuple[Allocation, ...]:
        return tuple(a for a in self.allocations if a.status is AllocationStatus.OPEN)

    def allocated_quantity(self, line_id: str) -> int:
        return sum(a.quantity for a in self.allocations if a.line_id == line_id and a.status is not AllocationStatus.RELEASED)

    def backordered_quantity(self, line_id: str) -> int:
        line = next(line for line in self.lines if line.id == line_id)
        return max(0, line.open_quantity - self.allocated_quantity(line_id))


def order_totals(lines: tuple[OrderLine, ...] | list[OrderLine], shipping: Money, tax_rate_bp: int = 0) -> OrderTotals:
    """Totals from lines. Tax in basis points, rounded half up per order."""
    subtotal = Money.zero(shipping.currency)
    for line in lines:
        subtotal = subtotal + line.total
    tax = Money((subtotal.cents * tax_rate_bp + 5000) // 10000, shipping.currency)
    return OrderTotals(subtotal=subtotal, shipping=shipping, tax=tax)


@dataclass(frozen=True, slots=True)
class OrderFilter:
    """Selection for order lists. Scope fields (from the caller's principal) are ANDed in by services."""

    statuses: tuple[OrderStatus, ...] = ()
    channel_ids: tuple[str, ...] = ()
    customer_id: str | None = None
    location_ids: tuple[str, ...] = ()
    created_from: datetime | None = None
    created_to: datetime | None = None
