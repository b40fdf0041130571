"""Pick lists: released shipments at one location, batched into a wave and sorted for one walk."""

from __future__ import annotations

from app.domain.clock import utcnow
from app.domain.errors import NotFound, Validator
from app.domain.picking import MAX_WAVE, PickList, build_pick_list
from app.domain.principals import Principal
from app.repositories.inventory import InventoryRepository
from app.repositories.locations import LocationRepository
from app.repositories.shipments import ShipmentRepository

DEFAULT_WAVE = 20


class PickingService:
    def __init__(self, *, shipments: ShipmentRepository, inventory: InventoryRepository, locations: LocationRepository):
        self._shipments = shipments
        self._inventory = inventory
        self._locations = locations

    async def pick_list(
        self, principal: Principal, location_id: str, *, shipment_ids: list[str] | None = None, first: int = DEFAULT_WAVE
    ) -> PickList:
        """The next wave (most urgent promise first), or exactly the given shipments. Only released
        shipments waiting for or on a pick appear: scheduled and held orders' shipments do not."""
        check = Validator()
        check.check(0 < first <= MAX_WAVE, f"first must be between 1 and {MAX_WAVE}", "first")
        if shipment_ids is not None:
            check.check(len(shipment_ids) <= MAX_WAVE, f"give at most {MAX_WAVE} shipments", "shipmentIds")
        check.raise_if_any()
        principal.require_location(location_id)
        found = await self._locations.by_ids([location_id])
        if not found:
            raise NotFound(f"no location {location_id}", field=("locationId",))
        if shipment_ids is not None:
            picked = await self._shipments.pickable(location_id, MAX_WAVE, ids=shipment_ids)
            order = {shipment_id: n for n, shipment_id in enumerate(shipment_ids)}
            shipments = sorted(picked, key=lambda s: order[s.id])
        else:
            shipments = await self._shipments.pickable(location_id, first)
        skus = sorted({line.sku for s in shipments for line in s.lines})
        levels = await self._inventory.by_keys([(sku, location_id) for sku in skus]) if skus else []
        bins = {level.sku: level.bin for level in levels}
        return build_pick_list(found[0], shipments, bins, utcnow())
