"""Fulfilment: shipments kept in step with orders, and the warehouse work flow (pick, pack, hand over).

Every use case runs in one transaction: shipment, order, inventory and their events change together.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TypeVar

from app.domain.channels import Channel
from app.domain.clock import utcnow
from app.domain.errors import Conflict, NotFound, Validator
from app.domain.events import Actor, DomainEvent
from app.domain.fulfilment import plan_sync, shipping_policy_for
from app.domain.ids import new_id
from app.domain.locations import Location
from app.domain.orders import Order
from app.domain.picking import MAX_WAVE
from app.domain.products import Product
from app.domain.principals import Principal
from app.domain.shipments import (
    FulfilmentMethod,
    IllegalShipmentTransition,
    Package,
    Shipment,
    ShipmentStatus,
    transition,
)
from app.repositories.database import Session
from app.services import fulfilment_events as ev
from app.services.fulfilment_unit import FulfilmentRepos, Unit
from app.services.shipments import can_see_shipment
from app.services.short_picks import ShortPickHandler

T = TypeVar("T")

MAX_PACKAGES = 20
MAX_PACKAGE_GRAMS = 68_000  # 150 lb, the parcel carriers' limit
MAX_SIDE_CM = 274.0  # 108 in


@dataclass(frozen=True, slots=True)
class PickedLine:
    line_id: str  # the shipment line's id (its allocation id)
    picked_quantity: int


@dataclass(frozen=True, slots=True)
class PackageInput:
    weight_grams: int
    length_cm: float
    width_cm: float
    height_cm: float


@dataclass(frozen=True, slots=True)
class ShipmentReferences:
    """Reference data a caller of `write_shipments` has read already: products by SKU, locations by
    id, the order's channel. Capture has all of it (validation and routing read it)."""

    products: Mapping[str, Product] = field(default_factory=dict)
    locations: Mapping[str, Location] = field(default_factory=dict)
    channel: Channel | None = None


async def _by_key(
    known: Mapping[str, T], keys: list[str], read: Callable[[list[str]], Awaitable[list[T]]], key: Callable[[T], str]
) -> dict[str, T]:
    """`keys` found in `known`, the rest read (one read, only when some are missing)."""
    found = {k: known[k] for k in keys if k in known}
    missing = [k for k in keys if k not in found]
    if missing:
        found |= {key(item): item for item in await read(missing)}
    return found


