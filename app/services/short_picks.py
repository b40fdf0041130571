"""Short picks: the bin had fewer units than the system thought.

The missing units are written off the location's on hand (they are not there) together with their
reservation, audited with a reason; the shortfall is re-routed to another location that has it
available now (reserved there, guarded) as routing plans it with the short location excluded, or stays
unallocated, i.e. backordered (the order's backorder machinery fills it when stock arrives).
"""

from __future__ import annotations

import dataclasses

from app.domain.errors import Conflict
from app.domain.ids import new_id
from app.domain.inventory import StockChangeCause
from app.domain.orders import Allocation, AllocationStatus, DeliveryMethod, Order
from app.domain.routing.plan import RoutingLine, RoutingRequest
from app.domain.shipments import Shipment, ShipmentLine
from app.repositories.database import Session
from app.services import fulfilment_events as ev
from app.services.fulfilment_unit import FulfilmentRepos, Unit
from app.services.routing import RoutingService

MAX_REROUTE_ATTEMPTS = 5

class ShortPickHandler:
    def __init__(self, *, repos: FulfilmentRepos, routing: RoutingService):
        self._repos = repos
        self._routing = routing

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
            unit.events.append(ev.stock_changed(*moved, StockChangeCause.SHORT_PICK, unit.actor, unit.now, order, reason=reason))
            allocations = _split(allocations, line.allocation_id, got, short)
            rerouted = await self._reroute(unit, order, line, short, shipment.location_id)
            allocations.extend(rerouted)
            rerouted_units = sum(a.quantity for a in rerouted)
            unit.events.append(
                ev.shipment_event(
                    "ShortPickRecorded",
                    shipment,
                    unit.actor,
                    unit.now,
                    {"lineId": line.line_id, "sku": line.sku, "expected": line.quantity, "picked": got, "short": short,
                     "reroutedTo": [{"locationId": a.location_id, "quantity": a.quantity} for a in rerouted],
                     "backordered": short - rerouted_units},
                    reason=reason,
                )
            )
        return dataclasses.replace(order, allocations=tuple(allocations)), tuple(lines)

    async def _reroute(self, unit: Unit, order: Order, line: ShipmentLine, quantity: int, short_at: str) -> list[Allocation]:
        """Routing plans the shortfall away from the short location (same policy as at capture);
        each placement is reserved under the no-oversell guard. What routing cannot place stays backordered."""
        placements = await self._route(order, line, quantity, frozenset({short_at}), unit.session)
        allocations = []
        for location_id, placed in placements:
            moved = await self._repos.inventory.move(
                line.sku, location_id, reserved=placed, require_available=True, at=unit.now, session=unit.session
            )
            if moved is None:  # taken by another order since routing read it: leave it backordered
                continue
            unit.events.append(ev.stock_changed(*moved, StockChangeCause.RESERVATION, unit.actor, unit.now, order, reason="short pick re-routed"))
            allocations.append(Allocation(id=new_id(), line_id=line.line_id, sku=line.sku, location_id=location_id, quantity=placed))
        return allocations

    async def _route(
        self, order: Order, line: ShipmentLine, quantity: int, excluded: frozenset[str], session: Session
    ) -> list[tuple[str, int]]:
        """Where the short quantity can be reserved instead: [(location id, quantity)]."""
        pickup = order.delivery.method is DeliveryMethod.PICKUP_IN_STORE
        products = await self._repos.products.by_skus([line.sku], session=session)
        request = RoutingRequest(
            lines=(RoutingLine(line.line_id, line.sku, quantity, products[0].weight_grams if products else 0),),
            delivery_method=order.delivery.method,
            channel_id=order.channel_id,
            destination=None if pickup else order.delivery.point,
            destination_source=None if pickup else order.delivery.point_source,
            pickup_location_id=order.delivery.pickup_location_id if pickup else None,
            excluded_location_ids=excluded,
        )
        plan = await self._routing.plan(request, session=session)
        return [(a.location_id, a.quantity) for a in plan.allocations if a.quantity > 0]


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
