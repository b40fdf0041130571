"""Exchanges: returned goods replaced by other goods (another size of the same product, or another
SKU) on a new order of the same customer and channel.

The returned units' value (price paid and their share of tax) pays for the replacement: that value
is recorded as EXCHANGE_CREDIT against the original order, under the same ceilings as refunds. When
the replacement costs more, the difference is charged; when it costs less, the difference is a
refund line of the return's refund. The channel's return policy says when the replacement's stock
is reserved: at once (EXCHANGE_ON_REQUEST) or once the return has arrived (EXCHANGE_ON_RECEIPT).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from enum import StrEnum

from app.domain.errors import Conflict, ErrorCode, Validator
from app.domain.money import Money
from app.domain.orders import Order
from app.domain.products import Product
from app.domain.refunds import units_paid_value
from app.domain.returns import ExchangeMode, Return, ReturnStatus

MAX_EXCHANGE_LINES = 100
MAX_ID = 100
# Goods still coming or here: a return that is refunded, closed, rejected or cancelled exchanges nothing.
EXCHANGEABLE = frozenset({ReturnStatus.AUTHORIZED, ReturnStatus.IN_TRANSIT, ReturnStatus.RECEIVED, ReturnStatus.INSPECTED})
ARRIVED = frozenset({ReturnStatus.RECEIVED, ReturnStatus.INSPECTED, ReturnStatus.REFUNDED, ReturnStatus.CLOSED})
# A return that ends like this brings nothing back: its pending exchange ends with it.
ENDS_PENDING = frozenset({ReturnStatus.REJECTED, ReturnStatus.CANCELLED})


class ExchangeStatus(StrEnum):
    PENDING = "PENDING"  # EXCHANGE_ON_RECEIPT: waiting for the return to arrive
    PLACED = "PLACED"  # the replacement order exists
    # Its return was cancelled or rejected: nothing was placed, or the replacement order was
    # cancelled with it (before it shipped) and its credit given back to the original order.
    CANCELLED = "CANCELLED"


class Settlement(StrEnum):
    EVEN = "EVEN"  # the replacement costs what the returned goods were worth
    CHARGE = "CHARGE"  # it costs more: the difference is charged
    REFUND = "REFUND"  # it costs less: the difference is refunded with the return


class ExchangeNotPossible(Conflict):
    code = ErrorCode.EXCHANGE_NOT_POSSIBLE


@dataclass(frozen=True, slots=True)
class ExchangeLineRequest:
    return_line_id: str
    sku: str
    quantity: int | None = None  # None: every unit of the return line


@dataclass(frozen=True, slots=True)
class ExchangeRequest:
    return_id: str
    lines: tuple[ExchangeLineRequest, ...]


@dataclass(frozen=True, slots=True)
class ExchangeLine:
    return_line_id: str
    order_line_id: str
    returned_sku: str
    sku: str
    name: str
    quantity: int
    unit_price: Money  # the replacement's catalog price
    credit: Money  # what the returned units were paid (goods and tax)

    @property
    def price(self) -> Money:
        return self.unit_price.times(self.quantity)


@dataclass(frozen=True, slots=True)
class Charge:
    """The difference charged through the original order's payment provider."""

    provider: str
    payment_reference: str | None
    amount: Money
    provider_reference: str | None = None


@dataclass(frozen=True, slots=True)
class Exchange:
    id: str
    return_id: str
    order_id: str  # the original order
    customer_id: str
    channel_id: str
    mode: ExchangeMode
    status: ExchangeStatus
    lines: tuple[ExchangeLine, ...]
    created_at: datetime
    updated_at: datetime
    requested_by: str
    replacement_order_id: str | None = None
    charge: Charge | None = None
    placed_at: datetime | None = None
    version: int = 1

    @property
    def active(self) -> bool:
        """A cancelled exchange replaces nothing: its return's refund counts every unit."""
        return self.status is not ExchangeStatus.CANCELLED

    @property
    def currency(self) -> str:
        return self.lines[0].credit.currency

    @property
    def credit(self) -> Money:
        return Money(sum(line.credit.cents for line in self.lines), self.currency)

    @property
    def replacement_total(self) -> Money:
        return Money(sum(line.price.cents for line in self.lines), self.currency)

    @property
    def settlement(self) -> Settlement:
        difference = self.replacement_total.cents - self.credit.cents
        return Settlement.CHARGE if difference > 0 else Settlement.REFUND if difference < 0 else Settlement.EVEN

    @property
    def difference(self) -> Money:
        """How much is charged (CHARGE) or refunded (REFUND); zero when EVEN."""
        return Money(abs(self.replacement_total.cents - self.credit.cents), self.currency)

    @property
    def credit_applied(self) -> Money:
        """The part of the returned goods' value that pays for the replacement."""
        return Money(min(self.credit.cents, self.replacement_total.cents), self.currency)

    def exchanged_units(self) -> dict[str, int]:
        """Units per return line whose value went to the replacement (not refunded)."""
        units: dict[str, int] = {}
        for line in self.lines:
            units[line.return_line_id] = units.get(line.return_line_id, 0) + line.quantity
        return units

    def refund_by_return_line(self) -> dict[str, int]:
        """A REFUND settlement's difference, per return line: lines whose goods were worth more than
        their replacement give it back, first line first."""
        left = self.difference.cents if self.settlement is Settlement.REFUND else 0
        split: dict[str, int] = {}
        for line in self.lines:
            surplus = line.credit.cents - line.price.cents
            take = min(max(0, surplus), left)
            if take:
                split[line.return_line_id] = split.get(line.return_line_id, 0) + take
                left -= take
        return split

    def credit_by_order_line(self) -> dict[str, int]:
        """The credit applied, per original order line (what the refund tally records)."""
        refunded = self.refund_by_return_line()
        credit: dict[str, int] = {}
        for line in self.lines:
            value = line.credit.cents - refunded.get(line.return_line_id, 0)
            refunded[line.return_line_id] = 0  # taken once per return line
            credit[line.order_line_id] = credit.get(line.order_line_id, 0) + value
        return {k: v for k, v in credit.items() if v > 0}


