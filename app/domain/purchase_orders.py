"""Purchase orders: one supplier, one receiving location, lines rounded to packs and MOQ.

DRAFT → SUBMITTED → PARTIALLY_RECEIVED → RECEIVED, and CANCELLED from DRAFT or SUBMITTED. While a PO
is SUBMITTED or PARTIALLY_RECEIVED its open quantity counts as `incoming` at its location.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, time, timedelta
from enum import StrEnum
from typing import Any

from app.domain.errors import Conflict, ErrorCode, Validator
from app.domain.events import Actor, DomainEvent
from app.domain.ids import new_id
from app.domain.inventory import MAX_UNITS
from app.domain.suppliers import Supplier

MAX_LINES = 100


class PurchaseOrderStatus(StrEnum):
    DRAFT = "DRAFT"
    SUBMITTED = "SUBMITTED"
    PARTIALLY_RECEIVED = "PARTIALLY_RECEIVED"
    RECEIVED = "RECEIVED"
    CANCELLED = "CANCELLED"


S = PurchaseOrderStatus
# The one state machine the code and docs share.
TRANSITIONS: dict[PurchaseOrderStatus, frozenset[PurchaseOrderStatus]] = {
    S.DRAFT: frozenset({S.SUBMITTED, S.CANCELLED}),
    S.SUBMITTED: frozenset({S.PARTIALLY_RECEIVED, S.RECEIVED, S.CANCELLED}),
    S.PARTIALLY_RECEIVED: frozenset({S.PARTIALLY_RECEIVED, S.RECEIVED}),
    S.RECEIVED: frozenset(),
    S.CANCELLED: frozenset(),
}
OPEN_STATUSES = frozenset({S.SUBMITTED, S.PARTIALLY_RECEIVED})  # their open quantity is incoming


class PurchaseOrderSource(StrEnum):
    MANUAL = "MANUAL"
    REPLENISHMENT = "REPLENISHMENT"  # raised by a reorder-point crossing


class IllegalPurchaseOrderTransition(Conflict):
    code = ErrorCode.ILLEGAL_TRANSITION


@dataclass(frozen=True, slots=True)
class PurchaseOrderLine:
    id: str
    sku: str
    supplier_sku: str
    quantity: int
    unit_cost_cents: int
    received: int = 0
    damaged: int = 0
    crossing_id: str | None = None  # the reorder-point crossing that raised it (exactly one line each)

    @property
    def open_quantity(self) -> int:
        return max(0, self.quantity - self.received - self.damaged)


@dataclass(frozen=True, slots=True)
class PurchaseOrder:
    id: str
    number: str
    supplier_code: str
    location_id: str
    status: PurchaseOrderStatus
    currency: str
    lines: tuple[PurchaseOrderLine, ...]
    source: PurchaseOrderSource
    created_at: datetime
    updated_at: datetime
    submitted_at: datetime | None = None
    expected_at: datetime | None = None
    version: int = 1
    note: str | None = None

    @property
    def total_cents(self) -> int:
        return sum(line.quantity * line.unit_cost_cents for line in self.lines)

    @property
    def open_quantity(self) -> int:
        return sum(line.open_quantity for line in self.lines) if self.status in OPEN_STATUSES else 0


@dataclass(frozen=True, slots=True)
class LineRequest:
    sku: str
    quantity: int


@dataclass(frozen=True, slots=True)
class LineReceipt:
    line_id: str
    received: int
    damaged: int = 0


@dataclass(frozen=True, slots=True)
class PurchaseOrderFilter:
    statuses: frozenset[PurchaseOrderStatus] = frozenset()
    supplier_codes: frozenset[str] = frozenset()
    location_ids: frozenset[str] = frozenset()
    skus: frozenset[str] = frozenset()


def po_number(po_id: str) -> str:
    """Readable and unique without a shared counter (a hot counter would serialize replenishment):
    the id's creation second and counter, in base 36."""
    return "PO-" + _base36(int(po_id[:8], 16)) + "-" + _base36(int(po_id[-6:], 16)).rjust(5, "0")


def _base36(value: int) -> str:
    digits = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"
    out = ""
    while True:
        value, rest = divmod(value, 36)
        out = digits[rest] + out
        if not value:
            return out


def transition(po: PurchaseOrder, to: PurchaseOrderStatus, at: datetime) -> PurchaseOrder:
    if to not in TRANSITIONS[po.status]:
        raise IllegalPurchaseOrderTransition(f"purchase order {po.number} is {po.status}; cannot become {to}")
    return replace(po, status=to, updated_at=at)


def expected_date(supplier: Supplier, submitted_at: datetime) -> datetime:
    """Submit date + lead time; after the supplier's cut-off the order counts from the next day."""
    hours, minutes = (int(part) for part in supplier.order_cutoff.split(":"))
    day = submitted_at.date()
    if submitted_at.timetz().replace(tzinfo=None) > time(hours, minutes):
        day += timedelta(days=1)
    return datetime.combine(day + timedelta(days=supplier.lead_time_days), time(0, 0), tzinfo=submitted_at.tzinfo)


