"""Payments captured with an order, and what has been given back against it."""

from __future__ import annotations

import strawberry

from app.domain import money, orders, payments
from graphql_schema.enums import PaymentMethod
from graphql_schema.types.common import Money


@strawberry.input(description="Money a payment provider captured for the order; refunds go back to it.")
class PaymentInput:
    provider: str = strawberry.field(description="Payment provider code, e.g. `stripe`, `adyen`, `amazon`.")
    method: PaymentMethod = strawberry.field(description="How the shopper paid.")
    reference: str = strawberry.field(description="The provider's reference for the capture (charge or transaction id).")
    amount_cents: int = strawberry.field(description="Amount captured, in minor units; more than 0.")
    currency: str | None = strawberry.field(default=None, description="ISO 4217 code; must be the order's (default).")

    def to_domain(self) -> payments.PaymentRequest:
        return payments.PaymentRequest(
            provider=self.provider, method=self.method, reference=self.reference, amount_cents=self.amount_cents, currency=self.currency
        )


@strawberry.type(description="Money captured for the order by a payment provider, and how much of it was refunded.")
class Payment:
    provider: str = strawberry.field(description="Payment provider code; EXCHANGE_CREDIT for the value of goods returned for an exchange.")
    method: PaymentMethod = strawberry.field(description="How the shopper paid.")
    reference: str = strawberry.field(description="The provider's reference for the capture.")
    amount: Money = strawberry.field(description="Amount captured.")
    refunded: Money = strawberry.field(description="Refunded through this payment so far.")


@strawberry.type(description="What has been given back against an order so far.")
class RefundSummary:
    paid: Money = strawberry.field(description="What was paid: the payments' total, or the order total when it was captured without payments.")
    refunded: Money = strawberry.field(description="Money given back by refunds.")
    exchange_credit: Money = strawberry.field(description="Value of returned goods applied to replacement orders (no money moved).")
    refundable: Money = strawberry.field(description="What may still be given back: paid minus refunds and exchange credit.")
    refund_count: int = strawberry.field(description="Refunds and exchange credits recorded.")


def payments_of(order: orders.Order) -> list[Payment]:
    tally = order.refund_tally
    return [
        Payment(
            provider=p.provider,
            method=p.method,
            reference=p.reference,
            amount=Money.from_domain(p.amount),
            refunded=Money.from_domain(money.Money(tally.for_payment(index), p.amount.currency)),
        )
        for index, p in enumerate(order.payments)
    ]


def refund_summary_of(order: orders.Order, paid_cents: int) -> RefundSummary:
    currency = order.totals.total.currency
    tally = order.refund_tally

    def amount(cents: int) -> Money:
        return Money.from_domain(money.Money(cents, currency))

    return RefundSummary(
        paid=amount(paid_cents),
        refunded=amount(tally.refunded_cents),
        exchange_credit=amount(tally.credit_cents),
        refundable=amount(max(0, paid_cents - tally.total_cents)),
        refund_count=tally.count,
    )
