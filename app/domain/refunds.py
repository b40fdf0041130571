"""Refunds: what a return gives back, appeasements without one, and the ceilings they never pass.

The amount of a return's refund is computed here from what was received and its disposition:
the unit price paid, the line's share of the order's tax, original shipping for returns that are
the retailer's fault, minus the channel's restocking fee (shopper's own reasons only) and the
return label when the shopper pays it. Orders carry no discounts today: the price paid per unit
is the line's unit price. Whatever is given back is added to the order's `RefundTally` under the
ceilings of what was paid (app.domain.payments.add), so no sequence of refunds can exceed it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from app.domain.errors import Conflict, DomainError, ErrorCode, FieldIssue, Forbidden, InvalidInput, Validator
from app.domain.money import Money
from app.domain.orders import Order
from app.domain.payments import Ceilings, TallyEntry
from app.domain.returns import Disposition, Return, ReturnLine, ReturnPolicy, ReturnReason, ReturnStatus, ShippingPayer

MAX_REASON = 500
MAX_REFUND_CENTS = 100_000_000

# Reasons that are the retailer's fault: no restocking fee, no label charge, shipping comes back too.
RETAILER_FAULT = frozenset({ReturnReason.DAMAGED, ReturnReason.WRONG_ITEM, ReturnReason.NOT_AS_DESCRIBED, ReturnReason.LATE})
# A return is refunded once it is inspected: every line has its received quantity and disposition.
REFUNDABLE_STATUS = ReturnStatus.INSPECTED


class RefundKind(StrEnum):
    RETURN = "RETURN"  # for goods that came back
    APPEASEMENT = "APPEASEMENT"  # goodwill, without a return (a late parcel, a scratch)
    EXCHANGE_CREDIT = "EXCHANGE_CREDIT"  # returned goods' value applied to a replacement order


class RefundStatus(StrEnum):
    PENDING = "PENDING"  # recorded (and counted in the tally); the provider is being asked
    ISSUED = "ISSUED"  # the provider accepted it
    FAILED = "FAILED"  # the provider refused it; its amount is back in what may be refunded
    # Paid back through some payments, refused by another: `amount` is what went back and
    # `refused` the part released (given back another way, e.g. an appeasement, if at all).
    PARTIALLY_ISSUED = "PARTIALLY_ISSUED"
    # Exchange credit given back to the original order: the exchange was withdrawn with its return.
    REVERSED = "REVERSED"


class PaymentFailed(Conflict):
    """The payment provider refused the refund: it is recorded FAILED and nothing else changed."""

    code = ErrorCode.PAYMENT_FAILED


class RefundLineKind(StrEnum):
    GOODS = "GOODS"  # unit price paid × units
    TAX = "TAX"  # the units' share of the order's tax
    SHIPPING = "SHIPPING"  # the units' share of original shipping (retailer's fault)
    RESTOCKING_FEE = "RESTOCKING_FEE"  # negative: the channel's fee on goods returned for the shopper's own reasons
    RETURN_LABEL = "RETURN_LABEL"  # negative: the return label, when the shopper pays it
    NOT_REFUNDED = "NOT_REFUNDED"  # zero: units received that give nothing back (and why)
    EXCHANGE_DIFFERENCE = "EXCHANGE_DIFFERENCE"  # the replacement cost less than the goods it replaces
    APPEASEMENT = "APPEASEMENT"  # goodwill amount
    ADJUSTMENT = "ADJUSTMENT"  # negative: a partial refund, less than computed


class AlreadyRefunded(Conflict):
    """The return has its refund already (or one is being issued): a second one is refused."""

    code = ErrorCode.ALREADY_REFUNDED


class NotRefundable(Conflict):
    """The return is not inspected yet, or was closed without a refund."""

    code = ErrorCode.NOT_REFUNDABLE


class RefundLimitExceeded(DomainError):
    """An appeasement above what the caller's role may grant."""

    code = ErrorCode.REFUND_LIMIT_EXCEEDED


