"""Payments captured with an order, and the tally of what has been given back against them.

A leaf module (money only), so orders can carry payments without importing the refunds area. The
refunds area decides amounts; this module only knows what was paid and what was taken back, so
`RefundTally.add` can refuse anything that would give back more than was paid.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from enum import StrEnum
from typing import TypeVar

from app.domain.errors import Conflict, ErrorCode, Validator
from app.domain.money import Money

MAX_PAYMENTS = 10
MAX_PROVIDER = 50
MAX_REFERENCE = 200
# Orders captured without payments are refunded "by hand" (cash, cheque, a manual card credit):
# refunds are still recorded and capped, against this provider.
MANUAL_PROVIDER = "MANUAL"
# Exchanges pay the replacement with the value of the returned goods: no money moves.
EXCHANGE_CREDIT_PROVIDER = "EXCHANGE_CREDIT"


class PaymentMethod(StrEnum):
    CARD = "CARD"
    WALLET = "WALLET"  # Apple Pay, Google Pay, PayPal
    GIFT_CARD = "GIFT_CARD"
    STORE_CREDIT = "STORE_CREDIT"
    CASH = "CASH"
    BANK_TRANSFER = "BANK_TRANSFER"
    MARKETPLACE = "MARKETPLACE"  # collected by the marketplace (Amazon, eBay), settled with us later
    EXCHANGE_CREDIT = "EXCHANGE_CREDIT"  # the value of goods returned for an exchange
    OTHER = "OTHER"


@dataclass(frozen=True, slots=True)
class Payment:
    """Money captured for an order by a payment provider (the provider's reference finds it there)."""

    provider: str
    method: PaymentMethod
    reference: str
    amount: Money


@dataclass(frozen=True, slots=True)
class PaymentRequest:
    """A payment as a channel sends it with the order; currency defaults to the order's."""

    provider: str
    method: PaymentMethod
    reference: str
    amount_cents: int
    currency: str | None = None


def normalized_payment(request: PaymentRequest, order_currency: str) -> PaymentRequest:
    return PaymentRequest(
        provider=request.provider.strip(),
        method=request.method,
        reference=request.reference.strip(),
        amount_cents=request.amount_cents,
        currency=(request.currency or order_currency).strip().upper(),
    )


def check_payments(check: Validator, payments: tuple[PaymentRequest, ...], *, currency: str) -> None:
    """Amounts positive, in the order's currency, references unique per provider (`check_paid_total`
    compares the sum with the order's total once prices are known)."""
    check.check(len(payments) <= MAX_PAYMENTS, f"an order has at most {MAX_PAYMENTS} payments", "payments")
    seen: set[tuple[str, str]] = set()
    for index, payment in enumerate(payments[:MAX_PAYMENTS]):
        for name, value, limit in (("provider", payment.provider, MAX_PROVIDER), ("reference", payment.reference, MAX_REFERENCE)):
            text = value.strip()
            if check.check(bool(text), "is required", "payments", index, name):
                check.check(len(text) <= limit, f"is longer than {limit} characters", "payments", index, name)
                check.check(text.isprintable(), "contains control characters", "payments", index, name)
        check.check(payment.amount_cents > 0, "amount must be more than 0", "payments", index, "amountCents")
        given = (payment.currency or currency).strip().upper()
        check.check(given == currency, f"payments are in the order's currency ({currency})", "payments", index, "currency")
        key = (payment.provider.strip(), payment.reference.strip())
        check.check(key not in seen, "this provider reference is already on another payment", "payments", index, "reference")
        seen.add(key)
        check.check(
            payment.method is not PaymentMethod.EXCHANGE_CREDIT, "exchange credit is given by exchanges, not captured", "payments", index, "method"
        )


def check_paid_total(check: Validator, payments: tuple[PaymentRequest, ...], *, order_total_cents: int) -> None:
    """Payments together never more than the order's total: refunds are capped by what was paid."""
    paid = sum(p.amount_cents for p in payments[:MAX_PAYMENTS] if p.amount_cents > 0)
    check.check(
        paid <= order_total_cents,
        f"payments total {_fmt(paid)} is more than the order total {_fmt(order_total_cents)}",
        "payments",
    )


def payments_of(requests: tuple[PaymentRequest, ...], currency: str) -> tuple[Payment, ...]:
    return tuple(
        Payment(provider=p.provider, method=p.method, reference=p.reference, amount=Money(p.amount_cents, currency)) for p in requests
    )


_K = TypeVar("_K", str, int)


# --- what has been given back -----------------------------------------------------------------------


class RefundExceedsPaid(Conflict):
    """The refund would give back more than was paid: for a line, for shipping, or for the order."""

    code = ErrorCode.REFUND_EXCEEDS_PAID


@dataclass(frozen=True, slots=True)
class RefundTally:
    """What has been taken back against one order so far, stored on the order and written only under
    its version guard. `total_cents` covers refunds and exchange credit; `lines` and `shipping_cents`
    what of it went to each line and to shipping; `payments` the money given back per payment
    (by position in the order's payments; MANUAL refunds of an order without payments under -1)."""

    total_cents: int = 0
    credit_cents: int = 0  # exchange credit: value moved to a replacement order, not paid out
    shipping_cents: int = 0
    lines: tuple[tuple[str, int], ...] = ()
    payments: tuple[tuple[int, int], ...] = ()
    count: int = 0

    @property
    def refunded_cents(self) -> int:
        """Money actually given back (exchange credit excluded)."""
        return self.total_cents - self.credit_cents

    def for_line(self, line_id: str) -> int:
        return dict(self.lines).get(line_id, 0)

    def for_payment(self, index: int) -> int:
        return dict(self.payments).get(index, 0)


@dataclass(frozen=True, slots=True)
class TallyEntry:
    """One refund (or exchange credit) as the tally sees it: how much, split by where it came from."""

    total_cents: int
    lines: tuple[tuple[str, int], ...] = ()  # order line id → cents of that line's goods and tax
    shipping_cents: int = 0
    payments: tuple[tuple[int, int], ...] = ()  # payment index → cents paid back through it
    credit: bool = False


@dataclass(frozen=True, slots=True)
class Ceilings:
    """What was paid, the most that may ever be taken back: in total, per line, for shipping."""

    total_cents: int
    lines: dict[str, int] = field(default_factory=dict)
    shipping_cents: int = 0


def add(tally: RefundTally, entry: TallyEntry, ceilings: Ceilings) -> RefundTally:
    """The tally with `entry` added, or RefundExceedsPaid naming what would be exceeded."""
    lines = dict(tally.lines)
    for line_id, cents in entry.lines:
        after = lines.get(line_id, 0) + cents
        cap = ceilings.lines.get(line_id, 0)
        if after > cap:
            raise RefundExceedsPaid(
                f"line {line_id}: {_fmt(after)} would be given back, {_fmt(cap)} was paid for it "
                f"({_fmt(max(0, cap - lines.get(line_id, 0)))} left)",
                field=("amountCents",),
            )
        lines[line_id] = after
    shipping = tally.shipping_cents + entry.shipping_cents
    if shipping > ceilings.shipping_cents:
        raise RefundExceedsPaid(
            f"shipping: {_fmt(shipping)} would be given back, {_fmt(ceilings.shipping_cents)} was charged", field=("amountCents",)
        )
    total = tally.total_cents + entry.total_cents
    if total > ceilings.total_cents:
        left = max(0, ceilings.total_cents - tally.total_cents)
        raise RefundExceedsPaid(
            f"the order would get {_fmt(total)} back in all, {_fmt(ceilings.total_cents)} was paid ({_fmt(left)} left)",
            field=("amountCents",),
        )
    payments = dict(tally.payments)
    for index, cents in entry.payments:
        payments[index] = payments.get(index, 0) + cents
    return replace(
        tally,
        total_cents=total,
        credit_cents=tally.credit_cents + (entry.total_cents if entry.credit else 0),
        shipping_cents=shipping,
        lines=tuple(sorted(lines.items(), key=lambda kv: (len(kv[0]), kv[0]))),
        payments=tuple(sorted(payments.items())),
        count=tally.count + 1,
    )


def release(tally: RefundTally, entry: TallyEntry, *, whole: bool = True) -> RefundTally:
    """The tally without `entry` (a refund the provider refused): the inverse of `add`. With
    `whole=False` only a refused part of a refund goes (`refused_part`): the refund still counts."""
    lines = _minus(tally.lines, entry.lines)
    return replace(
        tally,
        total_cents=max(0, tally.total_cents - entry.total_cents),
        credit_cents=max(0, tally.credit_cents - (entry.total_cents if entry.credit else 0)),
        shipping_cents=max(0, tally.shipping_cents - entry.shipping_cents),
        lines=tuple(sorted(lines.items(), key=lambda kv: (len(kv[0]), kv[0]))),
        payments=tuple(sorted(_minus(tally.payments, entry.payments).items())),
        count=max(0, tally.count - 1) if whole else tally.count,
    )


def refused_part(entry: TallyEntry, accepted: frozenset[int]) -> TallyEntry:
    """The part of `entry` paid through payments the provider refused (those not in `accepted`),
    spread over shipping and the lines in proportion, so releasing it leaves what went back."""
    refused = tuple((index, cents) for index, cents in entry.payments if index not in accepted)
    cents = sum(c for _, c in refused)
    if entry.total_cents <= 0 or cents >= entry.total_cents:
        return replace(entry, payments=refused)
    shipping = entry.shipping_cents * cents // entry.total_cents
    return TallyEntry(total_cents=cents, lines=_prorated(entry.lines, cents - shipping), shipping_cents=shipping, payments=refused, credit=entry.credit)


def _prorated(weights: tuple[tuple[str, int], ...], cents: int) -> tuple[tuple[str, int], ...]:
    """`cents` over the keys in proportion to their weights, each at most its weight (largest remainder)."""
    total = sum(w for _, w in weights)
    if total <= 0 or cents <= 0:
        return ()
    cents = min(cents, total)
    shares = {key: w * cents // total for key, w in weights}
    by_remainder = sorted(weights, key=lambda kv: (-(kv[1] * cents % total), kv[0]))
    for key, _ in by_remainder[: cents - sum(shares.values())]:
        shares[key] += 1
    return tuple((key, c) for key, c in shares.items() if c > 0)


def _minus(have: tuple[tuple[_K, int], ...], take: tuple[tuple[_K, int], ...]) -> dict[_K, int]:
    left = dict(have)
    for key, cents in take:
        left[key] = left.get(key, 0) - cents
    return {key: cents for key, cents in left.items() if cents > 0}


def split_over_payments(payments: tuple[Payment, ...], tally: RefundTally, cents: int) -> tuple[tuple[int, int], ...]:
    """Which payments a refund of `cents` goes back to: each in turn, up to what is left on it
    (exchange credit last: it was never money). An order without payments: all MANUAL (-1)."""
    if not payments:
        return ((-1, cents),) if cents else ()
    order = sorted(range(len(payments)), key=lambda i: (payments[i].method is PaymentMethod.EXCHANGE_CREDIT, i))
    left = cents
    split: list[tuple[int, int]] = []
    for index in order:
        room = payments[index].amount.cents - tally.for_payment(index)
        take = min(room, left)
        if take > 0:
            split.append((index, take))
            left -= take
        if left == 0:
            break
    if left > 0:
        raise RefundExceedsPaid(f"the order's payments have {_fmt(cents - left)} left to refund, not {_fmt(cents)}", field=("amountCents",))
    return tuple(split)


def _fmt(cents: int) -> str:
    return f"{cents / 100:.2f}"
