"""Stores near a pick-up store that could hand over a whole order now: the alternatives a refused
pick-up names."""

from __future__ import annotations

from collections.abc import Sequence

from app.domain.inventory import StoreStock
from app.domain.locations import Location
from app.domain.orders import OrderLine
from app.repositories.inventory import InventoryRepository
from app.repositories.locations import LocationRepository

NEARBY_RADIUS_KM = 100.0
MAX_ALTERNATIVES = 5


class NearbyStores:
    def __init__(self, *, inventory: InventoryRepository, locations: LocationRepository):
        self._inventory = inventory
        self._locations = locations

    async def able_to_fill(self, store: Location | None, lines: Sequence[OrderLine]) -> tuple[StoreStock, ...]:
        """Pick-up stores within NEARBY_RADIUS_KM of `store` with every line's quantity available, nearest first."""
        if store is None or not lines:
            return ()
        needed = {line.sku: line.open_quantity for line in lines}
        found = await self._inventory.stores_with_stock(
            sorted(needed), store.point, NEARBY_RADIUS_KM, MAX_ALTERNATIVES * 4, require_all=True
        )
        enough = [
            s
            for s in found
            if s.location_id != store.id and all(s.quantities.get(sku, 0) >= qty for sku, qty in needed.items())
        ]
        if not enough:
            return ()
        pickup = {
            loc.id
            for loc in await self._locations.by_ids([s.location_id for s in enough])
            if loc.active and loc.capabilities.offers_pickup
        }
        return tuple(s for s in enough if s.location_id in pickup)[:MAX_ALTERNATIVES]
