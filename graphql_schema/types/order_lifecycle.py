"""holdOrder, releaseOrderHold, cancelOrder: inputs and results."""

from __future__ import annotations

from typing import Annotated

import strawberry
from strawberry import relay

from graphql_schema.errors import ConflictError, InvalidInputError, NotFoundError, PermissionDeniedError
from graphql_schema.types.orders import Order

_Errors = InvalidInputError | NotFoundError | ConflictError | PermissionDeniedError


@strawberry.input(description="Stop an order where it is (fraud check, customer request, address doubt). Reservations stay.")
class HoldOrderInput:
    order_id: relay.GlobalID = strawberry.field(description="The order's global id.")
    reason: str = strawberry.field(description="Why; shown on the order and kept in its timeline.")
    case_id: relay.GlobalID | None = strawberry.field(
        default=None, description="The customer service case this is done from: recorded on its thread and in the order's timeline."
    )


@strawberry.input(description="Let a held order continue from where it was held.")
class ReleaseOrderHoldInput:
    order_id: relay.GlobalID = strawberry.field(description="The order's global id.")
    reason: str | None = strawberry.field(default=None, description="Why it may continue.")
    case_id: relay.GlobalID | None = strawberry.field(
        default=None, description="The customer service case this is done from: recorded on its thread and in the order's timeline."
    )


@strawberry.input(description="Cancel an order; every reservation is given back at once.")
class CancelOrderInput:
    order_id: relay.GlobalID = strawberry.field(description="The order's global id.")
    reason: str = strawberry.field(description="Why; kept in the order's timeline.")
    case_id: relay.GlobalID | None = strawberry.field(
        default=None, description="The customer service case this is done from: recorded on its thread and in the order's timeline."
    )


@strawberry.type(description="The held order.")
class HoldOrderPayload:
    order: Order = strawberry.field(description="The order after the change.")


@strawberry.type(description="The order, back in the status it was held in (re-derived from its allocations).")
class ReleaseOrderHoldPayload:
    order: Order = strawberry.field(description="The order after the change.")


@strawberry.type(description="The cancelled order; its allocations are RELEASED.")
class CancelOrderPayload:
    order: Order = strawberry.field(description="The order after the change.")


HoldOrderResult = Annotated[HoldOrderPayload | _Errors, strawberry.union("HoldOrderResult", description="The held order, or why not.")]
ReleaseOrderHoldResult = Annotated[
    ReleaseOrderHoldPayload | _Errors, strawberry.union("ReleaseOrderHoldResult", description="The released order, or why not.")
]
CancelOrderResult = Annotated[CancelOrderPayload | _Errors, strawberry.union("CancelOrderResult", description="The cancelled order, or why not.")]
