"""Root resolvers for returns: reads, requestReturn, receiveReturn, the staff decisions, return policy."""

from __future__ import annotations

from strawberry import relay

from app.domain.errors import DomainError
from app.domain.returns import ReturnFilter
from graphql_schema.context import Info
from graphql_schema.errors import error_from_domain
from graphql_schema.ids import node_id_of
from graphql_schema.pagination import page_request
from graphql_schema.types.return_policies import ReturnPolicy, SetReturnPolicyInput, SetReturnPolicyPayload, SetReturnPolicyResult
from graphql_schema.types.return_requests import (
    AuthorizeReturnInput,
    AuthorizeReturnPayload,
    AuthorizeReturnResult,
    CancelReturnInput,
    CancelReturnPayload,
    CancelReturnResult,
    CloseReturnInput,
    CloseReturnPayload,
    CloseReturnResult,
    ReceiveReturnInput,
    ReceiveReturnPayload,
    ReceiveReturnResult,
    RejectReturnInput,
    RejectReturnPayload,
    RejectReturnResult,
    RequestReturnInput,
    RequestReturnPayload,
    RequestReturnResult,
)
from graphql_schema.types.returns import Return, ReturnConnection, ReturnFilterInput
from resolvers.cases import case_id_of

# --- reads ---------------------------------------------------------------------------------------


async def return_(info: Info, id: relay.GlobalID) -> Return | None:  # noqa: A002
    found = await info.context.loaders.return_by_id.load(node_id_of(id, "Return"))
    return Return.from_domain(found) if found else None


async def returns(
    info: Info,
    filter: ReturnFilterInput | None = None,  # noqa: A002
    first: int | None = None,
    after: str | None = None,
) -> ReturnConnection:
    selection = filter.to_domain() if filter else ReturnFilter()
    page = await info.context.services.return_queries.page(info.context.actor, selection, page_request(first, after))
    return ReturnConnection.from_page(page)


async def return_policy(info: Info, channel: str | None = None) -> ReturnPolicy:
    configured = await info.context.services.return_policies.configured_policy(info.context.actor, channel)
    return ReturnPolicy.from_domain(configured)


# --- mutations -----------------------------------------------------------------------------------


async def request_return(info: Info, input: RequestReturnInput) -> RequestReturnResult:  # noqa: A002
    try:
        requested = await info.context.services.returns.request(
            info.context.actor, input.to_domain(), case_id=case_id_of(input.case_id)
        )
    except DomainError as exc:
        return error_from_domain(exc)
    return RequestReturnPayload(return_=Return.from_domain(requested.ret), replayed=requested.replayed)


async def receive_return(info: Info, input: ReceiveReturnInput) -> ReceiveReturnResult:  # noqa: A002
    try:
        return_id = node_id_of(input.return_id, "Return", field="returnId")
        received = await info.context.services.return_receiving.receive(
            info.context.actor, return_id, input.to_domain(), location_id=input.location
        )
    except DomainError as exc:
        return error_from_domain(exc)
    return ReceiveReturnPayload(
        return_=Return.from_domain(received.ret),
        filled_order_ids=received.filled_order_ids,
    )


async def authorize_return(info: Info, input: AuthorizeReturnInput) -> AuthorizeReturnResult:  # noqa: A002
    try:
        ret = await info.context.services.returns.authorize(
            info.context.actor, node_id_of(input.return_id, "Return", field="returnId"), input.reason
        )
    except DomainError as exc:
        return error_from_domain(exc)
    return AuthorizeReturnPayload(return_=Return.from_domain(ret))


async def reject_return(info: Info, input: RejectReturnInput) -> RejectReturnResult:  # noqa: A002
    try:
        ret = await info.context.services.returns.reject(
            info.context.actor, node_id_of(input.return_id, "Return", field="returnId"), input.reason
        )
    except DomainError as exc:
        return error_from_domain(exc)
    return RejectReturnPayload(return_=Return.from_domain(ret))


async def cancel_return(info: Info, input: CancelReturnInput) -> CancelReturnResult:  # noqa: A002
    try:
        ret = await info.context.services.returns.cancel(
            info.context.actor, node_id_of(input.return_id, "Return", field="returnId"), input.reason
        )
    except DomainError as exc:
        return error_from_domain(exc)
    return CancelReturnPayload(return_=Return.from_domain(ret))


async def close_return(info: Info, input: CloseReturnInput) -> CloseReturnResult:  # noqa: A002
    try:
        ret = await info.context.services.returns.close(
            info.context.actor, node_id_of(input.return_id, "Return", field="returnId"), input.reason
        )
    except DomainError as exc:
        return error_from_domain(exc)
    return CloseReturnPayload(return_=Return.from_domain(ret))


async def set_return_policy(info: Info, input: SetReturnPolicyInput) -> SetReturnPolicyResult:  # noqa: A002
    try:
        configured = await info.context.services.return_policies.set_policy(
            info.context.actor, input.channel, input.policy.to_domain() if input.policy else None, reason=input.reason
        )
    except DomainError as exc:
        return error_from_domain(exc)
    return SetReturnPolicyPayload(policy=ReturnPolicy.from_domain(configured))
