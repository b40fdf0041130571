"""Returns: goods coming back from a shopper, from any channel, to a location that accepts them.

A return is authorized for delivered (or picked-up) lines of one order, travels back by MAIL (with a
label, to a location chosen by rules) or is handed over IN_STORE, is received and inspected there
(each line gets a disposition that decides what happens to the stock), and is finally refunded or
closed. Refund amounts are the refunds area's business; this module gives it what it needs: per line
the unit price paid, what arrived, and its disposition.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from enum import StrEnum
from typing import Any

from app.domain.errors import Conflict, DomainError, ErrorCode
from app.domain.events import Actor, DomainEvent
from app.domain.ids import new_id
from app.domain.money import Money
from app.domain.shipments import Label, ShipmentStatus, TrackingEvent

MAX_RETURN_LINES = 100
MAX_NOTE = 500
MAX_CLIENT_KEY = 100
MAX_WINDOW_DAYS = 3_650
MAX_RESTOCKING_FEE_BP = 10_000  # 100 %


class ReturnStatus(StrEnum):
    REQUESTED = "REQUESTED"  # asked for; waiting for approval when the channel's policy wants one
    AUTHORIZED = "AUTHORIZED"  # the shopper may send or bring it back
    IN_TRANSIT = "IN_TRANSIT"  # MAIL: the carrier has it
    RECEIVED = "RECEIVED"  # at the receiving location (dock scan or store counter), not yet inspected
    INSPECTED = "INSPECTED"  # every line has its received quantity and disposition; stock effects applied
    REFUNDED = "REFUNDED"  # money went back (the refunds area moves it here)
    CLOSED = "CLOSED"  # done without (further) refund
    REJECTED = "REJECTED"  # refused on review
    CANCELLED = "CANCELLED"  # withdrawn before anything arrived


class ReturnMethod(StrEnum):
    IN_STORE = "IN_STORE"  # the shopper walks into a store that accepts returns
    MAIL = "MAIL"  # a return label; a carrier brings it to the location routing chose


class ReturnReason(StrEnum):
    DAMAGED = "DAMAGED"
    WRONG_ITEM = "WRONG_ITEM"
    NOT_AS_DESCRIBED = "NOT_AS_DESCRIBED"
    NO_LONGER_NEEDED = "NO_LONGER_NEEDED"
    SIZE_FIT = "SIZE_FIT"
    LATE = "LATE"
    OTHER = "OTHER"


class Disposition(StrEnum):
    """What happens to a received unit."""

    RESTOCK = "RESTOCK"  # sellable: on hand at the receiving location goes up
    REFURBISH = "REFURBISH"  # set aside for repair: not sellable stock
    DAMAGED = "DAMAGED"  # written off, with a reason
    RETURN_TO_VENDOR = "RETURN_TO_VENDOR"  # goes back to the supplier: not sellable stock


class ShippingPayer(StrEnum):
    CUSTOMER = "CUSTOMER"  # the label's cost is deducted from the refund
    RETAILER = "RETAILER"


class ExchangeMode(StrEnum):
    """When a replacement's stock is reserved (used by exchanges)."""

    EXCHANGE_ON_REQUEST = "EXCHANGE_ON_REQUEST"
    EXCHANGE_ON_RECEIPT = "EXCHANGE_ON_RECEIPT"


class ReturnRoutingRule(StrEnum):
    """How the receiving location was chosen."""

    IN_STORE = "IN_STORE"  # the store the shopper walked into (or will walk into)
    RETURNS_CENTRE = "RETURNS_CENTRE"  # the channel's returns centre, by policy
    NEAREST_RETURN_LOCATION = "NEAREST_RETURN_LOCATION"  # nearest active location that accepts returns


# --- state machine -------------------------------------------------------------------------------

TERMINAL = frozenset({ReturnStatus.REFUNDED, ReturnStatus.CLOSED, ReturnStatus.REJECTED, ReturnStatus.CANCELLED})
# Nothing has arrived yet: the shopper may still withdraw, and the goods may still come.
AWAITING_GOODS = frozenset({ReturnStatus.AUTHORIZED, ReturnStatus.IN_TRANSIT})

