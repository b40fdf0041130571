"""Keeping shipments in step with orders, promise dates, and rolling shipment status up to the order."""

from __future__ import annotations

import dataclasses
from collections import defaultdict
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date, datetime

from app.domain.carriers import Parcel, PurchasedLabel, RateRequest, ShippingPolicy, add_business_days, estimated_parcels
from app.domain.channels import Channel
from app.domain.errors import Conflict
from app.domain.locations import Location
from app.domain.orders import (
    TRANSITIONS as ORDER_TRANSITIONS,
    AllocationStatus,
    DeliveryMethod,
    Order,
    OrderStatus,
    status_from_allocations,
)
from app.domain.products import Product
from app.domain.rate_cards import ground_estimate
from app.domain.shipments import (
    CONSUMED_STATES,
    EDITABLE,
    PRE_SHIP,
    SHIPPED_STATES,
    FulfilmentMethod,
    Label,
    Shipment,
    ShipmentLine,
    ShipmentStatus,
)

# Orders in these states have no pickable shipments: planned ones wait, held.
NOT_RELEASED = frozenset({OrderStatus.CREATED, OrderStatus.SCHEDULED, OrderStatus.ON_HOLD})
# Orders past fulfilment: shipments follow tracking, not allocations.
DONE = frozenset({OrderStatus.DELIVERED, OrderStatus.PICKED_UP})
# Work placed after this hour (UTC) starts the next business day.
CUTOFF_HOUR_UTC = 18
# Not yet handed to a carrier or the shopper: an order change may still cancel these.
_CANCELLABLE = PRE_SHIP | {ShipmentStatus.READY_FOR_PICKUP}


@dataclass(frozen=True, slots=True)
class SyncPlan:
    created: tuple[Shipment, ...] = ()
    changed: tuple[tuple[Shipment, Shipment], ...] = ()  # (before, after)


def ship_date(now: datetime, not_before: datetime | None = None) -> date:
    start = max(now, not_before) if not_before else now
    return add_business_days(start.date(), 1 if start.hour >= CUTOFF_HOUR_UTC else 0)


def initial_eta(order: Order, origin: Location, lines: tuple[ShipmentLine, ...], products: Mapping[str, Product], now: datetime, method: FulfilmentMethod) -> date:
    """What the shopper is first told: pick-up ready date, or ship date plus the fastest ground transit."""
    start = ship_date(now, order.release_at)
    if method is FulfilmentMethod.PICKUP or order.delivery.point is None or order.delivery.address is None:
        return start
    request = RateRequest(
        origin=origin.address,
        origin_point=origin.point,
        destination=order.delivery.address,
        destination_point=order.delivery.point,
        parcels=estimated_parcels(((line.sku, line.quantity) for line in lines), products),
        ship_date=start,
    )
    return ground_estimate(request)


def shipping_policy_for(order: Order, channel: Channel | None) -> str:
    """The channel's policy; an order with a requested delivery date keeps that promise first."""
    policy = channel.shipping_policy if channel else ShippingPolicy.CHEAPEST
    if order.delivery.requested_date is not None and policy is ShippingPolicy.CHEAPEST:
        return ShippingPolicy.CHEAPEST_ON_TIME.value
    return policy.value


