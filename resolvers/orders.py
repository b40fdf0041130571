"""Root resolvers for reading orders."""

from __future__ import annotations

from strawberry import relay

from app.domain.orders import OrderFilter
from graphql_schema.context import Info
from graphql_schema.ids import node_id_of
from graphql_schema.pagination import page_request
from graphql_schema.prefetch import selected_paths
from graphql_schema.types.orders import Order, OrderConnection, OrderFilterInput, shows_routing


async def order(info: Info, id: relay.GlobalID) -> Order | None:  # noqa: A002
    found = await info.context.loaders.order_by_id.load(node_id_of(id, "Order"))
    return Order.from_domain(found) if found else None


async def order_by_external_id(info: Info, channel: str, external_id: str) -> Order | None:
    found = await info.context.services.orders.by_external_id(info.context.actor, channel, external_id)
    return Order.from_domain(found) if found else None


async def orders(
    info: Info,
    filter: OrderFilterInput | None = None,  # noqa: A002
    first: int | None = None,
    after: str | None = None,
) -> OrderConnection:
    selection = filter.to_domain() if filter else OrderFilter()
    paths = selected_paths(info)
    page = await info.context.services.orders.page(
        info.context.actor, selection, page_request(first, after), with_routing=shows_routing(paths)
    )
    return await OrderConnection.resolve(info, page, paths)
