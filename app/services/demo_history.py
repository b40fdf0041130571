"""The demo's order history, played through the rules the live system applies.

Open orders are routed by the routing planner against the seeded stock, and what they reserve is
counted, so `inventory.reserved` can be set to match. Shipments are planned by `plan_sync`, moved
through the shipment state machine (pick, pack, hand over), priced and labelled by the built-in
carriers' rate cards, and tracked by folding carrier events (`tracked_status`, `tracked_eta`);
each order takes the status its allocations and shipments imply (`rolled_up_status`) through the
order state machine. Every step happens before `as_of`, so each order is where the live system
could have left it. Nothing here reads or writes the database: demo_seed.py does.
"""

from __future__ import annotations

import dataclasses
import itertools
import random
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, time, timedelta

from app.domain.carriers import ShippingPolicy, add_business_days, choose_quote, estimated_parcels
from app.domain.channels import Channel
from app.domain.fulfilment import (
    fulfil_allocations,
    label_of,
    plan_sync,
    rate_request,
    rolled_up_status,
    ship_date,
    shipping_policy_for,
)
from app.domain.locations import Location
from app.domain.orders import (
    Allocation,
    DeliveryMethod,
    Order,
    OrderLine,
    OrderStatus,
    cancel,
    status_from_allocations,
    transition as order_transition,
    with_status,
)
from app.domain.products import HandlingFlag, Product
from app.domain.rate_cards import RateCardCarrier, built_in_carriers
from app.domain.routing.stored import explanation_to_dict
from app.domain.routing.plan import RoutingLine, RoutingPlan, RoutingRequest, StockAtLocation
from app.domain.routing.planner import plan_routing
from app.domain.routing.policy import DEFAULT_POLICY
from app.domain.shipments import (
    FulfilmentMethod,
    Package,
    Shipment,
    ShipmentStatus,
    TrackingEvent,
    TrackingEventKind,
    transition,
)
from app.domain.tracking import tracked_eta, tracked_status

# How far an order is meant to have got; the status it ends with is what the rules make of that.
HOLDS_STOCK = frozenset({
    OrderStatus.ALLOCATED,
    OrderStatus.IN_FULFILLMENT,
    OrderStatus.PARTIALLY_SHIPPED,
    OrderStatus.READY_FOR_PICKUP,
})
_MILESTONE = {
    ShipmentStatus.PICKING: "picking_at",
    ShipmentStatus.PICKED: "picked_at",
    ShipmentStatus.PACKED: "packed_at",
    ShipmentStatus.READY_FOR_PICKUP: "packed_at",
    ShipmentStatus.SHIPPED: "shipped_at",
    ShipmentStatus.PICKED_UP: "picked_up_at",
}
_HEAVY_GRAMS = 5_000
_SCANS = {
    TrackingEventKind.LABEL_CREATED: "Shipping label created",
    TrackingEventKind.PICKED_UP: "Picked up by the carrier",
    TrackingEventKind.IN_TRANSIT: "Departed the carrier's facility",
    TrackingEventKind.OUT_FOR_DELIVERY: "Out for delivery",
    TrackingEventKind.DELIVERED: "Delivered",
    TrackingEventKind.EXCEPTION: "Delivery attempted: no access to the delivery location",
}


@dataclass(frozen=True, slots=True)
class OrderDraft:
    """An order as it was placed (CREATED, nothing allocated), how far it is meant to get, and
    the location that filled it in the past when it holds no stock now."""

    order: Order
    target: OrderStatus
    source_id: str


