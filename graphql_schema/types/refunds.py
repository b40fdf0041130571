"""Refunds: the preview of a return's refund, issued refunds, and issueRefund's input and result."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import TYPE_CHECKING, Annotated

import strawberry
from strawberry import relay

from app.domain import refunds
from graphql_schema.context import Info
from graphql_schema.enums import RefundKind, RefundLineKind, RefundStatus
from graphql_schema.errors import ConflictError, InvalidInputError, NotFoundError, PermissionDeniedError
from graphql_schema.ids import node_id_of
from graphql_schema.prefetch import now_or_later
from graphql_schema.types.common import Money

if TYPE_CHECKING:
    from graphql_schema.types.orders import Order
    from graphql_schema.types.returns import Return

OrderRef = Annotated["Order", strawberry.lazy("graphql_schema.types.orders")]
ReturnRef = Annotated["Return", strawberry.lazy("graphql_schema.types.returns")]
LINES_COST = {"cost_list_size": 20}


@strawberry.type(description="One line of a refund: goods, tax, shipping, a fee or deduction (negative), an appeasement.")
class RefundLine:
    kind: RefundLineKind
    amount: Money = strawberry.field(description="Negative for fees and deductions.")
    description: str = strawberry.field(description="What it is, in words.")
    order_line_id: str | None = strawberry.field(description="The order line it refunds, if any.")
    return_line_id: str | None = strawberry.field(description="The return line it comes from, if any.")
    sku: str | None
    quantity: int = strawberry.field(description="Units it covers (0 when not per unit).")

    @classmethod
    def from_domain(cls, value: refunds.RefundLine) -> RefundLine:
        return cls(
            kind=value.kind,
            amount=Money.from_domain(value.amount),
            description=value.description,
            order_line_id=value.order_line_id,
            return_line_id=value.return_line_id,
            sku=value.sku,
            quantity=value.quantity,
        )


@strawberry.type(description="The part of a refund paid back through one of the order's payments.")
class RefundPayment:
    provider: str = strawberry.field(description="The payment's provider; MANUAL for an order captured without payments.")
    payment_reference: str | None = strawberry.field(description="The provider's reference of the payment refunded.")
    amount: Money
    provider_refund_id: str | None = strawberry.field(description="The provider's reference of the refund.")


@strawberry.type(description="What issueRefund would give back for a return now, line by line.")
class RefundPreview:
    order_ref: strawberry.Private[str]
    return_ref: strawberry.Private[str | None]
    lines: list[RefundLine] = strawberry.field(metadata=LINES_COST)
    total: Money = strawberry.field(description="What would be refunded.")
    refundable: Money = strawberry.field(description="What the order still has to give back (paid minus refunds and exchange credit).")
    final: bool = strawberry.field(
        description="True once the return is inspected (the amount issueRefund gives); before that an estimate from the units authorized."
    )

    @classmethod
    def from_domain(cls, value: refunds.RefundComputation) -> RefundPreview:
        return cls(
            order_ref=value.order_id,
            return_ref=value.return_id,
            lines=[RefundLine.from_domain(line) for line in value.lines],
            total=Money.from_domain(value.total),
            refundable=Money.from_domain(value.refundable),
            final=value.final,
        )

    @strawberry.field(description="The order refunded.")
    def order(self, info: Info) -> OrderRef | None:
        from graphql_schema.types.orders import Order

        return now_or_later(info.context.loaders.order_by_id, self.order_ref, Order.from_domain)  # type: ignore[return-value]


@strawberry.type(description="Money given back to a shopper (or a returned goods' value credited to an exchange), audited.")
class Refund(relay.Node):
    id: relay.NodeID[str]
    kind: RefundKind
    status: RefundStatus
    amount: Money = strawberry.field(description="What went back (PARTIALLY_ISSUED: only the payments the provider accepted).")
    refused_amount: Money | None = strawberry.field(description="PARTIALLY_ISSUED: the part the provider refused, released from the order's tally.")
    lines: list[RefundLine] = strawberry.field(metadata=LINES_COST)
    payments: list[RefundPayment] = strawberry.field(
        description="How it went back, per payment of the order.", metadata={"cost_list_size": 10}
    )
    reason: str | None
    created_at: datetime
    created_by: str = strawberry.field(description="Who issued it (principal subject).")
    order_ref: strawberry.Private[str]
    return_ref: strawberry.Private[str | None]

    @classmethod
    def from_domain(cls, value: refunds.Refund) -> Refund:
        return cls(
            id=value.id,
            kind=value.kind,
            status=value.status,
            amount=Money.from_domain(value.amount),
            refused_amount=Money.from_domain(value.refused) if value.refused else None,
            lines=[RefundLine.from_domain(line) for line in value.lines],
            payments=[
                RefundPayment(
                    provider=s.provider,
                    payment_reference=s.reference,
                    amount=Money.from_domain(s.amount),
                    provider_refund_id=s.provider_refund_id,
                )
                for s in value.splits
            ],
            reason=value.reason,
            created_at=value.created_at,
            created_by=value.created_by,
            order_ref=value.order_id,
            return_ref=value.return_id,
        )

    @classmethod
    async def resolve_nodes(cls, *, info: Info, node_ids: Iterable[str], required: bool = False) -> list[Refund | None]:
        found = await info.context.loaders.refund_by_id.load_many(list(node_ids))
        return [cls.from_domain(r) if r else None for r in found]

    @strawberry.field(description="The order refunded (null if the caller may not see it).")
    def order(self, info: Info) -> OrderRef | None:
        from graphql_schema.types.orders import Order

        return now_or_later(info.context.loaders.order_by_id, self.order_ref, Order.from_domain)  # type: ignore[return-value]

    @strawberry.field(name="return", description="The return it settles (RETURN refunds); null otherwise.")
    def return_(self, info: Info) -> ReturnRef | None:
        from graphql_schema.types.returns import Return

        if self.return_ref is None:
            return None
        return now_or_later(info.context.loaders.return_by_id, self.return_ref, Return.from_domain)  # type: ignore[return-value]


@strawberry.input(
    description=(
        "Refund a return (returnId; the amount defaults to refundPreview's total, a lower amount is a partial refund "
        "and needs a reason), or grant an appeasement without a return (orderId, amountCents and reason; CSRs and "
        "admins, up to their role's limit). Never more than was paid, across all refunds."
    )
)
class IssueRefundInput:
    return_id: relay.GlobalID | None = strawberry.field(default=None, description="The INSPECTED return to refund.")
    order_id: relay.GlobalID | None = strawberry.field(default=None, description="The order of an appeasement.")
    amount_cents: int | None = strawberry.field(default=None, description="Minor units; required for an appeasement.")
    reason: str | None = strawberry.field(default=None, description="Why; required for appeasements and partial refunds (≤ 500 characters).")
    case_id: relay.GlobalID | None = strawberry.field(
        default=None, description="The customer service case this is done from: recorded on its thread and in the order's timeline."
    )

    def to_domain(self) -> refunds.RefundRequest:
        return refunds.RefundRequest(
            return_id=node_id_of(self.return_id, "Return", field="returnId") if self.return_id else None,
            order_id=node_id_of(self.order_id, "Order", field="orderId") if self.order_id else None,
            amount_cents=self.amount_cents,
            reason=self.reason,
        )


@strawberry.type(description="The refund, as issued and recorded.")
class IssueRefundPayload:
    refund: Refund


IssueRefundResult = Annotated[
    IssueRefundPayload | InvalidInputError | NotFoundError | ConflictError | PermissionDeniedError,
    strawberry.union(
        "IssueRefundResult",
        description="The refund, or why it was refused (nothing written then): REFUND_EXCEEDS_PAID, ALREADY_REFUNDED, "
        "NOT_REFUNDABLE, REFUND_LIMIT_EXCEEDED, ...",
    ),
]