TRANSITIONS: dict[ReturnStatus, frozenset[ReturnStatus]] = {
    ReturnStatus.REQUESTED: frozenset({ReturnStatus.AUTHORIZED, ReturnStatus.REJECTED, ReturnStatus.CANCELLED}),
    ReturnStatus.AUTHORIZED: frozenset({ReturnStatus.IN_TRANSIT, ReturnStatus.RECEIVED, ReturnStatus.CANCELLED}),
    ReturnStatus.IN_TRANSIT: frozenset({ReturnStatus.RECEIVED}),
    ReturnStatus.RECEIVED: frozenset({ReturnStatus.INSPECTED}),
    ReturnStatus.INSPECTED: frozenset({ReturnStatus.REFUNDED, ReturnStatus.CLOSED}),
    ReturnStatus.REFUNDED: frozenset(),
    ReturnStatus.CLOSED: frozenset(),
    ReturnStatus.REJECTED: frozenset(),
    ReturnStatus.CANCELLED: frozenset(),
}


class IllegalReturnTransition(DomainError):
    code = ErrorCode.ILLEGAL_TRANSITION


def transition(current: ReturnStatus, target: ReturnStatus) -> ReturnStatus:
    """The new status, or IllegalReturnTransition."""
    if target in TRANSITIONS[current]:
        return target
    raise IllegalReturnTransition(f"a return that is {current} cannot become {target}", field=("status",))


# --- refusals ------------------------------------------------------------------------------------


class ReturnWindowClosed(Conflict):
    """The line was delivered longer ago than the channel's return window."""

    code = ErrorCode.RETURN_WINDOW_CLOSED


class NotDelivered(Conflict):
    """Nothing of the line has been delivered or picked up yet."""

    code = ErrorCode.NOT_DELIVERED


class ReturnQuantityExceeded(Conflict):
    """More than was delivered minus what is already being (or was) returned."""

    code = ErrorCode.RETURN_QUANTITY_EXCEEDED


class DuplicateClientKey(Conflict):
    """A return under this client key exists for the order, with different content."""

    code = ErrorCode.DUPLICATE_CLIENT_KEY


class ReturnNotAccepted(Conflict):
    """The location does not (or no location can) take returns."""

    code = ErrorCode.RETURNS_NOT_ACCEPTED


class ClientKeyTaken(Exception):
    """Another transaction stored a return under this (order, client key) first: compare and replay."""


# --- policy --------------------------------------------------------------------------------------


DEFAULT_INSPECTION_REASONS = frozenset({ReturnReason.DAMAGED, ReturnReason.WRONG_ITEM, ReturnReason.NOT_AS_DESCRIBED})


@dataclass(frozen=True, slots=True)
class ReturnPolicy:
    """A channel's return rules. Stored in `return_policies` under the channel id, or `global`."""

    window_days: int = 30  # counted from the day the line was delivered or picked up
    # Lines with these reasons must be given a disposition by whoever inspects them; others default to RESTOCK.
    inspection_reasons: frozenset[ReturnReason] = DEFAULT_INSPECTION_REASONS
    return_shipping_paid_by: ShippingPayer = ShippingPayer.RETAILER
    restocking_fee_bp: int = 0  # basis points of the refunded goods, charged by the refunds area
    exchange_mode: ExchangeMode = ExchangeMode.EXCHANGE_ON_RECEIPT
    returns_centre_location_id: str | None = None  # MAIL returns go here instead of the nearest location
    # True: returns asked for by shoppers and channel integrations wait in REQUESTED for staff approval.
    approval_required: bool = False

    def needs_inspection(self, reason: ReturnReason) -> bool:
        return reason in self.inspection_reasons


DEFAULT_RETURN_POLICY = ReturnPolicy()
GLOBAL_SCOPE = "global"


@dataclass(frozen=True, slots=True)
class ConfiguredReturnPolicy:
    """The policy in force for a scope (`global` or a channel id); `inherited` when a channel has none of
    its own. `version` is 0 while nothing was ever stored (DEFAULT_RETURN_POLICY)."""

    scope: str
    policy: ReturnPolicy
    inherited: bool = False
    version: int = 0
    updated_at: datetime | None = None
    updated_by: str | None = None

    @property
    def source(self) -> str:
        return GLOBAL_SCOPE if self.inherited else self.scope


