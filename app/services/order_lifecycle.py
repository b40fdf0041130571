"""Holds, hold releases, cancellation and the release of scheduled orders: one transaction each."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from app.domain.clock import utcnow
from app.domain.errors import Forbidden, NotFound, Validator
from app.domain.events import Actor, DomainEvent
from app.domain.inventory import MAX_REASON_LENGTH
from app.domain.orders import (
    EDITABLE_STATUSES,
    IllegalTransition,
    Order,
    OrderStatus,
    allocation_payload,
    cancel,
    order_event,
    place_hold,
    release_hold,
    settled_status,
    status_changed,
    with_status,
)
from app.domain.principals import Principal, Role, actor_of
from app.repositories.database import Mongo, Session
from app.repositories.orders import OrderRepository
from app.services.backorders import BackorderService
from app.services.case_actions import CaseActions
from app.services.reservations import OrderWriter

# Decides the next version of an order and the events that say why; raises a DomainError to refuse.
Change = Callable[[Order, datetime], tuple[Order, list[DomainEvent]]]


def check_reason(reason: str | None, *, required: bool) -> str | None:
    text = (reason or "").strip()
    check = Validator()
    if required:
        check.check(bool(text), "a reason is required", "reason")
    check.check(len(text) <= MAX_REASON_LENGTH, f"reason is at most {MAX_REASON_LENGTH} characters", "reason")
    check.raise_if_any()
    return text or None


def require_order_access(principal: Principal, order: Order | None, roles: tuple[Role, ...]) -> Order:
    """The order if the caller may change it; NotFound when they may not even see it (no existence leak)."""
    if order is None or not principal.can_see_order(
        customer_id=order.customer_id, channel_id=order.channel_id, location_ids=order.location_ids
    ):
        raise NotFound("no such order", field=("orderId",))
    if principal.role not in roles:
        raise Forbidden(f"role {principal.role} may not do this to an order", field=("orderId",))
    return order


class OrderLifecycleService:
    def __init__(self, *, mongo: Mongo, orders: OrderRepository, writer: OrderWriter, backorders: BackorderService):
        self._mongo = mongo
        self._orders = orders
        self._writer = writer
        self._backorders = backorders
        # Records actions taken from a customer service case (app/services/case_actions.py); set by the container.
        self.case_actions: CaseActions | None = None

    async def hold(self, principal: Principal, order_id: str, reason: str | None, *, case_id: str | None = None) -> Order:
        text = check_reason(reason, required=True)
        assert text is not None
        actor = actor_of(principal)

        def change(order: Order, at: datetime) -> tuple[Order, list[DomainEvent]]:
            held = place_hold(order, text, actor, at)
            events = [order_event(held, "OrderHeld", actor, at, {"from": order.status.value}, text)]
            return held, events + status_changed(order.status, held, actor, at, text)

        return await self._change(principal, order_id, change, roles=(Role.ADMIN, Role.CSR), reason=text, case=(case_id, "holdOrder"))

    async def release_hold(self, principal: Principal, order_id: str, reason: str | None, *, case_id: str | None = None) -> Order:
        text = check_reason(reason, required=False)
        actor = actor_of(principal)

        def change(order: Order, at: datetime) -> tuple[Order, list[DomainEvent]]:
            released = release_hold(order, at)
            held_for = order.hold.reason if order.hold else None
            events = [order_event(released, "OrderHoldReleased", actor, at, {"to": released.status.value, "heldFor": held_for}, text)]
            return released, events + status_changed(order.status, released, actor, at, text)

        return await self._change(
            principal, order_id, change, roles=(Role.ADMIN, Role.CSR), reason=text, case=(case_id, "releaseOrderHold")
        )

    async def cancel(self, principal: Principal, order_id: str, reason: str | None, *, case_id: str | None = None) -> Order:
        """Cancels and gives back every reservation; the freed stock goes to backorders in the same transaction."""
        text = check_reason(reason, required=True)
        change = _cancellation(principal, text)
        return await self._change(principal, order_id, change, roles=CANCELLERS, reason=text, refill=True, case=(case_id, "cancelOrder"))

    async def cancel_in(self, session: Session, principal: Principal, order_id: str, reason: str) -> Order:
        """`cancel` inside the caller's transaction (the replacement order of a withdrawn exchange)."""
        change = _cancellation(principal, reason)
        return await self._work(session, principal, order_id, change, roles=CANCELLERS, reason=reason, refill=True)

    async def release_scheduled(self, order_id: str, *, actor: Actor) -> Order | None:
        """The scheduler's move: SCHEDULED → ALLOCATED / PARTIALLY_ALLOCATED / BACKORDERED once due.

        Guarded by status and version, so two instances racing for one order release it once;
        the loser sees it no longer SCHEDULED and does nothing.
        """

        async def work(session: Session) -> Order | None:
            order = await self._orders.by_id(order_id, session=session)
            at = utcnow()
            if order is None or order.status is not OrderStatus.SCHEDULED or settled_status(order, at) is OrderStatus.SCHEDULED:
                return None
            released = with_status(order, settled_status(order, at), at)
            reason = "release date reached"
            events = [order_event(released, "OrderReleased", actor, at, {"releaseAt": order.release_at.isoformat() if order.release_at else None}, reason)]
            events += status_changed(order.status, released, actor, at, reason)
            return await self._writer.write(session, order, released, events, actor=actor, at=at, reason=reason)

        return await self._mongo.transaction(work)

    async def _change(
        self,
        principal: Principal,
        order_id: str,
        change: Change,
        *,
        roles: tuple[Role, ...],
        reason: str | None,
        refill: bool = False,
        case: tuple[str | None, str] = (None, ""),
    ) -> Order:
        return await self._mongo.transaction(
            lambda session: self._work(session, principal, order_id, change, roles=roles, reason=reason, refill=refill, case=case)
        )

    async def _work(
        self,
        session: Session,
        principal: Principal,
        order_id: str,
        change: Change,
        *,
        roles: tuple[Role, ...],
        reason: str | None,
        refill: bool,
        case: tuple[str | None, str] = (None, ""),
    ) -> Order:
        actor = actor_of(principal)
        case_id, action = case
        before = require_order_access(principal, await self._orders.by_id(order_id, session=session), roles)
        at = utcnow()
        after, events = change(before, at)
        if case_id is not None and self.case_actions is not None:
            summary = f"{action}: {reason}" if reason else action
            events = [*events, *await self.case_actions.record(session, principal, case_id, after, action=action, summary=summary, at=at)]
        stored = await self._writer.write(session, before, after, events, actor=actor, at=at, reason=reason)
        if refill:
            freed = sorted({(a.sku, a.location_id) for a in before.open_allocations})
            if freed:
                await self._backorders.fill(session, freed, actor=actor, at=at, skip=frozenset({order_id}))
        return stored


CANCELLERS = (Role.ADMIN, Role.CSR, Role.CHANNEL, Role.CUSTOMER)


def _cancellation(principal: Principal, reason: str) -> Change:
    actor = actor_of(principal)

    def change(order: Order, at: datetime) -> tuple[Order, list[DomainEvent]]:
        if principal.role is Role.CUSTOMER and order.status not in EDITABLE_STATUSES:
            raise IllegalTransition(f"an order that is {order.status} can no longer be cancelled online; contact us", field=("orderId",))
        cancelled = cancel(order, at)
        # The same allocations, as they are now: RELEASED.
        open_ids = {a.id for a in order.open_allocations}
        released = [a for a in cancelled.allocations if a.id in open_ids]
        payload = {"from": order.status.value, "released": allocation_payload(released)}
        events = [order_event(cancelled, "OrderCancelled", actor, at, payload, reason)]
        return cancelled, events + status_changed(order.status, cancelled, actor, at, reason)

    return change