class History:
    """Plays drafts in order; `reserved` sums the OPEN allocations left behind per (sku, location)."""

    def __init__(
        self,
        rng: random.Random,
        *,
        as_of: datetime,
        locations: Sequence[Location],
        products: Mapping[str, Product],
        channels: Mapping[str, Channel],
        stock: Sequence[StockAtLocation],
    ):
        self._rng = rng
        self._as_of = as_of
        self._location_list = list(locations)
        self._locations = {loc.id: loc for loc in locations}
        self._products = products
        self._channels = channels
        # Labels numbered 1, 2, 3...: unique by construction (hashed shipment ids collided at 20,000 orders).
        self._carriers: dict[str, RateCardCarrier] = {c.code: c for c in built_in_carriers(itertools.count(1))}
        self._stock: dict[str, dict[str, StockAtLocation]] = {}
        for level in stock:
            self._stock.setdefault(level.sku, {})[level.location_id] = level
        self.reserved: Counter[tuple[str, str]] = Counter()

    async def play(self, draft: OrderDraft) -> tuple[Order, list[Shipment]]:
        """The order and its shipments as they stand at `as_of`."""
        order, at = draft.order, draft.order.created_at
        if draft.target in HOLDS_STOCK:
            routed = self._route(order, split=draft.target is OrderStatus.PARTIALLY_SHIPPED)
            if routed is not None:
                played = await self._open(routed, draft.target, at)
                self._reserve(played[0])
                return played
            # The stock cannot fill it now: it becomes an order of the past, filled then from its source.
            at = self._as_of - timedelta(days=self._rng.randint(20, 365), minutes=self._rng.randint(0, 1_439))
            order = dataclasses.replace(order, created_at=at, updated_at=at)
        allocations = tuple(
            Allocation(self._new_id(), line.id, line.sku, draft.source_id, line.quantity) for line in order.lines
        )
        flow = self._allocate(dataclasses.replace(order, allocations=allocations), at)
        if draft.target is OrderStatus.CANCELLED:
            at = self._later(at, 10, 600)
            cancelled = cancel(flow.order, at)
            return cancelled, self._sync(cancelled, flow.shipments, at)
        for n in range(len(flow.shipments)):
            await self._hand_over(flow, n, at)
        return flow.order, flow.shipments

    # --- orders that hold stock now ------------------------------------------------------------------

    def _route(self, order: Order, *, split: bool) -> Order | None:
        """The order with the allocations routing gives it against the stock left now; None when
        that stock cannot fill it. `split`: the order came in when no location had all of it, so
        its first line is routed alone and the rest away from where that went (two shipments)."""
        if not split:
            plan = self._plan(order, order.lines)
            if plan is None:
                return None
            allocations, routing = plan.allocations, explanation_to_dict(plan.explanation)
        else:
            first = self._plan(order, order.lines[:1])
            rest = self._plan(order, order.lines[1:], excluded=frozenset(first.location_ids)) if first else None
            if first is None or rest is None:
                return None
            # Neither plan explains the order as a whole; it carries none rather than half of one.
            allocations, routing = first.allocations + rest.allocations, None
        return dataclasses.replace(
            order,
            allocations=tuple(Allocation(self._new_id(), a.line_id, a.sku, a.location_id, a.quantity) for a in allocations),
            routing=routing,
        )

    def _plan(self, order: Order, lines: Sequence[OrderLine], *, excluded: frozenset[str] = frozenset()) -> RoutingPlan | None:
        """The planner's answer for these lines under the default policy, when it places all of them."""
        if not lines:
            return None
        pickup = order.delivery.method is DeliveryMethod.PICKUP_IN_STORE
        request = RoutingRequest(
            lines=tuple(RoutingLine(line.id, line.sku, line.quantity, self._products[line.sku].weight_grams) for line in lines),
            delivery_method=order.delivery.method,
            channel_id=order.channel_id,
            destination=None if pickup else order.delivery.point,
            pickup_location_id=order.delivery.pickup_location_id if pickup else None,
            excluded_location_ids=excluded,
        )
        skus = dict.fromkeys(line.sku for line in lines)
        stock = [level for sku in skus for level in self._stock.get(sku, {}).values() if level.available > 0]
        plan = plan_routing(request, self._location_list, stock, DEFAULT_POLICY)
        return plan if plan.fully_allocated else None

    def _reserve(self, order: Order) -> None:
        """What the order's OPEN allocations hold is no longer available to the orders after it."""
        for allocation in order.open_allocations:
            self.reserved[(allocation.sku, allocation.location_id)] += allocation.quantity
            level = self._stock[allocation.sku][allocation.location_id]
            self._stock[allocation.sku][allocation.location_id] = dataclasses.replace(
                level, available=level.available - allocation.quantity
            )

    async def _open(self, order: Order, target: OrderStatus, at: datetime) -> tuple[Order, list[Shipment]]:
        flow = self._allocate(order, at)
        waiting = range(len(flow.shipments))
        if target is OrderStatus.PARTIALLY_SHIPPED:
            await self._hand_over(flow, 0, at)
            waiting = range(1, len(flow.shipments))
        if target is not OrderStatus.ALLOCATED:
            for n in waiting:
                steps = [ShipmentStatus.PICKING, ShipmentStatus.PICKED, ShipmentStatus.PACKED]
                if target is OrderStatus.PARTIALLY_SHIPPED:
                    steps = steps[: self._rng.randint(0, 1)]
                elif target is OrderStatus.IN_FULFILLMENT:
                    steps = steps[: self._rng.randint(1, 2 if flow.shipments[n].method is FulfilmentMethod.PICKUP else 3)]
                self._work(flow, n, steps, at)
        return flow.order, flow.shipments

    # --- the steps -----------------------------------------------------------------------------------

    def _allocate(self, order: Order, at: datetime) -> _Flow:
        """Captured and allocated: the status its allocations give it, and the shipments planned for them."""
        order = with_status(order, status_from_allocations(order), at)
        return _Flow(order, self._sync(order, [], at))

    def _sync(self, order: Order, shipments: list[Shipment], at: datetime) -> list[Shipment]:
        channel = self._channels.get(order.channel_id)
        plan = plan_sync(
            order,
            shipments,
            products=self._products,
            locations=self._locations,
            now=at,
            new_id=self._new_id,
            shipping_policy=shipping_policy_for(order, channel),
        )
        changed = {after.id: after for _, after in plan.changed}
        return [changed.get(s.id, s) for s in shipments] + list(plan.created)

    def _work(self, flow: _Flow, n: int, steps: Sequence[ShipmentStatus], since: datetime) -> None:
        """Warehouse steps on shipment `n`, each some minutes after the one before: pick started,
        confirmed in full, packed (at the pick-up store, packing makes it ready for pick-up)."""
        at = since
        for step in steps:
            shipment = flow.shipments[n]
            at = self._later(at, 60, 360) if step is ShipmentStatus.PICKING else self._later(at, 10, 60)
            assert at < self._as_of, f"{shipment.number} would be worked after as_of; placed too late for {step}"
            transition(shipment.status, step)
            changes: dict[str, object] = {}
            if step is ShipmentStatus.PICKED:
                changes["lines"] = tuple(dataclasses.replace(line, picked_quantity=line.quantity) for line in shipment.lines)
            if step is ShipmentStatus.PACKED and shipment.method is FulfilmentMethod.PICKUP:
                step = ShipmentStatus.READY_FOR_PICKUP
            elif step is ShipmentStatus.PACKED:
                changes["packages"] = self._packages(shipment)
            flow.update(n, _moved(shipment, step, at, **changes), at)

    def _packages(self, shipment: Shipment) -> tuple[Package, ...]:
        """A box per line; bulky or heavy items a box per unit, as a packer would (one box of three
        desk frames is beyond every carrier's limits)."""
        boxes: list[tuple[str, int]] = []
        for line in shipment.lines:
            product = self._products[line.sku]
            bulky = HandlingFlag.OVERSIZE in product.handling or product.weight_grams >= _HEAVY_GRAMS
            boxes.extend([(line.sku, 1)] * line.quantity if bulky else [(line.sku, line.quantity)])
        parcels = [estimated_parcels([box], self._products)[0] for box in boxes]
        return tuple(Package(k, p.weight_grams, p.length_cm, p.width_cm, p.height_cm) for k, p in enumerate(parcels, start=1))

    async def _hand_over(self, flow: _Flow, n: int, since: datetime) -> None:
        """Shipment `n` picked, packed and handed to a carrier (then tracked), or to the shopper at the store."""
        self._work(flow, n, (ShipmentStatus.PICKING, ShipmentStatus.PICKED, ShipmentStatus.PACKED), since)
        shipment = flow.shipments[n]
        at = self._later(shipment.updated_at, 20, 120)
        if shipment.method is FulfilmentMethod.PICKUP:
            # Collected within two days, and before `as_of`.
            at = min(self._later(at, 30, 2_880), self._as_of - timedelta(minutes=1))
            flow.hand_over(n, _moved(shipment, ShipmentStatus.PICKED_UP, at, eta=at.date()), at)
            return
        origin = self._locations[shipment.location_id]
        request = rate_request(shipment, origin, self._products, ship_date(at))
        quotes = [quote for carrier in self._carriers.values() for quote in carrier.quote(request)]
        quote = choose_quote(quotes, ShippingPolicy(shipment.shipping_policy or ShippingPolicy.CHEAPEST), promised=shipment.promised_date)
        purchased = await self._carriers[quote.carrier].buy_label(request, quote.service, idempotency_key=shipment.id)
        label = label_of(purchased, at)
        flow.hand_over(n, _moved(shipment, ShipmentStatus.SHIPPED, at, label=label, eta=label.estimated_delivery), at)
        tracked = self._track(flow.shipments[n], origin)
        flow.update(n, tracked, tracked.updated_at)

    def _track(self, shipment: Shipment, origin: Location) -> Shipment:
        """The carrier's scans up to `as_of`, folded as the tracking webhook folds them."""
        assert shipment.label is not None and shipment.status_at is not None
        shipped, label = shipment.status_at, shipment.label
        day = label.estimated_delivery
        scans = [(TrackingEventKind.LABEL_CREATED, shipped, origin.address.city)]
        collected = self._later(shipped, 120, 300)
        scans.append((TrackingEventKind.PICKED_UP, collected, origin.address.city))
        morning = datetime.combine(day, time(7), tzinfo=shipped.tzinfo) + timedelta(minutes=self._rng.randint(0, 120))
        moving = self._later(collected, 360, 840)
        if moving < morning:
            scans.append((TrackingEventKind.IN_TRANSIT, moving, None))
        city = shipment.destination.city if shipment.destination else None
        if self._rng.random() < 0.04:  # now and then a failed attempt, delivered the next business day
            scans.append((TrackingEventKind.OUT_FOR_DELIVERY, morning, city))
            scans.append((TrackingEventKind.EXCEPTION, self._later(morning, 120, 300), city))
            morning = datetime.combine(add_business_days(day, 1), time(7), tzinfo=shipped.tzinfo)
        scans.append((TrackingEventKind.OUT_FOR_DELIVERY, morning, city))
        scans.append((TrackingEventKind.DELIVERED, self._later(morning, 180, 660), city))
        events = tuple(
            TrackingEvent(
                id=f"{label.tracking_number}-{n}",
                kind=kind,
                occurred_at=at,
                received_at=at + timedelta(minutes=2),
                description=_SCANS[kind],
                location=where,
            )
            for n, (kind, at, where) in enumerate(scans, start=1)
            if at + timedelta(minutes=2) < self._as_of
        )
        status, status_at = tracked_status(events)
        milestones = dict(shipment.extra)
        if status is ShipmentStatus.DELIVERED and status_at:
            milestones["delivered_at"] = status_at
        return dataclasses.replace(
            shipment,
            tracking=events,
            status=status if status is shipment.status else transition(shipment.status, status),
            status_at=status_at or shipment.status_at,
            eta=tracked_eta(label.estimated_delivery, events, status),
            updated_at=events[-1].received_at if events else shipment.updated_at,
            version=shipment.version + len(events),
            extra=milestones,
        )

    def _later(self, at: datetime, low_minutes: int, high_minutes: int) -> datetime:
        return at + timedelta(minutes=self._rng.randint(low_minutes, high_minutes))

    def _new_id(self) -> str:
        return f"{self._rng.getrandbits(96):024x}"