def validate_request(request: ExchangeRequest) -> Validator:
    check = Validator()
    check.check(0 < len(request.lines) <= MAX_EXCHANGE_LINES, f"an exchange has 1 to {MAX_EXCHANGE_LINES} lines", "lines")
    seen: set[str] = set()
    for index, line in enumerate(request.lines[:MAX_EXCHANGE_LINES]):
        check.check(line.return_line_id not in seen, "this return line is already exchanged on another line", "lines", index, "returnLineId")
        seen.add(line.return_line_id)
        sku = line.sku.strip()
        if check.check(bool(sku), "is required", "lines", index, "sku"):
            check.check(len(sku) <= MAX_ID and sku.isprintable(), f"is at most {MAX_ID} printable characters", "lines", index, "sku")
        if line.quantity is not None:
            check.check(line.quantity > 0, "quantity must be at least 1", "lines", index, "quantity")
    return check


def plan_lines(
    check: Validator, request: ExchangeRequest, order: Order, ret: Return, products: dict[str, Product]
) -> tuple[ExchangeLine, ...]:
    """The exchange's lines, each checked against the return line it replaces and the catalog."""
    lines: list[ExchangeLine] = []
    for index, item in enumerate(request.lines[:MAX_EXCHANGE_LINES]):
        returned = ret.line(item.return_line_id)
        if returned is None:
            check.add(f"return {ret.number} has no line {item.return_line_id}", "lines", index, "returnLineId")
            continue
        most = returned.received_quantity if returned.received_quantity is not None else returned.quantity
        quantity = most if item.quantity is None else item.quantity
        if quantity > most:
            check.add(f"at most {most} unit(s) of return line {returned.id} can be exchanged", "lines", index, "quantity")
            continue
        if quantity <= 0:
            check.add(f"nothing of return line {returned.id} arrived to exchange", "lines", index, "quantity")
            continue
        product = products.get(item.sku.strip())
        if product is None or not product.active:
            check.add(f"unknown SKU {item.sku.strip()!r}", "lines", index, "sku", code=ErrorCode.UNKNOWN_SKU)
            continue
        if product.price.currency != returned.unit_price.currency:
            check.add(f"{product.sku} is priced in {product.price.currency}, the order in {returned.unit_price.currency}", "lines", index, "sku")
            continue
        lines.append(
            ExchangeLine(
                return_line_id=returned.id,
                order_line_id=returned.order_line_id,
                returned_sku=returned.sku,
                sku=product.sku,
                name=product.name,
                quantity=quantity,
                unit_price=product.price,
                credit=Money(units_paid_value(order, returned.order_line_id, quantity), returned.unit_price.currency),
            )
        )
    return tuple(lines)


def check_exchangeable(ret: Return) -> None:
    if ret.status not in EXCHANGEABLE:
        raise ExchangeNotPossible(f"a return that is {ret.status} cannot ask for an exchange", field=("returnId",))


def places_now(mode: ExchangeMode, ret: Return) -> bool:
    """Whether the replacement is ordered (and its stock reserved) now, or when the goods arrive."""
    return mode is ExchangeMode.EXCHANGE_ON_REQUEST or ret.status in ARRIVED


def ended_with_return(exchange: Exchange, ret: Return, at: datetime) -> Exchange | None:
    """An exchange whose return will never arrive (cancelled or rejected) is CANCELLED; None when nothing
    changes. A PENDING one held no credit; a PLACED one's replacement and credit are undone by the caller."""
    if exchange.status is ExchangeStatus.CANCELLED or ret.status not in ENDS_PENDING:
        return None
    return replace(exchange, status=ExchangeStatus.CANCELLED, updated_at=at, version=exchange.version + 1)


def replacement_external_id(ret: Return) -> str:
    """The replacement order's external id on the channel: one per return, so placing is idempotent."""
    return f"EX-{ret.number}"