@dataclass(frozen=True, slots=True)
class RefundLine:
    kind: RefundLineKind
    amount: Money  # negative for fees and deductions
    description: str
    order_line_id: str | None = None
    return_line_id: str | None = None
    sku: str | None = None
    quantity: int = 0


@dataclass(frozen=True, slots=True)
class RefundComputation:
    """A refund before it is issued: its lines, its total, and how it splits over the order's ceilings."""

    order_id: str
    return_id: str | None
    lines: tuple[RefundLine, ...]
    total: Money
    entry: TallyEntry  # per order line and shipping, for the tally (payments are split at issue time)
    refundable: Money  # what the order still has to give back (paid minus everything taken back)
    final: bool  # False while the return is not inspected: an estimate from what was authorized


@dataclass(frozen=True, slots=True)
class PaymentSplit:
    """The part of a refund paid back through one of the order's payments."""

    payment_index: int  # -1: MANUAL (the order was captured without payments)
    provider: str
    reference: str | None
    amount: Money
    provider_refund_id: str | None = None


@dataclass(frozen=True, slots=True)
class Refund:
    id: str
    order_id: str
    customer_id: str
    channel_id: str
    kind: RefundKind
    amount: Money
    lines: tuple[RefundLine, ...]
    splits: tuple[PaymentSplit, ...]
    status: RefundStatus
    created_at: datetime
    created_by: str  # the principal's subject
    created_by_role: str
    return_id: str | None = None
    exchange_id: str | None = None
    reason: str | None = None
    location_id: str | None = None  # where the return was received (its staff see the refund)
    tally_entry: TallyEntry | None = None  # what it added to the order's tally (released if it FAILED)
    refused: Money | None = None  # PARTIALLY_ISSUED: the part the provider refused


@dataclass(frozen=True, slots=True)
class AppeasementLimits:
    """Most a role may grant in one appeasement, in minor units (configurable; ADMIN above CSR)."""

    csr_cents: int = 5_000
    admin_cents: int = 50_000

    def for_role(self, role: str) -> int | None:
        return {"CSR": self.csr_cents, "ADMIN": self.admin_cents}.get(role)


DEFAULT_APPEASEMENT_LIMITS = AppeasementLimits()


@dataclass(frozen=True, slots=True)
class RefundRequest:
    """`return_id`: refund a return (amount defaults to the computed one, may be less: a partial
    refund, with a reason). Without it: an appeasement on `order_id`, with amount and reason."""

    return_id: str | None = None
    order_id: str | None = None
    amount_cents: int | None = None
    reason: str | None = None


# --- ceilings ---------------------------------------------------------------------------------------


def amount_paid(order: Order) -> int:
    """What was paid: the payments' total, or the order's total for an order captured without them."""
    return sum(p.amount.cents for p in order.payments) if order.payments else order.totals.total.cents


def line_paid(order: Order, line_id: str) -> int:
    """Goods and tax paid for one whole line (open quantity)."""
    line = order.line(line_id)
    if line is None:
        return 0
    return line.total.cents + _tax_share(order, line.total.cents)


def ceilings(order: Order) -> Ceilings:
    return Ceilings(
        total_cents=amount_paid(order),
        lines={line.id: line_paid(order, line.id) for line in order.lines},
        shipping_cents=order.totals.shipping.cents,
    )


def _tax_share(order: Order, goods_cents: int) -> int:
    subtotal = order.totals.subtotal.cents
    return order.totals.tax.cents * goods_cents // subtotal if subtotal > 0 else 0


def units_paid_value(order: Order, line_id: str, quantity: int) -> int:
    """Goods and tax paid for `quantity` units of a line (the value an exchange credits)."""
    line = order.line(line_id)
    if line is None:
        return 0
    goods = line.unit_price.cents * quantity
    return goods + _tax_share(order, goods)


# --- a return's refund --------------------------------------------------------------------------------


