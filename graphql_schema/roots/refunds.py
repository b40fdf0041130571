"""Root fields: refunds (refundPreview, issueRefund)."""

from __future__ import annotations

import strawberry

from graphql_schema.permissions import IsAuthenticated
from graphql_schema.types.refunds import IssueRefundResult, RefundPreview
from resolvers import refunds


@strawberry.type
class RefundQueries:
    refund_preview: RefundPreview = strawberry.field(
        resolver=refunds.refund_preview,
        permission_classes=[IsAuthenticated],
        description=(
            "What issueRefund would give back for a return, line by line: unit price paid and the units' share of tax "
            "for what was received, original shipping when the return is not the shopper's doing, minus the channel's "
            "restocking fee and a return label the shopper pays; exchanged units give their value to the replacement. "
            "Whoever may see the return."
        ),
    )


@strawberry.type
class RefundMutations:
    issue_refund: IssueRefundResult = strawberry.mutation(
        resolver=refunds.issue_refund,
        permission_classes=[IsAuthenticated],
        description=(
            "Refund an INSPECTED return (it becomes REFUNDED) or grant an appeasement on an order, through the order's "
            "payment provider (MANUAL without payments); never more than was paid, per line and in all, across every "
            "refund; a return is refunded once. Returns: admins, CSRs, store staff at the receiving store. "
            "Appeasements: CSRs and admins, up to their role's limit."
        ),
    )
