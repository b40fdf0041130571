"""The one place order services talk to routing: order lines in, allocations and an explanation out."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from app.domain.geo import distance_km
from app.domain.ids import new_id
from app.domain.orders import Allocation, Delivery, DeliveryMethod, Order
from app.domain.scheduling import release_at, transit_days
from app.repositories.database import Session
from app.repositories.inventory import InventoryRepository
from app.repositories.locations import LocationRepository


@dataclass(frozen=True, slots=True)
class LineNeed:
    """Units of one order line still to place."""

    line_id: str
    sku: str
    quantity: int


@dataclass(frozen=True, slots=True)
class Placement:
    """What routing decided for some lines: where to reserve, what stays backordered, and why."""

    allocations: tuple[Allocation, ...]
    explanation: dict[str, Any]
    plan: Any = None  # routing's own plan object, for routingPreview

    def placed(self, line_id: str) -> int:
        return sum(a.quantity for a in self.allocations if a.line_id == line_id)

    def short(self, needs: list[LineNeed]) -> dict[str, int]:
        """Line id -> units routing could not place."""
        return {n.line_id: n.quantity - self.placed(n.line_id) for n in needs if n.quantity > self.placed(n.line_id)}


class OrderRouting:
    # INTERIM: nearest-first greedy placement until the routing engine lands; replaced by RoutingService.
    def __init__(self, *, inventory: InventoryRepository, locations: LocationRepository):
        self._inventory = inventory
        self._locations = locations

    async def place(
        self,
        *,
        channel_id: str,
        delivery: Delivery,
        needs: list[LineNeed],
        session: Session | None,
        credit: Mapping[tuple[str, str], int] | None = None,
    ) -> Placement:
        """`credit`: units this order already holds per (sku, location), counted as available (re-routing)."""
        pickup = delivery.method is DeliveryMethod.PICKUP_IN_STORE
        locations = await self._locations.list(ships=None if pickup else True, session=session)
        if pickup:
            locations = [loc for loc in locations if loc.id == delivery.pickup_location_id]
        levels = await self._inventory.for_skus(sorted({n.sku for n in needs}), session=session)
        free = {(lvl.sku, lvl.location_id): lvl.available + (credit or {}).get((lvl.sku, lvl.location_id), 0) for lvl in levels}
        ranked = sorted(locations, key=lambda loc: (distance_km(loc.point, delivery.point) if delivery.point else 0.0, loc.id))
        allocations = []
        for need in needs:
            left = need.quantity
            for loc in ranked:
                take = min(left, free.get((need.sku, loc.id), 0))
                if take > 0:
                    allocations.append(allocation(need.line_id, need.sku, loc.id, take))
                    free[(need.sku, loc.id)] -= take
                    left -= take
                if left == 0:
                    break
        return Placement(allocations=tuple(allocations), explanation={"strategy": "NEAREST"})


def allocation(line_id: str, sku: str, location_id: str, quantity: int) -> Allocation:
    return Allocation(id=new_id(), line_id=line_id, sku=sku, location_id=location_id, quantity=quantity)


async def scheduled_release(locations: LocationRepository, order: Order, now: datetime) -> datetime | None:
    """When a scheduled order must start fulfilment: its date minus handling and the longest transit
    from the locations holding its stock. None when that moment has passed (release now)."""
    requested = order.delivery.requested_date
    if requested is None:
        return None
    pickup = order.delivery.method is DeliveryMethod.PICKUP_IN_STORE
    origins = sorted({a.location_id for a in order.open_allocations})
    found = await locations.by_ids(origins) if origins and not pickup else []
    transit = max(
        (transit_days(loc.point, order.delivery.point, pickup=pickup) for loc in found),
        default=transit_days(None, order.delivery.point, pickup=pickup),
    )
    return release_at(requested, transit, now)