def return_refund(
    order: Order,
    ret: Return,
    policy: ReturnPolicy,
    *,
    exchanged: dict[str, int] | None = None,
    exchange_difference: dict[str, int] | None = None,
) -> RefundComputation:
    """What the return gives back. `exchanged`: units per return line replaced by an exchange (their
    value went to the replacement); `exchange_difference`: cents per return line the replacement
    cost less than the goods it replaced, refunded here."""
    currency = order.totals.total.currency
    exchanged = exchanged or {}
    exchange_difference = exchange_difference or {}
    final = ret.status in (ReturnStatus.INSPECTED, ReturnStatus.REFUNDED)
    lines: list[RefundLine] = []
    per_line: dict[str, int] = {}
    fault_units = 0
    any_fault = False

    def add(kind: RefundLineKind, cents: int, text: str, rl: ReturnLine | None = None, quantity: int = 0) -> None:
        line_id = rl.order_line_id if rl else None
        lines.append(
            RefundLine(
                kind=kind,
                amount=Money(cents, currency),
                description=text,
                order_line_id=line_id,
                return_line_id=rl.id if rl else None,
                sku=rl.sku if rl else None,
                quantity=quantity,
            )
        )
        if line_id is not None and kind is not RefundLineKind.SHIPPING:
            per_line[line_id] = per_line.get(line_id, 0) + cents

    for rl in ret.lines:
        units = rl.received_quantity if rl.received_quantity is not None else (0 if final else rl.quantity)
        swapped = min(units, exchanged.get(rl.id, 0))
        units -= swapped
        fault = rl.reason in RETAILER_FAULT
        any_fault = any_fault or fault
        if swapped:
            add(RefundLineKind.NOT_REFUNDED, 0, f"{swapped} × {rl.sku} exchanged: their value paid for the replacement", rl, swapped)
        difference = exchange_difference.get(rl.id, 0)
        if difference > 0:
            add(RefundLineKind.EXCHANGE_DIFFERENCE, difference, f"the replacement for {rl.sku} cost less", rl)
        if units <= 0:
            continue
        if rl.disposition is Disposition.DAMAGED and not fault:
            add(RefundLineKind.NOT_REFUNDED, 0, f"{units} × {rl.sku} came back damaged in the shopper's care", rl, units)
            continue
        goods = rl.unit_price.cents * units
        add(RefundLineKind.GOODS, goods, f"{units} × {rl.sku} at {_fmt(rl.unit_price.cents)}", rl, units)
        tax = _tax_share(order, goods)
        if tax:
            add(RefundLineKind.TAX, tax, f"tax on {units} × {rl.sku}", rl, units)
        if fault:
            fault_units += units
        elif policy.restocking_fee_bp:
            fee = goods * policy.restocking_fee_bp // 10_000
            if fee:
                add(RefundLineKind.RESTOCKING_FEE, -fee, f"restocking fee {policy.restocking_fee_bp / 100:g} %", rl, units)
    shipping = 0
    order_units = sum(line.open_quantity for line in order.lines)
    if fault_units and order_units and order.totals.shipping.cents:
        shipping = order.totals.shipping.cents * fault_units // order_units
        if shipping:
            add(RefundLineKind.SHIPPING, shipping, f"original shipping for {fault_units} unit(s) returned through no fault of the shopper")
    label_cents = 0
    if ret.label is not None and ret.label_paid_by is ShippingPayer.CUSTOMER and not any_fault:
        label_cents = min(ret.label.cost.cents, sum(max(0, c) for c in per_line.values()))
        if label_cents:
            add(RefundLineKind.RETURN_LABEL, -label_cents, "return label, paid by the shopper")
            _deduct(per_line, label_cents)
    total = sum(max(0, c) for c in per_line.values()) + shipping
    entry = TallyEntry(total_cents=total, lines=tuple(sorted((k, v) for k, v in per_line.items() if v > 0)), shipping_cents=shipping)
    refundable = max(0, amount_paid(order) - order.refund_tally.total_cents)
    return RefundComputation(
        order_id=order.id,
        return_id=ret.id,
        lines=tuple(lines),
        total=Money(total, currency),
        entry=entry,
        refundable=Money(refundable, currency),
        final=final,
    )