def plan_sync(
    order: Order,
    shipments: list[Shipment],
    *,
    products: Mapping[str, Product],
    locations: Mapping[str, Location],
    now: datetime,
    new_id: Callable[[], str],
    shipping_policy: str | None = None,
) -> SyncPlan:
    """Shipments that match the order's OPEN allocations: one editable shipment per location with open
    allocations not already picked; editable shipments left empty are cancelled; picked, packed and
    shipped ones keep their lines. A cancelled order cancels everything not yet shipped."""
    if order.status in DONE:
        return SyncPlan()
    live = [s for s in shipments if s.status is not ShipmentStatus.CANCELLED]
    if order.status is OrderStatus.CANCELLED:
        return SyncPlan(changed=tuple((s, _cancelled(s, now)) for s in live if s.status in _CANCELLABLE))

    held = order.status in NOT_RELEASED or order.hold is not None
    by_id = {a.id: a for a in order.allocations}
    committed = [s for s in live if s.status not in EDITABLE]
    covered: set[str] = set()
    for shipment in committed:
        for line in shipment.lines:
            allocation = by_id.get(line.allocation_id)
            if shipment.status in _CANCELLABLE and (
                allocation is None or allocation.status is not AllocationStatus.OPEN or allocation.quantity != line.quantity
            ):
                raise Conflict(
                    f"line {line.line_id} ({line.sku}) is already {shipment.status.lower()} in shipment {shipment.number}; "
                    "it can no longer be changed",
                    field=("lines", line.line_id),
                )
            covered.add(line.allocation_id)

    wanted: dict[str, list[ShipmentLine]] = defaultdict(list)
    for allocation in order.open_allocations:
        if allocation.id in covered:
            continue
        product = products.get(allocation.sku)
        line = next((ln for ln in order.lines if ln.id == allocation.line_id), None)
        wanted[allocation.location_id].append(
            ShipmentLine(
                allocation_id=allocation.id,
                line_id=allocation.line_id,
                sku=allocation.sku,
                name=line.name if line else allocation.sku,
                quantity=allocation.quantity,
                handling=product.handling if product else frozenset(),
            )
        )

    created: list[Shipment] = []
    changed: list[tuple[Shipment, Shipment]] = []
    editable_by_location: dict[str, list[Shipment]] = defaultdict(list)
    for shipment in sorted((s for s in live if s.status in EDITABLE), key=lambda s: (s.created_at, s.id)):
        editable_by_location[shipment.location_id].append(shipment)
    sequence = len(shipments)
    for location_id in sorted(set(wanted) | set(editable_by_location)):
        lines = tuple(sorted(wanted.get(location_id, []), key=lambda ln: (int(ln.line_id) if ln.line_id.isdigit() else 0, ln.line_id, ln.allocation_id)))
        existing = editable_by_location.get(location_id, [])
        keep, extra = (existing[0], existing[1:]) if existing else (None, [])
        changed.extend((s, _cancelled(s, now)) for s in extra)
        if keep is not None:
            if not lines:
                changed.append((keep, _cancelled(keep, now)))
                continue
            updated = dataclasses.replace(keep, lines=_carry_picks(keep.lines, lines), held=held)
            if updated != keep:
                changed.append((keep, dataclasses.replace(updated, updated_at=now, version=keep.version + 1)))
            continue
        origin = locations.get(location_id)
        if origin is None:
            raise Conflict(f"location {location_id} of an allocation does not exist", field=("allocations",))
        sequence += 1
        method = (
            FulfilmentMethod.PICKUP
            if order.delivery.method is DeliveryMethod.PICKUP_IN_STORE and order.delivery.pickup_location_id == location_id
            else FulfilmentMethod.SHIP
        )
        pickup_store = locations.get(order.delivery.pickup_location_id or "")
        destination = order.delivery.address if order.delivery.method is DeliveryMethod.SHIP else (pickup_store.address if pickup_store else None)
        destination_point = order.delivery.point if order.delivery.method is DeliveryMethod.SHIP else (pickup_store.point if pickup_store else None)
        eta = initial_eta(order, origin, lines, products, now, method)
        created.append(
            Shipment(
                id=new_id(),
                number=f"{order.external_id}-{sequence}",
                order_id=order.id,
                customer_id=order.customer_id,
                channel_id=order.channel_id,
                location_id=location_id,
                method=method,
                status=ShipmentStatus.PENDING,
                lines=lines,
                created_at=now,
                updated_at=now,
                status_at=now,
                destination=destination,
                destination_point=destination_point,
                held=held,
                promised_date=order.delivery.requested_date or eta,
                eta=eta,
                shipping_policy=shipping_policy,
            )
        )
    for shipment in committed:
        if shipment.status in PRE_SHIP and shipment.held != held:
            changed.append((shipment, dataclasses.replace(shipment, held=held, updated_at=now, version=shipment.version + 1)))
    return SyncPlan(created=tuple(created), changed=tuple(changed))


def _carry_picks(old: tuple[ShipmentLine, ...], new: tuple[ShipmentLine, ...]) -> tuple[ShipmentLine, ...]:
    """Lines keep what a picker already recorded for an unchanged allocation."""
    before = {line.allocation_id: line for line in old}
    return tuple(
        dataclasses.replace(line, picked_quantity=before[line.allocation_id].picked_quantity)
        if line.allocation_id in before and before[line.allocation_id].quantity == line.quantity
        else line
        for line in new
    )


def _cancelled(shipment: Shipment, now: datetime) -> Shipment:
    return dataclasses.replace(
        shipment, status=ShipmentStatus.CANCELLED, status_at=now, updated_at=now, version=shipment.version + 1
    )


