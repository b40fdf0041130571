"""Root fields: orders."""

from __future__ import annotations

import strawberry

from graphql_schema.permissions import IsAuthenticated
from graphql_schema.types.orders import Order, OrderConnection
from resolvers import orders as resolve


@strawberry.type
class OrderQueries:
    order: Order | None = strawberry.field(
        resolver=resolve.order, permission_classes=[IsAuthenticated], description="One order."
    )
    order_by_external_id: Order | None = strawberry.field(
        resolver=resolve.order_by_external_id,
        permission_classes=[IsAuthenticated],
        description="An order by its channel's own id.",
    )
    orders: OrderConnection = strawberry.field(
        resolver=resolve.orders,
        permission_classes=[IsAuthenticated],
        description="Orders, newest first, keyset-paginated.",
    )