def partial(computed: RefundComputation, amount_cents: int) -> RefundComputation:
    """The same refund, reduced to `amount_cents` (shipping reduced first, then lines in order)."""
    cut = computed.total.cents - amount_cents
    if cut <= 0:
        return computed
    shipping = computed.entry.shipping_cents
    from_shipping = min(shipping, cut)
    per_line = dict(computed.entry.lines)
    _deduct(per_line, cut - from_shipping)
    entry = TallyEntry(
        total_cents=amount_cents,
        lines=tuple(sorted((k, v) for k, v in per_line.items() if v > 0)),
        shipping_cents=shipping - from_shipping,
    )
    adjustment = RefundLine(
        RefundLineKind.ADJUSTMENT, Money(-cut, computed.total.currency), f"partial refund: {_fmt(cut)} less than computed"
    )
    return RefundComputation(
        order_id=computed.order_id,
        return_id=computed.return_id,
        lines=(*computed.lines, adjustment),
        total=Money(amount_cents, computed.total.currency),
        entry=entry,
        refundable=computed.refundable,
        final=computed.final,
    )


def appeasement(order: Order, amount_cents: int, reason: str) -> RefundComputation:
    currency = order.totals.total.currency
    line = RefundLine(RefundLineKind.APPEASEMENT, Money(amount_cents, currency), reason)
    return RefundComputation(
        order_id=order.id,
        return_id=None,
        lines=(line,),
        total=Money(amount_cents, currency),
        entry=TallyEntry(total_cents=amount_cents),
        refundable=Money(max(0, amount_paid(order) - order.refund_tally.total_cents), currency),
        final=True,
    )


def _deduct(per_line: dict[str, int], cents: int) -> None:
    """Takes `cents` off the lines' amounts, first line first, never below zero."""
    for key in sorted(per_line, key=lambda k: (len(k), k)):
        if cents <= 0:
            return
        take = min(per_line[key], cents)
        per_line[key] -= take
        cents -= take


# --- checks -------------------------------------------------------------------------------------


def check_request(request: RefundRequest) -> Validator:
    check = Validator()
    if request.return_id is None:
        check.check(request.order_id is not None, "give returnId, or orderId for an appeasement", "orderId")
        check.check(request.amount_cents is not None, "an appeasement needs an amount", "amountCents")
        check.check(bool((request.reason or "").strip()), "an appeasement needs a reason", "reason")
    else:
        check.check(request.order_id is None, "give returnId or orderId, not both", "orderId")
    if request.amount_cents is not None:
        check.check(0 < request.amount_cents <= MAX_REFUND_CENTS, "amount must be between 0.01 and 1,000,000.00", "amountCents")
    reason = (request.reason or "").strip()
    check.check(len(reason) <= MAX_REASON, f"reason is at most {MAX_REASON} characters", "reason")
    check.check(reason.isprintable(), "reason contains control characters", "reason")
    return check


def check_refundable(ret: Return) -> None:
    if ret.refund_id is not None or ret.status is ReturnStatus.REFUNDED:
        raise AlreadyRefunded(f"return {ret.number} was refunded already", field=("returnId",))
    if ret.status is not REFUNDABLE_STATUS:
        raise NotRefundable(f"a return that is {ret.status} cannot be refunded; it must be INSPECTED", field=("returnId",))


def check_partial(computed: RefundComputation, request: RefundRequest) -> None:
    """A return's refund may be less than computed (with a reason), never more."""
    if request.amount_cents is None or request.amount_cents == computed.total.cents:
        return
    if request.amount_cents > computed.total.cents:
        raise NotRefundable(
            f"the return gives back {_fmt(computed.total.cents)}; more is an appeasement on the order", field=("amountCents",)
        )
    if not (request.reason or "").strip():
        raise InvalidInput([FieldIssue(ErrorCode.INVALID_INPUT, "a partial refund needs a reason", ("reason",))])


def check_appeasement_limit(role: str, amount_cents: int, limits: AppeasementLimits) -> None:
    limit = limits.for_role(role)
    if limit is None:
        raise Forbidden(f"role {role} may not grant appeasements")
    if amount_cents > limit:
        raise RefundLimitExceeded(f"{role} may grant at most {_fmt(limit)} per appeasement", field=("amountCents",))


def _fmt(cents: int) -> str:
    return f"{cents / 100:.2f}"
