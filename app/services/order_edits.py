"""editOrder: a CSR changes the address, quantities or lines before fulfilment starts.

One transaction: the order's new lines and allocations, the reservation changes they imply (through
OrderWriter), an OrderEdited event with actor, reason and what changed, and backorders of other
orders filled from any stock the edit gave back.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import replace
from datetime import datetime
from typing import Any

from app.domain.channels import BackorderPolicy
from app.domain.clock import utcnow
from app.domain.events import DomainEvent
from app.domain.inventory import InsufficientStock
from app.domain.order_capture import PickupUnavailable
from app.domain.geocoding import Geocoded
from app.domain.order_edits import (
    OrderEdit,
    check_editable,
    edit_summary,
    edited_lines,
    edited_ship_point,
    fit_allocations,
    retotal,
    validate_edit,
)
from app.domain.orders import (
    ALLOCATION_STATES,
    Allocation,
    AllocationStatus,
    DeliveryMethod,
    Order,
    OrderStatus,
    order_event,
    settled_status,
    status_changed,
    with_status,
)
from app.domain.principals import Principal, Role, actor_of
from app.domain.products import Product
from app.repositories.channels import ChannelRepository
from app.repositories.database import Mongo, Session
from app.repositories.locations import LocationRepository
from app.repositories.orders import OrderRepository
from app.repositories.products import ProductRepository
from app.services.backorders import BackorderService
from app.services.geocoding import Geocoder
from app.services.order_lifecycle import check_reason, require_order_access
from app.services.order_routing import LineNeed, OrderRouting, Placement, scheduled_release
from app.services.case_actions import CaseActions
from app.services.reservations import OrderWriter


class OrderEditService:
    def __init__(
        self,
        *,
        mongo: Mongo,
        orders: OrderRepository,
        products: ProductRepository,
        channels: ChannelRepository,
        locations: LocationRepository,
        routing: OrderRouting,
        writer: OrderWriter,
        backorders: BackorderService,
        geocoder: Geocoder,
    ):
        self._mongo = mongo
        self._orders = orders
        self._products = products
        self._channels = channels
        self._locations = locations
        self._routing = routing
        self._writer = writer
        self._backorders = backorders
        self._geocoder = geocoder
        # Records edits made from a customer service case (app/services/case_actions.py); set by the container.
        self.case_actions: CaseActions | None = None

    async def edit(self, principal: Principal, order_id: str, edit: OrderEdit, *, case_id: str | None = None) -> Order:
        reason = check_reason(edit.reason, required=True)
        assert reason is not None
        skus = sorted({line.sku.strip() for line in edit.add_lines})[:100]
        products = {p.sku: p for p in await self._products.by_skus(skus)} if skus else {}
        # Before the transaction: the point depends on the new address alone.
        located = await self._geocoder.locate_async(edit.address) if edit.needs_geocoding and edit.address else None
        actor = actor_of(principal)

        async def work(session: Session) -> Order:
            before = require_order_access(principal, await self._orders.by_id(order_id, session=session), (Role.ADMIN, Role.CSR))
            check_editable(before)
            validate_edit(before, edit, products, located).raise_if_any()
            at = utcnow()
            after, planned = await self._edited(session, before, edit, products, at, located)
            summary = edit_summary(before, after, edit)
            if planned is not None:
                summary["routing"] = planned  # why the added or moved units went where they did
            events: list[DomainEvent] = [order_event(after, "OrderEdited", actor, at, summary, reason)]
            if after.status is OrderStatus.CANCELLED:
                events.append(order_event(after, "OrderCancelled", actor, at, {"from": before.status.value}, reason))
            events += status_changed(before.status, after, actor, at, reason)
            if case_id is not None and self.case_actions is not None:
                events += await self.case_actions.record(session, principal, case_id, after, action="editOrder", summary=f"editOrder: {reason}", at=at)
            stored = await self._writer.write(session, before, after, events, actor=actor, at=at, reason=reason)
            freed = sorted(
                {(a.sku, a.location_id) for a in before.open_allocations if _held(stored, a.sku, a.location_id) < _held(before, a.sku, a.location_id)}
            )
            if freed:
                await self._backorders.fill(session, freed, actor=actor, at=at, skip=frozenset({order_id}))
            return stored

        return await self._mongo.transaction(work)

    async def _edited(
        self,
        session: Session,
        before: Order,
        edit: OrderEdit,
        products: dict[str, Product],
        at: datetime,
        located: Geocoded | None,
    ) -> tuple[Order, dict[str, Any] | None]:
        """The edited order, and the explanation of any planning the edit needed."""
        lines = edited_lines(before, edit, products)
        allocations = fit_allocations(before.allocations, lines)
        delivery = before.delivery
        routing = before.routing
        if edit.changes_address and (ship_to := edited_ship_point(edit, located)) is not None:
            delivery = replace(delivery, address=edit.address, point=ship_to.point, point_source=ship_to.source)
        draft = replace(before, lines=lines, allocations=allocations, delivery=delivery, totals=retotal(before, lines))
        if edit.changes_address:
            draft, placement = await self._reroute(session, draft)
            routing = placement.explanation
        else:
            draft, placement = await self._place_backorders(session, draft)
        await self._refuse_if_short(before, draft, placement)
        release_at = draft.release_at
        if before.delivery.requested_date and (edit.changes_address or edit.changes_lines):
            release_at = await scheduled_release(self._locations, draft, at)
        draft = replace(draft, routing=routing, release_at=release_at)
        return with_status(draft, _status_after_edit(before, draft, at), at), placement.explanation if placement else None

    async def _reroute(self, session: Session, draft: Order) -> tuple[Order, Placement]:
        """Plans every open unit again for the new address, counting this order's own reservations as
        available. Unchanged placements keep their allocations (no churn); changed ones move."""
        held = [a for a in draft.allocations if a.status is AllocationStatus.OPEN]
        credit = Counter[tuple[str, str]]()
        for a in held:
            credit[(a.sku, a.location_id)] += a.quantity
        needs = [
            LineNeed(line_id=line.id, sku=line.sku, quantity=line.open_quantity - _fulfilled(draft, line.id))
            for line in draft.lines
            if line.open_quantity - _fulfilled(draft, line.id) > 0
        ]
        placement = await self._routing.place(
            channel_id=draft.channel_id, delivery=draft.delivery, needs=needs, session=session, credit=dict(credit)
        )

        def shape(allocations: Iterable[Allocation]) -> Counter[tuple[str, str, str]]:
            counts = Counter[tuple[str, str, str]]()
            for a in allocations:
                counts[(a.line_id, a.sku, a.location_id)] += a.quantity
            return counts

        if shape(held) == shape(placement.allocations):
            return draft, placement
        kept = tuple(a if a.status is not AllocationStatus.OPEN else replace(a, status=AllocationStatus.RELEASED) for a in draft.allocations)
        return replace(draft, allocations=kept + placement.allocations), placement

    async def _place_backorders(self, session: Session, draft: Order) -> tuple[Order, Placement | None]:
        needs = [
            LineNeed(line_id=line.id, sku=line.sku, quantity=draft.backordered_quantity(line.id))
            for line in draft.lines
            if draft.backordered_quantity(line.id) > 0
        ]
        if not needs:
            return draft, None
        placement = await self._routing.place(channel_id=draft.channel_id, delivery=draft.delivery, needs=needs, session=session)
        return replace(draft, allocations=draft.allocations + placement.allocations), placement

    async def _refuse_if_short(self, before: Order, draft: Order, placement: Placement | None) -> None:
        """Added or raised quantity the network cannot fill: refused for pick-ups and REFUSE channels."""
        short = [line for line in draft.lines if draft.backordered_quantity(line.id) > before_backordered(before, line.id)]
        if not short:
            return
        if draft.delivery.method is DeliveryMethod.PICKUP_IN_STORE:
            raise PickupUnavailable(
                f"{draft.delivery.pickup_location_id} cannot hand over the edited order",
                placement.pickup_alternatives if placement else (),
                field=("delivery", "pickupLocation"),
            )
        channels = await self._channels.by_ids([draft.channel_id])
        if channels and channels[0].backorder_policy is BackorderPolicy.REFUSE:
            raise InsufficientStock(
                f"not enough stock for line {short[0].id} and channel {draft.channel_id} does not take backorders",
                field=("lines",),
            )


def before_backordered(order: Order, line_id: str) -> int:
    return order.backordered_quantity(line_id) if order.line(line_id) else 0


def _fulfilled(order: Order, line_id: str) -> int:
    return sum(a.quantity for a in order.allocations if a.line_id == line_id and a.status is AllocationStatus.FULFILLED)


def _held(order: Order, sku: str, location_id: str) -> int:
    return sum(a.quantity for a in order.open_allocations if a.sku == sku and a.location_id == location_id)


def _status_after_edit(before: Order, draft: Order, at: datetime) -> OrderStatus:
    if all(line.open_quantity == 0 for line in draft.lines):
        return OrderStatus.CANCELLED
    if before.status in ALLOCATION_STATES or before.status is OrderStatus.SCHEDULED:
        return settled_status(draft, at)
    return before.status  # ON_HOLD stays held
