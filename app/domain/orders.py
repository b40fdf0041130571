"""Orders: what was bought, on which channel, by whom, delivered how, and where it stands."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field, replace
from datetime import date, datetime
from enum import StrEnum
from typing import Any

from app.domain.errors import Conflict, ErrorCode, DomainError
from app.domain.events import Actor, DomainEvent
from app.domain.ids import new_id
from app.domain.geo import GeoPoint
from app.domain.geocoding import PointSource
from app.domain.locations import Address
from app.domain.money import Money
from app.domain.payments import Payment, RefundTally


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

# Statuses derived from how much of the order is reserved (`status_from_allocations`).
ALLOCATION_STATES = frozenset({
    OrderStatus.BACKORDERED,
    OrderStatus.PARTIALLY_ALLOCATED,
    OrderStatus.ALLOCATED,
})
# Before fulfilment starts, lines, quantities and the address may still change.
EDITABLE_STATUSES = frozenset({OrderStatus.CREATED, OrderStatus.SCHEDULED, OrderStatus.ON_HOLD} | ALLOCATION_STATES)
# Orders waiting for stock: their backordered quantity is filled, oldest first, when stock arrives.
# Not only the allocation states: once part of an order has shipped or been collected it stays
# PARTIALLY_SHIPPED while the rest waits (a short pick with nowhere to re-route, a line that was
# backordered at capture), and an order released from a hold goes back to IN_FULFILLMENT even if an
# edit left it short. Without these the remainder would never get stock. ON_HOLD is left out on
# purpose: a hold freezes the order; released, it is back in the queue.
BACKORDER_FILLABLE = frozenset(
    {OrderStatus.SCHEDULED, OrderStatus.IN_FULFILLMENT, OrderStatus.PARTIALLY_SHIPPED} | ALLOCATION_STATES
)

# Legal moves. ON_HOLD returns to the status held before (see `release_hold`).
TRANSITIONS: dict[OrderStatus, frozenset[OrderStatus]] = {
    OrderStatus.CREATED: frozenset(ALLOCATION_STATES | {OrderStatus.SCHEDULED, OrderStatus.ON_HOLD, OrderStatus.CANCELLED}),
    OrderStatus.SCHEDULED: frozenset(ALLOCATION_STATES | {OrderStatus.ON_HOLD, OrderStatus.CANCELLED}),
    OrderStatus.BACKORDERED: frozenset(ALLOCATION_STATES | {OrderStatus.ON_HOLD, OrderStatus.CANCELLED}),
    OrderStatus.PARTIALLY_ALLOCATED: frozenset(
        ALLOCATION_STATES | {OrderStatus.IN_FULFILLMENT, OrderStatus.ON_HOLD, OrderStatus.CANCELLED, OrderStatus.PARTIALLY_SHIPPED}
    ),
    OrderStatus.ALLOCATED: frozenset(
        ALLOCATION_STATES
        | {OrderStatus.IN_FULFILLMENT, OrderStatus.READY_FOR_PICKUP, OrderStatus.ON_HOLD, OrderStatus.CANCELLED}
    ),
    OrderStatus.ON_HOLD: frozenset(
        ALLOCATION_STATES | {OrderStatus.SCHEDULED, OrderStatus.CREATED, OrderStatus.IN_FULFILLMENT, OrderStatus.CANCELLED}
    ),
    OrderStatus.IN_FULFILLMENT: frozenset(
        ALLOCATION_STATES
        | {OrderStatus.PARTIALLY_SHIPPED, OrderStatus.SHIPPED, OrderStatus.READY_FOR_PICKUP, OrderStatus.ON_HOLD, OrderStatus.CANCELLED}
    ),
    # PICKED_UP: a pick-up order collected in parts (the rest was backordered, then filled) ends
    # there, as `rolled_up_status` says, once the shopper has collected the last part.
    OrderStatus.PARTIALLY_SHIPPED: frozenset(
        {OrderStatus.SHIPPED, OrderStatus.DELIVERED, OrderStatus.PICKED_UP, OrderStatus.PARTIALLY_SHIPPED}
    ),
    OrderStatus.SHIPPED: frozenset({OrderStatus.DELIVERED}),
    OrderStatus.READY_FOR_PICKUP: frozenset({OrderStatus.PICKED_UP, OrderStatus.CANCELLED}),
    OrderStatus.DELIVERED: frozenset(),
    OrderStatus.PICKED_UP: frozenset(),
    OrderStatus.CANCELLED: frozenset(),
}


class IllegalTransition(DomainError):
    code = ErrorCode.ILLEGAL_TRANSITION


class DuplicateExternalId(Conflict):
    """The channel already sent an order under this id, with different content."""

    code = ErrorCode.DUPLICATE_EXTERNAL_ID


class ExternalIdTaken(Exception):
    """Another transaction stored an order under this (channel, external id) first: compare and replay."""


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
    # How `point` was found for SHIP: sent by the channel, or the centre of the address's postal
    # code or city (app/services/geocoding.py). None for pick-up (the point is the store's).
    point_source: PointSource | None = None


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
    # SHA-256 of the canonical capture input: a replay with the same hash returns this order.
    input_hash: str | None = None
    # Money captured by payment providers with the order (empty: refunds are recorded as MANUAL).
    payments: tuple[Payment, ...] = ()
    # What refunds and exchange credit have taken back so far (app.domain.payments.add caps it).
    refund_tally: RefundTally = field(default_factory=RefundTally)
    # A replacement order made by an exchange: the return it replaces goods of.
    exchange_for_return_id: str | None = None

    @property
    def location_ids(self) -> frozenset[str]:
        """Where the order is worked: its unreleased allocations, and the store it is picked up at
        (staff there hand it over even when it was allocated elsewhere and shipped to the store)."""
        found = {a.location_id for a in self.allocations if a.status is not AllocationStatus.RELEASED}
        if self.delivery.pickup_location_id:
            found.add(self.delivery.pickup_location_id)
        return frozenset(found)

    @property
    def open_allocations(self) -> tuple[Allocation, ...]:
        return tuple(a for a in self.allocations if a.status is AllocationStatus.OPEN)

    def allocated_quantity(self, line_id: str) -> int:
        return sum(a.quantity for a in self.allocations if a.line_id == line_id and a.status is not AllocationStatus.RELEASED)

    def allocated_quantities(self) -> dict[str, int]:
        """allocated_quantity of every line that has one, in one pass over the allocations."""
        found: dict[str, int] = {}
        for a in self.allocations:
            if a.status is not AllocationStatus.RELEASED:
                found[a.line_id] = found.get(a.line_id, 0) + a.quantity
        return found

    def backordered_quantity(self, line_id: str) -> int:
        line = next(line for line in self.lines if line.id == line_id)
        return max(0, line.open_quantity - self.allocated_quantity(line_id))

    @property
    def backordered_skus(self) -> frozenset[str]:
        return frozenset(line.sku for line in self.lines if self.backordered_quantity(line.id) > 0)

    def line(self, line_id: str) -> OrderLine | None:
        return next((line for line in self.lines if line.id == line_id), None)


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


# --- lifecycle: pure functions from one order to the next; services persist and event them ---


def status_from_allocations(order: Order) -> OrderStatus:
    """ALLOCATED when every open unit is reserved (or fulfilled), BACKORDERED when none is."""
    lines = [line for line in order.lines if line.open_quantity > 0]
    if not lines:
        return OrderStatus.CANCELLED
    short = [line for line in lines if order.backordered_quantity(line.id) > 0]
    if not short:
        return OrderStatus.ALLOCATED
    if all(order.allocated_quantity(line.id) == 0 for line in lines):
        return OrderStatus.BACKORDERED
    return OrderStatus.PARTIALLY_ALLOCATED


def settled_status(order: Order, now: datetime) -> OrderStatus:
    """Where an order with this content stands now: SCHEDULED until its release time, else by allocations."""
    if order.release_at is not None and order.release_at > now:
        return OrderStatus.SCHEDULED
    return status_from_allocations(order)


def with_status(order: Order, target: OrderStatus, at: datetime) -> Order:
    """The order in `target` status, or IllegalTransition."""
    return replace(order, status=transition(order.status, target), updated_at=at)


def bump(order: Order, at: datetime) -> Order:
    """Every persisted change bumps the version (the optimistic-concurrency guard) and updated_at."""
    return replace(order, version=order.version + 1, updated_at=at)


def place_hold(order: Order, reason: str, actor: Actor, at: datetime) -> Order:
    if order.status is OrderStatus.ON_HOLD:
        raise IllegalTransition("the order is already on hold", field=("orderId",))
    held = with_status(order, OrderStatus.ON_HOLD, at)
    return replace(held, hold=Hold(reason=reason, placed_by=actor.subject, placed_at=at, previous_status=order.status))


def release_hold(order: Order, at: datetime) -> Order:
    """Back to the status held before, re-derived where allocations may have changed meanwhile."""
    if order.status is not OrderStatus.ON_HOLD or order.hold is None:
        raise IllegalTransition(f"an order that is {order.status} is not on hold", field=("orderId",))
    target = order.hold.previous_status
    if target in ALLOCATION_STATES or target is OrderStatus.SCHEDULED:
        target = settled_status(order, at)
    released = with_status(order, target, at)
    return replace(released, hold=None)


def cancel(order: Order, at: datetime) -> Order:
    """Cancelled, with every open reservation given back."""
    if order.status is OrderStatus.CANCELLED:
        raise IllegalTransition("the order is already cancelled", field=("orderId",))
    cancelled = with_status(order, OrderStatus.CANCELLED, at)
    return replace(cancelled, hold=None, allocations=release_open(order.allocations))


def release_open(allocations: tuple[Allocation, ...]) -> tuple[Allocation, ...]:
    return tuple(
        replace(a, status=AllocationStatus.RELEASED) if a.status is AllocationStatus.OPEN else a for a in allocations
    )


def reservation_deltas(before: Order | None, after: Order) -> dict[tuple[str, str], int]:
    """Change in reserved units per (sku, location) between two versions of an order.

    Positive: reserve more; negative: give back. Applying exactly these keeps
    inventory.reserved equal to the sum of OPEN allocations.
    """
    counts: Counter[tuple[str, str]] = Counter()
    for allocation in after.open_allocations:
        counts[(allocation.sku, allocation.location_id)] += allocation.quantity
    if before is not None:
        for allocation in before.open_allocations:
            counts[(allocation.sku, allocation.location_id)] -= allocation.quantity
    return {key: delta for key, delta in sorted(counts.items()) if delta}


def order_event(
    order: Order,
    event_type: str,
    actor: Actor,
    at: datetime,
    payload: dict[str, Any] | None = None,
    reason: str | None = None,
) -> DomainEvent:
    return DomainEvent(
        id=new_id(),
        type=event_type,
        aggregate_type="Order",
        aggregate_id=order.id,
        at=at,
        actor=actor,
        payload=payload or {},
        reason=reason,
        order_id=order.id,
        customer_id=order.customer_id,
        channel_id=order.channel_id,
    )


def status_changed(before: OrderStatus, order: Order, actor: Actor, at: datetime, reason: str | None = None) -> list[DomainEvent]:
    """An OrderStatusChanged event when the status moved; none when it stayed put."""
    if before is order.status:
        return []
    return [order_event(order, "OrderStatusChanged", actor, at, {"from": before.value, "to": order.status.value}, reason)]


def allocation_payload(allocations: tuple[Allocation, ...] | list[Allocation]) -> list[dict[str, Any]]:
    return [
        {"lineId": a.line_id, "sku": a.sku, "locationId": a.location_id, "quantity": a.quantity, "status": a.status.value}
        for a in allocations
    ]
