"""Root resolvers: holdOrder, releaseOrderHold, cancelOrder."""

from __future__ import annotations

from app.domain.errors import DomainError
from graphql_schema.context import Info
from graphql_schema.errors import error_from_domain
from graphql_schema.ids import node_id_of
from graphql_schema.types.order_lifecycle import (
    CancelOrderInput,
    CancelOrderPayload,
    CancelOrderResult,
    HoldOrderInput,
    HoldOrderPayload,
    HoldOrderResult,
    ReleaseOrderHoldInput,
    ReleaseOrderHoldPayload,
    ReleaseOrderHoldResult,
)
from graphql_schema.types.orders import Order
from resolvers.cases import case_id_of


async def hold_order(info: Info, input: HoldOrderInput) -> HoldOrderResult:  # noqa: A002
    try:
        order_id = node_id_of(input.order_id, "Order", field="orderId")
        order = await info.context.services.order_lifecycle.hold(
            info.context.actor, order_id, input.reason, case_id=case_id_of(input.case_id)
        )
    except DomainError as exc:
        return error_from_domain(exc)
    return HoldOrderPayload(order=Order.from_domain(order))


async def release_order_hold(info: Info, input: ReleaseOrderHoldInput) -> ReleaseOrderHoldResult:  # noqa: A002
    try:
        order_id = node_id_of(input.order_id, "Order", field="orderId")
        order = await info.context.services.order_lifecycle.release_hold(
            info.context.actor, order_id, input.reason, case_id=case_id_of(input.case_id)
        )
    except DomainError as exc:
        return error_from_domain(exc)
    return ReleaseOrderHoldPayload(order=Order.from_domain(order))


async def cancel_order(info: Info, input: CancelOrderInput) -> CancelOrderResult:  # noqa: A002
    try:
        order_id = node_id_of(input.order_id, "Order", field="orderId")
        order = await info.context.services.order_lifecycle.cancel(
            info.context.actor, order_id, input.reason, case_id=case_id_of(input.case_id)
        )
    except DomainError as exc:
        return error_from_domain(exc)
    return CancelOrderPayload(order=Order.from_domain(order))
