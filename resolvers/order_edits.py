"""Root resolvers: editOrder."""

from __future__ import annotations

from app.domain.errors import DomainError
from graphql_schema.context import Info
from graphql_schema.errors import error_from_domain
from graphql_schema.ids import node_id_of
from graphql_schema.types.order_edits import EditOrderInput, EditOrderPayload, EditOrderResult
from graphql_schema.types.orders import Order
from resolvers.cases import case_id_of


async def edit_order(info: Info, input: EditOrderInput) -> EditOrderResult:  # noqa: A002
    try:
        order_id = node_id_of(input.order_id, "Order", field="orderId")
        order = await info.context.services.order_edits.edit(
            info.context.actor, order_id, input.to_domain(), case_id=case_id_of(input.case_id)
        )
    except DomainError as exc:
        return error_from_domain(exc)
    return EditOrderPayload(order=Order.from_domain(order))