def submit(po: PurchaseOrder, supplier: Supplier, at: datetime) -> PurchaseOrder:
    if not po.lines:
        raise IllegalPurchaseOrderTransition(f"purchase order {po.number} has no lines", code=ErrorCode.INVALID_INPUT)
    if po.total_cents < supplier.min_order_value_cents:
        raise Conflict(
            f"{po.number} totals {po.total_cents} cents; {supplier.code} needs at least {supplier.min_order_value_cents}"
        )
    return replace(transition(po, S.SUBMITTED, at), submitted_at=at, expected_at=expected_date(supplier, at))


def reschedule(po: PurchaseOrder, expected_at: datetime, at: datetime) -> PurchaseOrder:
    """The supplier confirmed another arrival date: only while goods are still expected."""
    if po.status not in OPEN_STATUSES:
        raise IllegalPurchaseOrderTransition(f"purchase order {po.number} is {po.status}; only a submitted one has an expected date")
    check = Validator()
    check.check(expected_at.tzinfo is not None, "expectedAt needs a time zone", "expectedAt")
    if po.submitted_at is not None and expected_at.tzinfo is not None:
        check.check(expected_at >= po.submitted_at, "expectedAt is before the PO was submitted", "expectedAt")
    check.raise_if_any()
    return replace(po, expected_at=expected_at, updated_at=at)


def check_lines(lines: list[LineRequest]) -> None:
    check = Validator()
    check.check(1 <= len(lines) <= MAX_LINES, f"1-{MAX_LINES} lines", "lines")
    seen: set[str] = set()
    for index, line in enumerate(lines):
        check.check(1 <= line.quantity <= MAX_UNITS, f"quantity is 1-{MAX_UNITS}", "lines", index, "quantity")
        check.check(line.sku not in seen, f"{line.sku} appears twice", "lines", index, "sku")
        seen.add(line.sku)
    check.raise_if_any()


def receive(po: PurchaseOrder, receipts: list[LineReceipt], at: datetime, *, allow_over_receipt: bool) -> PurchaseOrder:
    """The PO once these units arrived. Validates every receipt first: bad input changes nothing."""
    if po.status not in OPEN_STATUSES:
        raise IllegalPurchaseOrderTransition(f"purchase order {po.number} is {po.status}; only a submitted one is received")
    check = Validator()
    check.check(1 <= len(receipts) <= MAX_LINES, f"1-{MAX_LINES} lines", "lines")
    by_id = {line.id: line for line in po.lines}
    seen: set[str] = set()
    for index, receipt in enumerate(receipts):
        line = by_id.get(receipt.line_id)
        if not check.check(line is not None, f"no line {receipt.line_id!r}", "lines", index, "lineId"):
            continue
        assert line is not None
        check.check(receipt.line_id not in seen, "line appears twice", "lines", index, "lineId")
        seen.add(receipt.line_id)
        check.check(0 <= receipt.received <= MAX_UNITS, f"received is 0-{MAX_UNITS}", "lines", index, "received")
        check.check(0 <= receipt.damaged <= MAX_UNITS, f"damaged is 0-{MAX_UNITS}", "lines", index, "damaged")
        check.check(receipt.received + receipt.damaged > 0, "nothing received", "lines", index, "received")
        if not allow_over_receipt:
            check.check(
                receipt.received + receipt.damaged <= line.open_quantity,
                f"only {line.open_quantity} open on line {line.id}; over-receipt is refused at this location",
                "lines", index, "received",
                code=ErrorCode.CONFLICT,
            )
    check.raise_if_any()
    got = {r.line_id: r for r in receipts}
    lines = tuple(
        replace(line, received=line.received + got[line.id].received, damaged=line.damaged + got[line.id].damaged)
        if line.id in got
        else line
        for line in po.lines
    )
    done = all(line.open_quantity == 0 for line in lines)
    return replace(transition(po, S.RECEIVED if done else S.PARTIALLY_RECEIVED, at), lines=lines)


def line_payload(line: PurchaseOrderLine) -> dict[str, Any]:
    return {
        "lineId": line.id,
        "sku": line.sku,
        "quantity": line.quantity,
        "unitCostCents": line.unit_cost_cents,
        "received": line.received,
        "damaged": line.damaged,
        "crossingId": line.crossing_id,
    }


def purchase_order_event(
    po: PurchaseOrder, type_: str, actor: Actor, at: datetime, payload: dict[str, Any] | None = None, reason: str | None = None
) -> DomainEvent:
    """Every PO event: aggregate PurchaseOrder, `location_id` set, payload with number and status."""
    return DomainEvent(
        id=new_id(),
        type=type_,
        aggregate_type="PurchaseOrder",
        aggregate_id=po.id,
        at=at,
        actor=actor,
        payload={"number": po.number, "status": po.status.value, "supplier": po.supplier_code, **(payload or {})},
        reason=reason,
        location_id=po.location_id,
    )
