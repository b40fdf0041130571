"""Root fields: the customer 360°, and keeping customers current."""

from __future__ import annotations

import strawberry

from graphql_schema.permissions import IsAuthenticated
from graphql_schema.types.customers import Customer, CustomerConnection, MergeCustomersResult, UpsertCustomerResult
from resolvers import customers as resolve


@strawberry.type
class CustomerQueries:
    customer: Customer | None = strawberry.field(
        resolver=resolve.customer,
        permission_classes=[IsAuthenticated],
        description="One customer's 360° view. The id of a customer merged into another answers the survivor.",
    )
    customers: CustomerConnection = strawberry.field(
        resolver=resolve.customers,
        permission_classes=[IsAuthenticated],
        description="Find customers by name, email or phone prefix (CSR and admin). Merged customers are not listed.",
    )


@strawberry.type
class CustomerMutations:
    upsert_customer: UpsertCustomerResult = strawberry.mutation(
        resolver=resolve.upsert_customer,
        permission_classes=[IsAuthenticated],
        description="Create or update a customer (ADMIN, CSR; audited as CustomerCreated / CustomerUpdated). "
        "An input that changes nothing writes nothing.",
    )
    merge_customers: MergeCustomersResult = strawberry.mutation(
        resolver=resolve.merge_customers,
        permission_classes=[IsAuthenticated],
        description="Merge two customers of one person (ADMIN only; audited as CustomersMerged on both): orders, "
        "shipments, identities, missing addresses, email and phone, and customer API keys move to the survivor.",
    )
