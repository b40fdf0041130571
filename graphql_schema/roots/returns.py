"""Root fields: returns."""

from __future__ import annotations

from collections.abc import AsyncGenerator

import strawberry

from graphql_schema.permissions import IsAuthenticated
from graphql_schema.types.return_policies import ReturnPolicy, SetReturnPolicyResult
from graphql_schema.types.return_requests import (
    AuthorizeReturnResult,
    CancelReturnResult,
    CloseReturnResult,
    ReceiveReturnResult,
    RejectReturnResult,
    RequestReturnResult,
)
from graphql_schema.types.returns import Return, ReturnConnection, ReturnUpdate
from resolvers import returns as resolve
from subscriptions import returns as live

_RESUME = (
    " Each item carries a `cursor`; subscribe again with `after: <cursor>` to receive every later matching"
    " event exactly once, in order (CURSOR_EXPIRED when that history is no longer retained)."
)


@strawberry.type
class ReturnQueries:
    return_: Return | None = strawberry.field(
        name="return",
        resolver=resolve.return_,
        permission_classes=[IsAuthenticated],
        description="One return; null when it does not exist or is not visible to the caller.",
    )
    returns: ReturnConnection = strawberry.field(
        resolver=resolve.returns,
        permission_classes=[IsAuthenticated],
        description="Returns, newest first, keyset-paginated, narrowed to the caller's scope (customers their own, "
        "channels theirs, location staff those coming to their locations).",
    )
    return_policy: ReturnPolicy = strawberry.field(
        resolver=resolve.return_policy,
        permission_classes=[IsAuthenticated],
        description="The return policy in force for a channel (its own, else the global one); omit the channel for the global one.",
    )


@strawberry.type
class ReturnMutations:
    request_return: RequestReturnResult = strawberry.mutation(
        resolver=resolve.request_return,
        permission_classes=[IsAuthenticated],
        description=(
            "Return delivered or picked-up lines of an order, from any channel. Checked per line against the channel's "
            "return policy (window, delivered minus already returned). MAIL: routed to a receiving location (explained) "
            "with a return label; IN_STORE at a store counter: received (and inspected) at once. Idempotent on "
            "(order, clientKey). Admins, CSRs, the order's customer and channel, store staff at a store that takes returns."
        ),
    )
    receive_return: ReceiveReturnResult = strawberry.mutation(
        resolver=resolve.receive_return,
        permission_classes=[IsAuthenticated],
        description=(
            "Record what arrived per line and its disposition: RESTOCK puts it back on hand at the receiving location "
            "(and fills backorders), the others are recorded without becoming stock; every line is a RETURN stock "
            "movement. Staff at the receiving location, admins."
        ),
    )
    authorize_return: AuthorizeReturnResult = strawberry.mutation(
        resolver=resolve.authorize_return,
        permission_classes=[IsAuthenticated],
        description="Approve a return waiting for approval (a MAIL return gets its label). Admins and CSRs.",
    )
    reject_return: RejectReturnResult = strawberry.mutation(
        resolver=resolve.reject_return,
        permission_classes=[IsAuthenticated],
        description="Refuse a return waiting for approval, with a reason. Admins and CSRs.",
    )
    cancel_return: CancelReturnResult = strawberry.mutation(
        resolver=resolve.cancel_return,
        permission_classes=[IsAuthenticated],
        description="Withdraw a return before anything was sent or brought. Admins, CSRs, the order's customer and channel.",
    )
    close_return: CloseReturnResult = strawberry.mutation(
        resolver=resolve.close_return,
        permission_classes=[IsAuthenticated],
        description="Finish an inspected return without (further) refund. Admins and CSRs.",
    )
    set_return_policy: SetReturnPolicyResult = strawberry.mutation(
        resolver=resolve.set_return_policy,
        permission_classes=[IsAuthenticated],
        description="Set the global return policy or a channel's (window, inspection, label payer, fees, returns centre); audited. Admins.",
    )


@strawberry.type
class ReturnSubscriptions:
    return_updated: AsyncGenerator[ReturnUpdate, None] = strawberry.subscription(
        resolver=live.return_updated,
        permission_classes=[IsAuthenticated],
        description="Changes to returns: one return, an order's, a customer's, a channel's, a location's, or returns "
        "reaching given statuses." + _RESUME,
    )
