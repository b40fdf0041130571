"""Root resolvers for the customer 360°."""

from __future__ import annotations

from strawberry import relay

from graphql_schema.context import Info
from graphql_schema.ids import node_id_of
from graphql_schema.pagination import page_info, page_request
from graphql_schema.types.customers import Customer, CustomerConnection, CustomerEdge


async def customer(info: Info, id: relay.GlobalID) -> Customer | None:  # noqa: A002
    found = await info.context.loaders.customer_by_id.load(node_id_of(id, "Customer"))
    return Customer.from_domain(found) if found else None


async def customers(
    info: Info, search: str | None = None, first: int | None = None, after: str | None = None
) -> CustomerConnection:
    page = await info.context.services.customers.search(info.context.actor, search, page_request(first, after))
    return CustomerConnection(
        edges=[CustomerEdge(cursor=c, node=Customer.from_domain(x)) for x, c in zip(page.items, page.cursors)],
        page_info=page_info(page),
    )
