"""Root resolvers for the customer 360° and for keeping customers current."""

from __future__ import annotations

from strawberry import relay

from app.domain.errors import DomainError
from graphql_schema.context import Info
from graphql_schema.errors import error_from_domain
from graphql_schema.ids import node_id_of
from graphql_schema.pagination import page_info, page_request
from graphql_schema.types.customers import (
    Customer,
    CustomerConnection,
    CustomerEdge,
    MergeCustomersInput,
    MergeCustomersPayload,
    MergeCustomersResult,
    UpsertCustomerInput,
    UpsertCustomerPayload,
    UpsertCustomerResult,
)


async def customer(info: Info, id: relay.GlobalID) -> Customer | None:  # noqa: A002
    found = await info.context.services.customers.get(info.context.actor, node_id_of(id, "Customer"))
    return Customer.from_domain(found) if found else None


async def customers(
    info: Info, search: str | None = None, first: int | None = None, after: str | None = None
) -> CustomerConnection:
    page = await info.context.services.customers.search(info.context.actor, search, page_request(first, after))
    return CustomerConnection(
        edges=[CustomerEdge(cursor=c, node=Customer.from_domain(x)) for x, c in zip(page.items, page.cursors)],
        page_info=page_info(page),
    )


async def upsert_customer(info: Info, input: UpsertCustomerInput) -> UpsertCustomerResult:  # noqa: A002
    try:
        customer_id = node_id_of(input.id, "Customer") if input.id is not None else None
        done = await info.context.services.customers.upsert(
            info.context.actor, input.to_domain(), customer_id=customer_id, reason=input.reason
        )
    except DomainError as exc:
        return error_from_domain(exc)
    return UpsertCustomerPayload.from_domain(done)


async def merge_customers(info: Info, input: MergeCustomersInput) -> MergeCustomersResult:  # noqa: A002
    try:
        merged = await info.context.services.customers.merge(
            info.context.actor,
            survivor_id=node_id_of(input.survivor_id, "Customer", field="survivorId"),
            merged_id=node_id_of(input.merged_id, "Customer", field="mergedId"),
            reason=input.reason,
        )
    except DomainError as exc:
        return error_from_domain(exc)
    return MergeCustomersPayload.from_domain(merged)
