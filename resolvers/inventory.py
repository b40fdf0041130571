"""Root resolvers for stock."""

from __future__ import annotations

from graphql_schema.context import Info
from graphql_schema.prefetch import prime, selected_paths
from graphql_schema.types.common import GeoPointInput
from graphql_schema.types.inventory import SkuInventory, StoreAvailability


async def inventory(info: Info, sku: str) -> SkuInventory | None:
    levels = await info.context.services.inventory.levels_for_skus(info.context.actor, [sku])
    product = await info.context.loaders.product_by_sku.load(sku)
    if product is None and not levels[sku]:
        return None
    return SkuInventory.from_domain(sku, levels[sku])


async def store_availability(
    info: Info,
    skus: list[str],
    near: GeoPointInput,
    radius_km: float = 50.0,
    first: int = 10,
    require_all: bool = True,
) -> list[StoreAvailability]:
    found = await info.context.services.inventory.store_availability(
        skus, near.to_domain(), radius_km, first, require_all=require_all
    )
    if "location" in selected_paths(info.selected_fields[0].selections):
        await prime(info.context.loaders.location_by_id, (store.location_id for store in found))
    return [StoreAvailability.from_domain(store, skus) for store in found]
