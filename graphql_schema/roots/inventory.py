"""Root fields: stock."""

from __future__ import annotations

import strawberry

from graphql_schema.permissions import IsAuthenticated
from graphql_schema.types.inventory import SkuInventory, StoreAvailability
from graphql_schema.types.inventory_changes import (
    AdjustStockResult,
    ReceiveStockResult,
    SetStockPolicyResult,
    TransferStockResult,
)
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


@strawberry.type
class InventoryMutations:
    adjust_stock: AdjustStockResult = strawberry.mutation(
        resolver=resolve.adjust_stock,
        permission_classes=[IsAuthenticated],
        description="Correct a level or record a count, with a reason. Admins, and staff at their locations.",
    )
    receive_stock: ReceiveStockResult = strawberry.mutation(
        resolver=resolve.receive_stock,
        permission_classes=[IsAuthenticated],
        description="Record goods received; backorders waiting for the SKU are filled, oldest first.",
    )
    transfer_stock: TransferStockResult = strawberry.mutation(
        resolver=resolve.transfer_stock,
        permission_classes=[IsAuthenticated],
        description="Move unreserved units between locations atomically. Admins, and staff of the sending location.",
    )
    set_stock_policy: SetStockPolicyResult = strawberry.mutation(
        resolver=resolve.set_stock_policy,
        permission_classes=[IsAuthenticated],
        description="Set safety stock, reorder point and reorder quantity of one SKU at one location.",
    )
