"""Root fields: the catalogue (product, products, upsertProducts)."""

from __future__ import annotations

import strawberry

from graphql_schema.permissions import IsAuthenticated
from graphql_schema.types.catalog import Product
from graphql_schema.types.products import ProductConnection, UpsertProductsResult
from resolvers import products as resolve


@strawberry.type
class ProductQueries:
    product: Product | None = strawberry.field(
        resolver=resolve.product, permission_classes=[IsAuthenticated], description="A product by SKU."
    )
    products: ProductConnection = strawberry.field(
        resolver=resolve.products,
        permission_classes=[IsAuthenticated],
        description="Products by SKU, filtered by search text (SKU prefix, barcode, name words), status, category "
        "or handling; discontinued ones included unless `active` says otherwise.",
    )


@strawberry.type
class ProductMutations:
    upsert_products: UpsertProductsResult = strawberry.mutation(
        resolver=resolve.upsert_products,
        permission_classes=[IsAuthenticated],
        description="Create or replace up to 500 products by SKU (ADMIN only; audited as ProductCreated / "
        "ProductUpdated, one per product that changed). All or nothing; re-sending a batch changes nothing.",
    )