class FulfilmentService:
    def __init__(self, *, repos: FulfilmentRepos, short_picks: ShortPickHandler):
        self._repos = repos
        self._mongo = repos.mongo
        self._shipments = repos.shipments
        self._products = repos.products
        self._locations = repos.locations
        self._channels = repos.channels
        self._events = repos.events
        self._short_picks = short_picks

    # --- the integration contract ------------------------------------------------------------------

    async def sync_shipments(
        self,
        order: Order,
        *,
        session: Session,
        actor: Actor | None = None,
        now: datetime | None = None,
        existing: list[Shipment] | None = None,
    ) -> list[Shipment]:
        """Idempotent: makes the order's shipments match its OPEN allocations (see app.domain.fulfilment.plan_sync)
        and appends the events. Call it inside the transaction of every use case that changes an order.
        `existing`: the order's shipments when the caller already has them (a new order has none)."""
        shipments, events = await self.write_shipments(order, session=session, actor=actor, now=now, existing=existing)
        await self._events.append(events, session=session)
        return shipments

    async def write_shipments(
        self,
        order: Order,
        *,
        session: Session,
        actor: Actor | None = None,
        now: datetime | None = None,
        existing: list[Shipment] | None = None,
        known: ShipmentReferences | None = None,
    ) -> tuple[list[Shipment], list[DomainEvent]]:
        """`sync_shipments` for a caller that appends the events itself, with its other events of the
        same change in one insert. `known`: what the caller has read already (only the rest is read)."""
        at = now or utcnow()
        who = actor or Actor.system("fulfilment")
        known = known or ShipmentReferences()
        if existing is None:
            existing = (await self._shipments.for_orders([order.id], session=session))[order.id]
        skus = sorted({a.sku for a in order.allocations})
        location_ids = sorted({a.location_id for a in order.open_allocations} | {order.delivery.pickup_location_id or ""} - {""})
        products = await _by_key(known.products, skus, lambda missing: self._products.by_skus(missing, session=session), lambda p: p.sku)
        locations = await _by_key(known.locations, location_ids, lambda missing: self._locations.by_ids(missing, session=session), lambda loc: loc.id)
        channel = known.channel if known.channel is not None and known.channel.id == order.channel_id else None
        if channel is None:
            found = await self._channels.by_ids([order.channel_id], session=session)
            channel = found[0] if found else None
        plan = plan_sync(
            order,
            existing,
            products=products,
            locations=locations,
            now=at,
            new_id=new_id,
            shipping_policy=shipping_policy_for(order, channel),
        )
        events: list[DomainEvent] = []
        await self._shipments.insert_many(list(plan.created), session=session)
        for shipment in plan.created:
            events.append(
                ev.shipment_event(
                    "ShipmentCreated",
                    shipment,
                    who,
                    at,
                    {"lines": [{"lineId": ln.line_id, "sku": ln.sku, "quantity": ln.quantity} for ln in shipment.lines],
                     "held": shipment.held, "eta": shipment.eta.isoformat() if shipment.eta else None},
                )
            )
        for before, after in plan.changed:
            if not await self._shipments.replace(after, expected_version=before.version, session=session):
                raise Conflict(f"shipment {before.number} was changed concurrently; try again")
            if after.status is not before.status:
                events.append(ev.status_changed(before, after, who, at, reason="order changed"))
            else:
                events.append(
                    ev.shipment_event(
                        "ShipmentUpdated",
                        after,
                        who,
                        at,
                        {"lines": [{"lineId": ln.line_id, "sku": ln.sku, "quantity": ln.quantity} for ln in after.lines], "held": after.held},
                    )
                )
        changed = {after.id: after for _, after in plan.changed}
        return [changed.get(s.id, s) for s in existing] + list(plan.created), events

    # --- work flow ---------------------------------------------------------------------------------

    async def _load(self, principal: Principal, shipment_id: str, session: Session | None = None) -> Shipment:
        shipment = await self._shipments.get(shipment_id, session=session)
        # One the caller may not see answers like a missing one: FORBIDDEN would confirm it exists, and where.
        if shipment is None or not can_see_shipment(principal, shipment):
            raise NotFound(f"no shipment {shipment_id}", field=("shipmentId",))
        principal.require_location(shipment.location_id)
        return shipment

    @staticmethod
    def _require_released(shipment: Shipment) -> None:
        if shipment.held:
            raise IllegalShipmentTransition(
                f"shipment {shipment.number} belongs to an order that is scheduled or on hold", field=("shipmentId",)
            )

    async def start_picking(self, principal: Principal, shipment_ids: Sequence[str]) -> list[Shipment]:
        check = Validator()
        check.check(0 < len(shipment_ids) <= MAX_WAVE, f"give 1 to {MAX_WAVE} shipments", "shipmentIds")
        check.check(len(set(shipment_ids)) == len(shipment_ids), "shipments must not repeat", "shipmentIds")
        check.raise_if_any()

        async def work(session: Session) -> list[Shipment]:
            unit = Unit(self._repos, session, ev.actor_of(principal), utcnow())
            # Every shipment must be the caller's to work before any is looked at further.
            loaded = [await self._load(principal, shipment_id, session) for shipment_id in shipment_ids]
            started = []
            for before in loaded:
                self._require_released(before)
                after = dataclasses.replace(
                    before, status=transition(before.status, ShipmentStatus.PICKING), status_at=unit.now,
                    updated_at=unit.now, version=before.version + 1, extra={**before.extra, "picking_at": unit.now},
                )
                await unit.save_shipment(before, after)
                order = await unit.order(after.order_id)
                await unit.save_order(order, order)
                started.append(after)
            await unit.commit()
            return started

        return await self._mongo.transaction(work)

    async def confirm_pick(self, principal: Principal, shipment_id: str, picked: Sequence[PickedLine]) -> Shipment:
        async def work(session: Session) -> Shipment:
            unit = Unit(self._repos, session, ev.actor_of(principal), utcnow())
            before = await self._load(principal, shipment_id, session)
            self._require_released(before)
            transition(before.status, ShipmentStatus.PICKED)
            quantities = self._validate_picks(before, picked)
            order_before = await unit.order(before.order_id)
            order, lines = await self._short_picks.apply(unit, order_before, before, quantities)
            target = ShipmentStatus.PICKED if lines else ShipmentStatus.CANCELLED
            after = dataclasses.replace(
                before, lines=lines, status=target, status_at=unit.now, updated_at=unit.now,
                version=before.version + 1, extra={**before.extra, "picked_at": unit.now},
            )
            await unit.save_shipment(before, after)
            # A re-routed shortfall gets its shipment at the new location; a backordered one none yet.
            shipments = await self.sync_shipments(order, session=session, actor=unit.actor, now=unit.now)
            await unit.save_order(order_before, order, shipments=shipments)
            await unit.commit()
            return after

        return await self._mongo.transaction(work)

    @staticmethod
    def _validate_picks(shipment: Shipment, picked: Sequence[PickedLine]) -> dict[str, int]:
        check = Validator()
        by_id = {line.allocation_id: line for line in shipment.lines}
        given: dict[str, int] = {}
        for n, item in enumerate(picked):
            line = by_id.get(item.line_id)
            if line is None:
                check.add(f"shipment {shipment.number} has no line {item.line_id}", "lines", n, "lineId")
                continue
            if item.line_id in given:
                check.add("each line may be confirmed once", "lines", n, "lineId")
            check.check(0 <= item.picked_quantity <= line.quantity, f"picked quantity must be 0 to {line.quantity}", "lines", n, "pickedQuantity")
            given[item.line_id] = item.picked_quantity
        missing = [line_id for line_id in by_id if line_id not in given]
        check.check(not missing, f"confirm every line; missing: {', '.join(missing)}", "lines")
        check.raise_if_any()
        return given

    async def pack(self, principal: Principal, shipment_id: str, packages: Sequence[PackageInput]) -> Shipment:
        shipment = await self._load(principal, shipment_id)
        check = Validator()
        needs_boxes = shipment.method is FulfilmentMethod.SHIP
        check.check((0 if not needs_boxes else 1) <= len(packages) <= MAX_PACKAGES, f"give 1 to {MAX_PACKAGES} packages", "packages")
        for n, p in enumerate(packages):
            check.check(0 < p.weight_grams <= MAX_PACKAGE_GRAMS, f"weight must be 1 to {MAX_PACKAGE_GRAMS} g", "packages", n, "weightGrams")
            for name, side in (("lengthCm", p.length_cm), ("widthCm", p.width_cm), ("heightCm", p.height_cm)):
                check.check(0 < side <= MAX_SIDE_CM, f"sides must be above 0 and at most {MAX_SIDE_CM:.0f} cm", "packages", n, name)
        check.raise_if_any()

        async def work(session: Session) -> Shipment:
            unit = Unit(self._repos, session, ev.actor_of(principal), utcnow())
            before = await self._load(principal, shipment_id, session)
            self._require_released(before)
            transition(before.status, ShipmentStatus.PACKED)
            # At the pick-up store, packing is the last step before the shopper comes.
            target = ShipmentStatus.READY_FOR_PICKUP if before.method is FulfilmentMethod.PICKUP else ShipmentStatus.PACKED
            after = dataclasses.replace(
                before,
                status=target,
                packages=tuple(Package(n, p.weight_grams, p.length_cm, p.width_cm, p.height_cm) for n, p in enumerate(packages, start=1)),
                status_at=unit.now,
                updated_at=unit.now,
                version=before.version + 1,
                extra={**before.extra, "packed_at": unit.now},
            )
            await unit.save_shipment(before, after)
            order = await unit.order(after.order_id)
            await unit.save_order(order, order)
            await unit.commit()
            return after

        return await self._mongo.transaction(work)

    async def confirm_pickup(self, principal: Principal, shipment_id: str) -> Shipment:
        async def work(session: Session) -> Shipment:
            unit = Unit(self._repos, session, ev.actor_of(principal), utcnow())
            before = await self._load(principal, shipment_id, session)
            self._require_released(before)
            after = dataclasses.replace(
                before,
                status=transition(before.status, ShipmentStatus.PICKED_UP),
                status_at=unit.now,
                updated_at=unit.now,
                eta=unit.now.date(),
                version=before.version + 1,
                extra={**before.extra, "picked_up_at": unit.now},
            )
            await unit.hand_over(before, after, f"shipment {after.number} picked up")
            return after

        return await self._mongo.transaction(work)
