"""upsertProducts and products: the catalogue's input, the batch's result, and the product connection.
(The Product type itself lives in types/catalog.py with the other reference data.)"""

from __future__ import annotations

from typing import Annotated

import strawberry
from strawberry import relay

from app.domain import products as domain
from app.domain.money import DEFAULT_CURRENCY
from app.domain.pagination import Page
from graphql_schema.enums import HandlingFlag
from graphql_schema.errors import ConflictError, InvalidInputError, NotFoundError, PermissionDeniedError
from graphql_schema.pagination import edges as edges_of, page_info
from graphql_schema.types.catalog import Product


@strawberry.input(description="Package dimensions in centimetres, each above 0 and at most 1,000.")
class DimensionsInput:
    length_cm: float = strawberry.field(description="Length in cm.")
    width_cm: float = strawberry.field(description="Width in cm.")
    height_cm: float = strawberry.field(description="Height in cm.")


@strawberry.input(
    description="A product, created or replaced whole by SKU: omitted optional fields take their defaults, "
    "not their stored values."
)
class ProductInput:
    sku: str = strawberry.field(description="The SKU: up to 100 characters, no spaces, no @.")
    name: str = strawberry.field(description="Name shown to staff and on documents, up to 200 characters.")
    price_cents: int = strawberry.field(description="List price in minor units, 0 to 100,000,000.")
    weight_grams: int = strawberry.field(description="Shipping weight of one unit, 1 to 1,000,000 g.")
    dimensions: DimensionsInput = strawberry.field(description="Packed size of one unit.")
    currency: str = strawberry.field(default=DEFAULT_CURRENCY, description="ISO 4217 code of the price.")
    handling: list[HandlingFlag] = strawberry.field(
        default_factory=list, description="Special handling: fragile, hazmat, cold chain, oversize."
    )
    barcode: str | None = strawberry.field(
        default=None,
        description="GTIN: EAN-8, UPC-A (12), EAN-13 or GTIN-14 digits with a valid check digit; unique across products.",
    )
    category: str | None = strawberry.field(default=None, description="Free-text category, matched exactly by filters.")
    active: bool = strawberry.field(
        default=True, description="False discontinues the product: history is kept, new orders refuse it."
    )

    def to_domain(self) -> domain.ProductDraft:
        """Unvalidated: the service validates, so every transport gets the same checks."""
        return domain.ProductDraft(
            sku=self.sku,
            name=self.name,
            price_cents=self.price_cents,
            weight_grams=self.weight_grams,
            dimensions=domain.Dimensions(self.dimensions.length_cm, self.dimensions.width_cm, self.dimensions.height_cm),
            currency=self.currency,
            handling=tuple(flag.value for flag in self.handling),
            barcode=self.barcode,
            category=self.category,
            active=self.active,
        )


@strawberry.input(
    description="Create or replace up to 500 products by SKU. All or nothing: when any item is invalid nothing is "
    "written, and every issue's field path names the item, e.g. [\"products\", \"3\", \"barcode\"]."
)
class UpsertProductsInput:
    products: list[ProductInput] = strawberry.field(description="1 to 500 products, each SKU and barcode once.")
    reason: str | None = strawberry.field(default=None, description="Why, for the audit trail.")


@strawberry.type(description="What the batch did. Unchanged products were neither written nor recorded as events.")
class UpsertProductsPayload:
    created: int = strawberry.field(description="Products that did not exist before.")
    updated: int = strawberry.field(description="Existing products that differed and were replaced.")
    unchanged: int = strawberry.field(description="Products already stored exactly as given.")
    products: list[Product] = strawberry.field(
        description="Every product of the batch as now stored, in input order.",
        metadata={"cost_list_size": domain.MAX_BATCH},
    )

    @classmethod
    def from_domain(cls, value: domain.ProductUpsert) -> UpsertProductsPayload:
        return cls(
            created=len(value.created),
            updated=len(value.updated),
            unchanged=len(value.unchanged),
            products=[Product.from_domain(p) for p in value.products],
        )


UpsertProductsResult = Annotated[
    UpsertProductsPayload | InvalidInputError | NotFoundError | ConflictError | PermissionDeniedError,
    strawberry.union("UpsertProductsResult", description="What the batch did, or why nothing was written."),
]


@strawberry.input(description="Which products to list. All given criteria must match.")
class ProductFilterInput:
    search: str | None = strawberry.field(
        default=None,
        description="A SKU prefix, an exact barcode, or words that each start a word of the name (any case).",
    )
    active: bool | None = strawberry.field(default=None, description="Only active (true) or discontinued (false) ones.")
    category: str | None = strawberry.field(default=None, description="Exactly this category.")
    handling: HandlingFlag | None = strawberry.field(default=None, description="Only those needing this handling.")

    def to_domain(self) -> domain.ProductFilter:
        return domain.ProductFilter(
            search=self.search,
            active=self.active,
            category=self.category,
            handling=domain.HandlingFlag(self.handling.value) if self.handling else None,
        )


@strawberry.type
class ProductEdge(relay.Edge[Product]):
    pass


@strawberry.type(description="A page of products, by SKU.")
class ProductConnection(relay.Connection[Product]):
    edges: list[ProductEdge]

    @classmethod
    def from_page(cls, page: Page[domain.Product]) -> ProductConnection:
        return cls(edges=edges_of(page, Product.from_domain, ProductEdge), page_info=page_info(page))