# --- the return ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ReturnLine:
    """One order line coming back. `quantity` is what was authorized; the rest is known on receipt."""

    id: str  # "1", "2", ... within the return
    order_line_id: str
    sku: str
    name: str
    quantity: int
    reason: ReturnReason
    unit_price: Money  # what the shopper paid per unit (the order line's price)
    note: str | None = None
    received_quantity: int | None = None  # None until received
    disposition: Disposition | None = None  # None until inspected
    disposition_note: str | None = None  # why (required for DAMAGED: the write-off reason)

    @property
    def shortfall(self) -> int:
        """Authorized but not received (0 until received)."""
        return 0 if self.received_quantity is None else self.quantity - self.received_quantity

    @property
    def counted_quantity(self) -> int:
        """Units of the order line this line takes out of what may still be returned."""
        return self.quantity if self.received_quantity is None else self.received_quantity


@dataclass(frozen=True, slots=True)
class RoutingCandidate:
    location_id: str
    distance_km: float | None
    outcome: str  # CHOSEN, FARTHER, INACTIVE, NO_RETURNS, NO_ADDRESS


@dataclass(frozen=True, slots=True)
class ReturnRouting:
    """Why the goods go where they go: stored on the return like an order's routing explanation."""

    rule: ReturnRoutingRule
    location_id: str
    summary: str
    distance_km: float | None = None
    candidates: tuple[RoutingCandidate, ...] = ()


@dataclass(frozen=True, slots=True)
class Return:
    id: str
    number: str  # human-readable: "R-<order external id>-<n>"
    order_id: str
    customer_id: str
    channel_id: str
    client_key: str
    method: ReturnMethod
    status: ReturnStatus
    lines: tuple[ReturnLine, ...]
    created_at: datetime
    updated_at: datetime
    location_id: str | None = None  # the receiving location; None for an IN_STORE return not yet brought in
    routing: ReturnRouting | None = None
    label: Label | None = None  # MAIL: the return label
    label_paid_by: ShippingPayer | None = None
    requested_by: str | None = None  # the principal's subject
    status_reason: str | None = None  # why it was rejected, cancelled or closed
    received_at: datetime | None = None
    inspected_at: datetime | None = None
    closed_at: datetime | None = None  # REFUNDED, CLOSED, REJECTED or CANCELLED
    refund_id: str | None = None  # set by the refunds area when it moves the return to REFUNDED
    tracking: tuple[TrackingEvent, ...] = ()  # MAIL: the carrier's scans of the return label
    sequence: int = 1  # n-th return of the order: unique per order, so concurrent requests serialize
    input_hash: str | None = None
    version: int = 1

    @property
    def tracking_number(self) -> str | None:
        return self.label.tracking_number if self.label else None

    @property
    def item_count(self) -> int:
        return sum(line.quantity for line in self.lines)

    @property
    def received_count(self) -> int:
        return sum(line.received_quantity or 0 for line in self.lines)

    def line(self, line_id: str) -> ReturnLine | None:
        return next((line for line in self.lines if line.id == line_id), None)


@dataclass(frozen=True, slots=True)
class ReturnFilter:
    """Selection for return lists. Scope fields are ANDed in by services."""

    statuses: tuple[ReturnStatus, ...] = ()
    location_ids: tuple[str, ...] = ()
    channel_ids: tuple[str, ...] = ()
    reasons: tuple[ReturnReason, ...] = ()
    order_id: str | None = None
    customer_id: str | None = None
    created_from: datetime | None = None
    created_to: datetime | None = None


# --- requests ------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ReturnLineRequest:
    order_line_id: str
    quantity: int
    reason: ReturnReason
    note: str | None = None
    # IN_STORE at the counter only: inspected on the spot (else the line waits for receiveReturn).
    disposition: Disposition | None = None
    disposition_note: str | None = None


@dataclass(frozen=True, slots=True)
class ReturnRequest:
    order_id: str
    client_key: str
    method: ReturnMethod
    lines: tuple[ReturnLineRequest, ...]
    location_id: str | None = None  # IN_STORE: the store taking it (staff: their store)


@dataclass(frozen=True, slots=True)
class ReceivedLine:
    return_line_id: str
    quantity: int
    disposition: Disposition | None = None  # None: RESTOCK, unless the reason needs inspection
    note: str | None = None  # required for DAMAGED: the write-off reason


