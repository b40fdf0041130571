"""Short picks: the bin had fewer units than the system thought.

The missing units are written off the location's on hand (they are not there) together with their
reservation, audited with a reason; the shortfall is re-routed to another location that has it
available now (reserved there, guarded), or stays unallocated, i.e. backordered.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Awaitable, Callable

from app.domain.errors import Conflict
from app.domain.geo import distance_km
from app.domain.ids import new_id
from app.domain.orders import Allocation, AllocationStatus, DeliveryMethod, Order
from app.domain.shipments import Shipment, ShipmentLine
from app.repositories.database import Session
from app.services import fulfilment_events as ev
from app.services.fulfilment_unit import FulfilmentRepos, Unit

MAX_REROUTE_ATTEMPTS = 5

# (order, sku, quantity, excluded location ids, session) -> candidate location ids, best first.
Planner = Callable[[Order, str, int, frozenset[str], Session], Awaitable[list[str]]]


class ShortPickHandler:
    def __init__(self, *, repos: FulfilmentRepos, planner: Planner | None = None):
        self._repos = repos
        self._planner = planner or self._nearest_with_stock

    async def apply(
        self, unit: Unit, order: Order, shipment: Shipment, picked: dict[str, int]
    ) -> tuple[Order, tuple[ShipmentLine, ...]]:
        """The order with re-routed or released allocations, and the shipment's lines as picked."""
        allocations = list(order.allocations)
        lines: list[ShipmentLine] = []
        for line in shipment.lines:
            got = picked[line.allocation_id]
            short = line.quantity - got
            if got:
                lines.append(dataclasses.replace(line, quantity=got, picked_quantity=got))
            if not short:
                continue
            moved = await self._repos.inventory.move(
                line.sku, shipment.location_id, on_hand=-short, reserved=-short, at=unit.now, session=unit.session
            )
            if moved is None:
                raise Conflict(f"stock of {line.sku} at {shipment.location_id} does not match the reservation", field=("lines",))
            reason = f"short pick on shipment {shipment.number}: {short} x {line.sku} not found"
            unit.events.append(ev.stock_changed(*moved, "SHORT_PICK", unit.actor, unit.now, order, reason=reason))
            allocations = _split(allocations, line.allocation_id, got, short)
            rerouted_to = await self._reroute(unit, order, line, short, shipment.location_id)
            if rerouted_to is not None:
                allocations.append(
                    Allocation(id=new_id(), line_id=line.line_id, sku=line.sku, location_id=rerouted_to, quantity=short)
                )
            unit.events.append(
                ev.shipment_event(
                    "ShortPickRecorded",
                    shipment,
                    unit.actor,
                    unit.now,
                    {"lineId": line.line_id, "sku": line.sku, "expected": line.quantity, "picked": got, "short": short,
                     "reroutedTo": rerouted_to, "backordered": short if rerouted_to is None else 0},
                    reason=reason,
                )
            )
        return dataclasses.replace(order, allocations=tuple(allocations)), tuple(lines)

    async def _reroute(self, unit: Unit, order: Order, line: ShipmentLine, quantity: int, short_at: str) -> str | None:
        excluded = frozenset({short_at})
        for location_id in (await self._planner(order, line.sku, quantity, excluded, unit.session))[:MAX_REROUTE_ATTEMPTS]:
            moved = await self._repos.inventory.move(
                line.sku, location_id, reserved=quantity, require_available=True, at=unit.now, session=unit.session
            )
            if moved is not None:  # the guard refuses when another order took the stock first
                unit.events.append(ev.stock_changed(*moved, "REROUTED", unit.actor, unit.now, order))
                return location_id
        return None

    async def _nearest_with_stock(
        self, order: Order, sku: str, quantity: int, excluded: frozenset[str], session: Session
    ) -> list[str]:
        """Fallback planner: shipping locations with the quantity available, nearest to the shopper first.
        Pick-up orders are not moved to another store behind the shopper's back: they backorder."""
        if order.delivery.method is DeliveryMethod.PICKUP_IN_STORE or order.delivery.point is None:
            return []
        levels = await self._repos.inventory.candidates(sku, quantity, sorted(excluded), session=session)
        if not levels:
            return []
        locations = await self._repos.locations.by_ids([lvl.location_id for lvl in levels], session=session)
        target = order.delivery.point
        usable = [loc for loc in locations if loc.active and loc.capabilities.ships]
        usable.sort(key=lambda loc: (distance_km(loc.point, target), -loc.priority, loc.id))
        return [loc.id for loc in usable]


def _split(allocations: list[Allocation], allocation_id: str, kept: int, short: int) -> list[Allocation]:
    """The picked part stays OPEN; the short part is kept for the record as RELEASED."""
    result: list[Allocation] = []
    for allocation in allocations:
        if allocation.id != allocation_id:
            result.append(allocation)
            continue
        if kept:
            result.append(dataclasses.replace(allocation, quantity=kept))
            result.append(dataclasses.replace(allocation, id=new_id(), quantity=short, status=AllocationStatus.RELEASED))
        else:
            result.append(dataclasses.replace(allocation, status=AllocationStatus.RELEASED))
    return result