@dataclass
class _Flow:
    """One order and its shipments while its history is played; after every step the order takes
    the status the shipments imply, through its transition table, as the services' writes do."""

    order: Order
    shipments: list[Shipment]

    def update(self, n: int, shipment: Shipment, at: datetime) -> None:
        self.shipments[n] = shipment
        target = rolled_up_status(self.order, self.shipments)
        if target is not self.order.status:
            at = max(at, self.order.updated_at)
            self.order = dataclasses.replace(
                self.order, status=order_transition(self.order.status, target), updated_at=at, version=self.order.version + 1
            )

    def hand_over(self, n: int, shipment: Shipment, at: datetime) -> None:
        """The goods left: the shipment's allocations are FULFILLED, then the status follows."""
        self.order = fulfil_allocations(self.order, shipment)
        self.update(n, shipment, at)


def _moved(shipment: Shipment, target: ShipmentStatus, at: datetime, **changes: object) -> Shipment:
    assert at >= shipment.updated_at, f"{shipment.number} would move back in time"
    if target is not ShipmentStatus.READY_FOR_PICKUP:  # packing at the store was checked as PACKED
        transition(shipment.status, target)
    return dataclasses.replace(
        shipment,
        status=target,
        status_at=at,
        updated_at=at,
        version=shipment.version + 1,
        extra={**shipment.extra, _MILESTONE[target]: at},
        **changes,  # type: ignore[arg-type]
    )