def fulfil_allocations(order: Order, shipment: Shipment) -> Order:
    """The goods of the shipment left (shipped or collected): its allocations become FULFILLED.
    Conflict when a line no longer matches its OPEN allocation (the shipment needs a re-sync)."""
    by_id = {a.id: a for a in order.allocations}
    for line in shipment.lines:
        allocation = by_id.get(line.allocation_id)
        if allocation is None or allocation.status is not AllocationStatus.OPEN or allocation.quantity != line.quantity:
            raise Conflict(f"line {line.line_id} no longer matches its reservation; re-sync the shipment", field=("lines", line.line_id))
    fulfilled = shipment.allocation_ids
    return dataclasses.replace(
        order,
        allocations=tuple(
            dataclasses.replace(a, status=AllocationStatus.FULFILLED) if a.id in fulfilled else a for a in order.allocations
        ),
    )


def rate_request(shipment: Shipment, origin: Location, products: Mapping[str, Product], day: date) -> RateRequest:
    """What carriers quote for a shipment leaving on `day`: its packages once packed, else one
    parcel estimated from the catalog (`products` is needed only then)."""
    if shipment.packages:
        parcels = tuple(Parcel(p.weight_grams, p.length_cm, p.width_cm, p.height_cm) for p in shipment.packages)
    else:
        parcels = estimated_parcels(((line.sku, line.quantity) for line in shipment.lines), products)
    assert shipment.destination is not None and shipment.destination_point is not None, "a carrier needs a destination"
    return RateRequest(
        origin=origin.address,
        origin_point=origin.point,
        destination=shipment.destination,
        destination_point=shipment.destination_point,
        parcels=parcels,
        ship_date=day,
        handling=shipment.handling,
    )


def label_of(purchased: PurchasedLabel, at: datetime) -> Label:
    quote = purchased.quote
    return Label(
        carrier=quote.carrier,
        service=quote.service,
        tracking_number=purchased.tracking_number,
        cost=quote.amount,
        billable_weight_grams=quote.billable_weight_grams,
        zone=quote.zone,
        estimated_delivery=quote.estimated_delivery,
        purchased_at=at,
        service_name=quote.service_name,
    )


def rolled_up_status(order: Order, shipments: list[Shipment]) -> OrderStatus:
    """The order status its shipments imply, when the order's transition table allows it; else unchanged."""
    live = [s for s in shipments if s.status is not ShipmentStatus.CANCELLED]
    if order.status in (OrderStatus.CANCELLED, OrderStatus.ON_HOLD):
        return order.status
    if not live:
        # Everything short-picked away: back to waiting for stock, where backorders are filled.
        target = status_from_allocations(order) if order.status is OrderStatus.IN_FULFILLMENT else order.status
        return target if target in ORDER_TRANSITIONS[order.status] else order.status
    fulfilled = {line.id: 0 for line in order.lines}
    for allocation in order.allocations:
        if allocation.status is AllocationStatus.FULFILLED:
            fulfilled[allocation.line_id] = fulfilled.get(allocation.line_id, 0) + allocation.quantity
    complete = all(fulfilled.get(line.id, 0) >= line.open_quantity for line in order.lines)
    pickup = order.delivery.method is DeliveryMethod.PICKUP_IN_STORE
    target = order.status
    if complete and all(s.status in (ShipmentStatus.DELIVERED, ShipmentStatus.PICKED_UP) for s in live):
        target = OrderStatus.PICKED_UP if pickup and all(s.status is ShipmentStatus.PICKED_UP for s in live) else OrderStatus.DELIVERED
    elif any(s.status in SHIPPED_STATES for s in live):
        target = OrderStatus.SHIPPED if complete else OrderStatus.PARTIALLY_SHIPPED
    elif any(s.status in CONSUMED_STATES for s in live):
        target = OrderStatus.PARTIALLY_SHIPPED  # some units handed over at the store, more to come
    elif not _nothing_backordered(order):
        target = status_from_allocations(order)  # waiting for stock: the backorder machinery fills it
    elif pickup and not _open_outside(order, live) and all(s.status is ShipmentStatus.READY_FOR_PICKUP for s in live):
        target = OrderStatus.READY_FOR_PICKUP
    elif any(s.status is not ShipmentStatus.PENDING for s in live):
        target = OrderStatus.IN_FULFILLMENT
    if target == order.status or target in ORDER_TRANSITIONS[order.status]:
        return target
    return order.status


def _open_outside(order: Order, shipments: list[Shipment]) -> bool:
    inside = set().union(*(s.allocation_ids for s in shipments))
    return any(a.id not in inside for a in order.open_allocations)


def _nothing_backordered(order: Order) -> bool:
    return all(order.backordered_quantity(line.id) == 0 for line in order.lines)

