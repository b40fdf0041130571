"""Reading stock: per location, network totals, and stores near a point."""

from __future__ import annotations

from app.domain.errors import Forbidden, Validator
from app.domain.events import DomainEvent
from app.domain.geo import GeoPoint
from app.domain.inventory import InventoryLevel, StoreStock
from app.domain.pagination import Page, PageRequest, decode_cursor, encode_cursor
from app.domain.principals import Principal, Role
from app.repositories.events import EventRepository
from app.repositories.inventory import InventoryRepository

MAX_SKUS_PER_LOOKUP = 100
MAX_RADIUS_KM = 1_000.0
MAX_STORES = 100

# Staff see stock everywhere: "is it in stock at the store across town" is their everyday question.
_STOCK_READERS = (Role.ADMIN, Role.CSR, Role.STORE_STAFF, Role.WAREHOUSE, Role.CHANNEL)


class InventoryQueryService:
    def __init__(self, *, inventory: InventoryRepository, events: EventRepository):
        self._inventory = inventory
        self._events = events

    async def levels_for_skus(self, principal: Principal, skus: list[str]) -> dict[str, list[InventoryLevel]]:
        if principal.role not in _STOCK_READERS:
            raise Forbidden("stock levels per location are for staff and integrations")
        levels = await self._inventory.for_skus(skus)
        by_sku: dict[str, list[InventoryLevel]] = {sku: [] for sku in skus}
        for level in levels:
            by_sku[level.sku].append(level)
        return by_sku

    async def levels_by_keys(self, principal: Principal, keys: list[tuple[str, str]]) -> list[InventoryLevel]:
        if principal.role not in _STOCK_READERS:
            raise Forbidden("stock levels per location are for staff and integrations")
        return await self._inventory.by_keys(keys)

    async def movements(self, principal: Principal, sku: str, location_id: str, page: PageRequest) -> Page[DomainEvent]:
        """The level's movement log, newest first (StockLevelChanged events are the one record of movements)."""
        if principal.role not in _STOCK_READERS:
            raise Forbidden("stock movements are for staff and integrations")
        before_id = str(decode_cursor(page.after, 1)[0]) if page.after else None
        found = await self._events.stock_movements(sku, location_id, first=page.first + 1, before_id=before_id)
        items = found[: page.first]
        return Page(
            items=items,
            cursors=[encode_cursor(e.id) for e in items],
            has_next_page=len(found) > page.first,
            has_previous_page=page.after is not None,
        )

    async def store_availability(
        self, skus: list[str], near: GeoPoint, radius_km: float, first: int, *, require_all: bool = True
    ) -> list[StoreStock]:
        """Public: any caller, shoppers included, may ask which stores near them have an item."""
        check = Validator()
        check.check(0 < len(skus) <= MAX_SKUS_PER_LOOKUP, f"give 1 to {MAX_SKUS_PER_LOOKUP} SKUs", "skus")
        check.check(len(set(skus)) == len(skus), "SKUs must not repeat", "skus")
        check.check(near.is_valid(), "lat must be within ±90 and lng within ±180", "near")
        check.check(0 < radius_km <= MAX_RADIUS_KM, f"radiusKm must be in (0, {MAX_RADIUS_KM:.0f}]", "radiusKm")
        check.check(0 < first <= MAX_STORES, f"first must be between 1 and {MAX_STORES}", "first")
        check.raise_if_any()
        return await self._inventory.stores_with_stock(skus, near, radius_km, first, require_all=require_all)
