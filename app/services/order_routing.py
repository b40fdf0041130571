"""The one place order services talk to routing: order lines in, allocations and an explanation out."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from app.domain.ids import new_id
from app.domain.inventory import InventoryLevel, available
from app.domain.locations import Location
from app.domain.orders import Allocation, Delivery, DeliveryMethod, Order
from app.domain.routing.stored import explanation_to_dict
from app.domain.routing.plan import PickupAlternative, RoutingLine, RoutingPlan, RoutingRequest, StockAtLocation
from app.domain.routing.planner import plan_routing
from app.domain.scheduling import release_at, transit_days
from app.repositories.database import Session
from app.repositories.inventory import InventoryRepository
from app.repositories.locations import LocationRepository
from app.repositories.products import ProductRepository
from app.services.routing import RoutingService


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
    plan: RoutingPlan
    # What the plan was made from, as read (in the caller's transaction): writers reuse it instead of
    # reading it again. Locations by id; stock levels with something available by (sku, location id).
    locations: Mapping[str, Location] = field(default_factory=dict)
    levels: Mapping[tuple[str, str], InventoryLevel] = field(default_factory=dict)

    def placed(self, line_id: str) -> int:
        return sum(a.quantity for a in self.allocations if a.line_id == line_id)

    def short(self, needs: list[LineNeed]) -> dict[str, int]:
        """Line id -> units routing could not place."""
        return {n.line_id: n.quantity - self.placed(n.line_id) for n in needs if n.quantity > self.placed(n.line_id)}

    @property
    def pickup_alternatives(self) -> tuple[PickupAlternative, ...]:
        return self.plan.pickup.alternatives if self.plan.pickup else ()


class OrderRouting:
    def __init__(
        self,
        *,
        routing: RoutingService,
        products: ProductRepository,
        inventory: InventoryRepository,
        locations: LocationRepository,
    ):
        self._routing = routing
        self._products = products
        self._inventory = inventory
        self._locations = locations

    async def place(
        self,
        *,
        channel_id: str,
        delivery: Delivery,
        needs: list[LineNeed],
        session: Session | None,
        weights: Mapping[str, int] | None = None,
        credit: Mapping[tuple[str, str], int] | None = None,
    ) -> Placement:
        """Plans `needs` with the channel's policy, reading stock in `session` (the caller's transaction).

        `weights`: grams per unit by SKU, when the caller has them (else read from the catalog).
        `credit`: units this order already holds per (sku, location), counted as available, so a
        re-route can keep (or move) its own reservations.
        """
        if weights is None:
            weights = {p.sku: p.weight_grams for p in await self._products.by_skus(sorted({n.sku for n in needs}), session=session)}
        pickup = delivery.method is DeliveryMethod.PICKUP_IN_STORE
        request = RoutingRequest(
            lines=tuple(RoutingLine(n.line_id, n.sku, n.quantity, weights.get(n.sku, 0)) for n in needs if n.quantity > 0),
            delivery_method=delivery.method,
            channel_id=channel_id,
            destination=None if pickup else delivery.point,
            destination_source=None if pickup else delivery.point_source,
            pickup_location_id=delivery.pickup_location_id if pickup else None,
        )
        if credit:
            plan = await self._plan_with_credit(request, credit, session)
            locations: Mapping[str, Location] = {}
            levels: Mapping[tuple[str, str], InventoryLevel] = {}
        else:
            routed = await self._routing.plan_seen(request, session=session)
            plan, locations, levels = routed.plan, routed.locations, routed.levels
        allocations = tuple(allocation(a.line_id, a.sku, a.location_id, a.quantity) for a in plan.allocations)
        return Placement(
            allocations=allocations, explanation=explanation_to_dict(plan.explanation), plan=plan, locations=locations, levels=levels
        )

    async def preview(self, request: RoutingRequest) -> RoutingPlan:
        return await self._routing.plan(request)

    async def _plan_with_credit(
        self, request: RoutingRequest, credit: Mapping[tuple[str, str], int], session: Session | None
    ) -> RoutingPlan:
        """The pure planner over the same inputs RoutingService.plan reads, with this order's own
        reservations added back to `available` (they would be released if the order moved)."""
        configured = await self._routing.policy_for(request.channel_id, session=session)
        levels = await self._inventory.for_skus(list(request.skus), session=session)
        stock = [
            StockAtLocation(
                sku=level.sku,
                location_id=level.location_id,
                available=available(level.on_hand, level.reserved - credit.get((level.sku, level.location_id), 0), level.safety_stock),
                on_hand=level.on_hand,
                reorder_point=level.reorder_point,
            )
            for level in levels
        ]
        held = {s.location_id for s in stock if s.available > 0} | ({request.pickup_location_id} if request.pickup_location_id else set())
        locations = sorted(await self._locations.by_ids(sorted(held), session=session), key=lambda loc: loc.id) if held else []
        return plan_routing(request, locations, stock, configured.policy, policy_source=configured.source)


def allocation(line_id: str, sku: str, location_id: str, quantity: int) -> Allocation:
    return Allocation(id=new_id(), line_id=line_id, sku=sku, location_id=location_id, quantity=quantity)


async def scheduled_release(
    locations: LocationRepository, order: Order, now: datetime, *, known: Mapping[str, Location] | None = None
) -> datetime | None:
    """When a scheduled order must start fulfilment: its date minus handling and the longest transit
    from the locations holding its stock. None when that moment has passed (release now).
    `known`: locations the caller has read already, by id (the others are read)."""
    requested = order.delivery.requested_date
    if requested is None:
        return None
    pickup = order.delivery.method is DeliveryMethod.PICKUP_IN_STORE
    origins = sorted({a.location_id for a in order.open_allocations})
    found = await _locations(locations, origins, known or {}) if origins and not pickup else []
    transit = max(
        (transit_days(loc.point, order.delivery.point, pickup=pickup) for loc in found),
        default=transit_days(None, order.delivery.point, pickup=pickup),
    )
    return release_at(requested, transit, now)


async def _locations(repository: LocationRepository, ids: list[str], known: Mapping[str, Location]) -> list[Location]:
    missing = [i for i in ids if i not in known]
    read = await repository.by_ids(missing) if missing else []
    return [known[i] for i in ids if i in known] + read