HANDED_OVER = frozenset({ShipmentStatus.DELIVERED, ShipmentStatus.PICKED_UP})
# Returns in these states take units out of what the order may still return.
COUNTS_AGAINST_ORDER = frozenset(ReturnStatus) - {ReturnStatus.REJECTED, ReturnStatus.CANCELLED}


# --- pure steps ----------------------------------------------------------------------------------


def with_status(ret: Return, target: ReturnStatus, at: datetime, *, reason: str | None = None) -> Return:
    changed = replace(ret, status=transition(ret.status, target), updated_at=at)
    if target is ReturnStatus.RECEIVED:
        changed = replace(changed, received_at=at)
    elif target is ReturnStatus.INSPECTED:
        changed = replace(changed, inspected_at=at)
    elif target in TERMINAL:
        changed = replace(changed, closed_at=at, status_reason=reason)
    return changed


def bump(ret: Return, at: datetime) -> Return:
    """Every persisted change bumps the version (the optimistic-concurrency guard)."""
    return replace(ret, version=ret.version + 1, updated_at=at)


def default_disposition(line: ReturnLine, policy: ReturnPolicy) -> Disposition | None:
    """RESTOCK for reasons the policy lets through uninspected; None where someone has to decide."""
    return None if policy.needs_inspection(line.reason) else Disposition.RESTOCK


class OrderReturnStatus(StrEnum):
    """The order's returns at a glance."""

    NONE = "NONE"  # no live return
    RETURN_REQUESTED = "RETURN_REQUESTED"  # returns on the way, nothing received yet
    PARTIALLY_RETURNED = "PARTIALLY_RETURNED"  # some delivered units came back
    RETURNED = "RETURNED"  # every delivered unit came back


def order_return_status(returns: list[Return] | tuple[Return, ...], order_units: int) -> OrderReturnStatus:
    """From the order's returns and its open (ordered minus cancelled) units."""
    live = [r for r in returns if r.status in COUNTS_AGAINST_ORDER]
    if not live:
        return OrderReturnStatus.NONE
    received = sum(r.received_count for r in live)
    if received == 0:
        return OrderReturnStatus.RETURN_REQUESTED
    if order_units > 0 and received >= order_units:
        return OrderReturnStatus.RETURNED
    return OrderReturnStatus.PARTIALLY_RETURNED


@dataclass(frozen=True, slots=True)
class LineStockEffect:
    """What one received line does to stock at the receiving location."""

    sku: str
    quantity: int
    disposition: Disposition
    note: str | None = None
    line_id: str = ""

    @property
    def sellable(self) -> bool:
        return self.disposition is Disposition.RESTOCK


# --- events --------------------------------------------------------------------------------------


def return_event(
    ret: Return, kind: str, actor: Actor, at: datetime, payload: dict[str, Any] | None = None, reason: str | None = None
) -> DomainEvent:
    """Every return event carries the order's keys and the receiving location, so order, customer,
    channel and location subscriptions and `events(filter)` select them like any other."""
    return DomainEvent(
        id=new_id(),
        type=kind,
        aggregate_type="Return",
        aggregate_id=ret.id,
        at=at,
        actor=actor,
        payload={"returnNumber": ret.number, "status": ret.status.value, "method": ret.method.value, **(payload or {})},
        reason=reason,
        order_id=ret.order_id,
        customer_id=ret.customer_id,
        channel_id=ret.channel_id,
        location_id=ret.location_id,
    )


def status_changed(
    before: Return, after: Return, actor: Actor, at: datetime, reason: str | None = None, *, details: dict[str, Any] | None = None
) -> DomainEvent:
    payload = {"from": before.status.value, "to": after.status.value, **(details or {})}
    return return_event(after, "ReturnStatusChanged", actor, at, payload, reason)


def lines_payload(ret: Return) -> list[dict[str, Any]]:
    return [
        {
            "lineId": line.id,
            "orderLineId": line.order_line_id,
            "sku": line.sku,
            "quantity": line.quantity,
            "reason": line.reason.value,
            "receivedQuantity": line.received_quantity,
            "shortfall": line.shortfall,
            "disposition": line.disposition.value if line.disposition else None,
        }
        for line in ret.lines
    ]
