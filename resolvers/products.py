"""Root resolvers for the catalogue: one product, a page of products, and the batch upsert."""

from __future__ import annotations

from app.domain.errors import DomainError
from app.domain.products import ProductFilter
from graphql_schema.context import Info
from graphql_schema.errors import error_from_domain
from graphql_schema.pagination import page_request
from graphql_schema.types.catalog import Product
from graphql_schema.types.products import (
    ProductConnection,
    ProductFilterInput,
    UpsertProductsInput,
    UpsertProductsPayload,
    UpsertProductsResult,
)


async def product(info: Info, sku: str) -> Product | None:
    found = await info.context.loaders.product_by_sku.load(sku)
    return Product.from_domain(found) if found else None


async def products(
    info: Info,
    filter: ProductFilterInput | None = None,  # noqa: A002
    first: int | None = None,
    after: str | None = None,
) -> ProductConnection:
    selection = filter.to_domain() if filter else ProductFilter()
    page = await info.context.services.products.page(selection, page_request(first, after))
    return ProductConnection.from_page(page)


async def upsert_products(info: Info, input: UpsertProductsInput) -> UpsertProductsResult:  # noqa: A002
    try:
        outcome = await info.context.services.products.upsert(
            info.context.actor, [item.to_domain() for item in input.products], reason=input.reason
        )
    except DomainError as exc:
        return error_from_domain(exc)
    return UpsertProductsPayload.from_domain(outcome)
