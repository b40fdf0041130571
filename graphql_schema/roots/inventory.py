"""Root fields: stock."""

from __future__ import annotations

import strawberry

from graphql_schema.permissions import IsAuthenticated
from graphql_schema.types.inventory import SkuInventory, StoreAvailability
from resolvers import inventory as resolve


@strawberry.type
class InventoryQueries:
    inventory: SkuInventory | None = strawberry.field(
        resolver=resolve.inventory,
        permission_classes=[IsAuthenticated],
        description="Stock of one SKU at every location, with network totals.",
    )
    store_availability: list[StoreAvailability] = strawberry.field(
        resolver=resolve.store_availability,
        permission_classes=[IsAuthenticated],
        description="Stores within `radiusKm` of a point that have the SKUs available now, nearest first.",
    )
