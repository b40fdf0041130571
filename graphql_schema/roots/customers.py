"""Root fields: the customer 360°."""

from __future__ import annotations

import strawberry

from graphql_schema.permissions import IsAuthenticated
from graphql_schema.types.customers import Customer, CustomerConnection
from resolvers import customers as resolve


@strawberry.type
class CustomerQueries:
    customer: Customer | None = strawberry.field(
        resolver=resolve.customer, permission_classes=[IsAuthenticated], description="One customer's 360° view."
    )
    customers: CustomerConnection = strawberry.field(
        resolver=resolve.customers,
        permission_classes=[IsAuthenticated],
        description="Find customers by name, email or phone prefix (CSR and admin).",
    )
