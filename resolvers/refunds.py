"""Root resolvers for refunds: refundPreview and issueRefund."""

from __future__ import annotations

from strawberry import relay

from app.domain.errors import DomainError
from graphql_schema.context import Info
from graphql_schema.errors import error_from_domain
from graphql_schema.ids import node_id_of
from graphql_schema.types.refunds import IssueRefundInput, IssueRefundPayload, IssueRefundResult, Refund, RefundPreview
from resolvers.cases import case_id_of


async def refund_preview(info: Info, return_id: relay.GlobalID) -> RefundPreview:
    """Domain errors raise here and reach the client as typed GraphQL errors (code, field)."""
    computed = await info.context.services.refunds.preview(info.context.actor, node_id_of(return_id, "Return", field="returnId"))
    return RefundPreview.from_domain(computed)


async def issue_refund(info: Info, input: IssueRefundInput) -> IssueRefundResult:  # noqa: A002
    try:
        refund = await info.context.services.refunds.issue(info.context.actor, input.to_domain(), case_id=case_id_of(input.case_id))
    except DomainError as exc:
        return error_from_domain(exc)
    return IssueRefundPayload(refund=Refund.from_domain(refund))
