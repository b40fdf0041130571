"""requestReturn and the return's other steps: authorize, reject, cancel, close, refunded.

`request` checks everything it can outside a transaction (role, shape, the order, the per-line rules,
the store), buys a MAIL label outside it too (remote call; idempotent on the order and client key),
then one transaction re-reads the order's returns, re-checks the rules against them, and stores the
return with its events. The order's n-th return takes sequence n, unique per order, so two
concurrent requests cannot both take the same units: the later one collides, re-reads and re-checks.
A replay under the same client key returns the stored return; different content is refused.
At a store counter (staff or an admin at an IN_STORE store) the return is received, and inspected
when every line has a disposition, in the same transaction.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from datetime import datetime

from app.domain.clock import utcnow
from app.domain.errors import Conflict, Forbidden, NotFound, Validator
from app.domain.events import Actor, DomainEvent
from app.domain.ids import new_id
from app.domain.locations import Location
from app.domain.orders import Order
from app.domain.principals import Principal, Role, actor_of
from app.domain.return_rules import DeliveredUnits, check_returnable, delivered_units, new_return, request_hash, validate_request
from app.domain.return_routing import in_store_routing
from app.domain.returns import (
    ClientKeyTaken,
    DuplicateClientKey,
    ReceivedLine,
    Return,
    ReturnMethod,
    ReturnNotAccepted,
    ReturnPolicy,
    ReturnRequest,
    ReturnStatus,
    bump,
    lines_payload,
    return_event,
    status_changed,
    transition,
    with_status,
)
from app.domain.shipments import Label
from app.repositories.database import Mongo, Session
from app.repositories.events import EventRepository
from app.repositories.orders import OrderRepository
from app.repositories.refunds import RefundRepository
from app.repositories.returns import ReturnRepository, routing_to_doc
from app.repositories.shipments import ShipmentRepository
from app.services.case_actions import CaseActions
from app.services.contention import KeyedLocks
from app.services.return_labels import PreparedLabel, ReturnLabels, label_key
from app.services.return_policies import ReturnPolicyService
from app.services.return_queries import can_see_return
from app.services.return_receiving import ReturnReceiving

# Decides the next version of a return; raises a DomainError to refuse.
_Change = Callable[[Return, datetime], Return]

MAX_ATTEMPTS = 8
_BACKOFF_SECONDS = 0.005
MAX_REASON = 500
# Who may start a return, and how: store staff only at their counter; warehouses receive, never request.
REQUESTERS = (Role.ADMIN, Role.CSR, Role.CUSTOMER, Role.CHANNEL, Role.STORE_STAFF)


@dataclass(frozen=True, slots=True)
class Requested:
    ret: Return
    replayed: bool  # True: this client key was used before with the same request


def _reason(text: str | None, *, required: bool) -> str | None:
    value = (text or "").strip()
    check = Validator()
    if required:
        check.check(bool(value), "a reason is required", "reason")
    check.check(len(value) <= MAX_REASON, f"reason is at most {MAX_REASON} characters", "reason")
    check.raise_if_any()
    return value or None


class ReturnService:
    def __init__(
        self,
        *,
        mongo: Mongo,
        returns: ReturnRepository,
        orders: OrderRepository,
        shipments: ShipmentRepository,
        policies: ReturnPolicyService,
        labels: ReturnLabels,
        receiving: ReturnReceiving,
        events: EventRepository,
        queue: KeyedLocks,
        refunds: RefundRepository,
    ):
        self._mongo = mongo
        self._refunds = refunds
        self._returns = returns
        self._orders = orders
        self._shipments = shipments
        self._policies = policies
        self._labels = labels
        self._receiving = receiving
        self._events = events
        self._queue = queue

    # --- plugged in by the exchanges area (app/services/exchanges.py) -----------------------------------

    # Set by the container: inside the transaction that cancels or rejects a return, ends what waited
    # for its goods (a PENDING exchange) and gives back the events to append with the return's.
    on_ended: Callable[[Session, Return, Actor, datetime, str | None], Awaitable[list[DomainEvent]]] | None = None
    # Set by the container: records a return requested from a customer service case (app/services/case_actions.py).
    case_actions: CaseActions | None = None

    # --- requestReturn -----------------------------------------------------------------------------

    async def request(self, principal: Principal, request: ReturnRequest, *, case_id: str | None = None) -> Requested:
        request = replace(request, client_key=request.client_key.strip())
        if principal.role not in REQUESTERS:
            raise Forbidden(f"role {principal.role} may not start returns")
        if principal.role is Role.STORE_STAFF and request.method is not ReturnMethod.IN_STORE:
            raise Forbidden("store staff take returns at their counter (IN_STORE)", field=("method",))
        validate_request(request).raise_if_any()
        order = await self._order_for(principal, request.order_id)
        store = await self._store(principal, request)
        at_counter = store is not None and principal.role in (Role.ADMIN, Role.STORE_STAFF)
        digest = request_hash(request)
        stored = await self._returns.by_client_key(order.id, request.client_key)
        if stored is not None:
            return self._replay(principal, stored, digest)
        policy = (await self._policies.policy_for(order.channel_id)).policy
        shipments = (await self._shipments.for_orders([order.id]))[order.id]
        delivered = delivered_units(order, shipments)
        existing = (await self._returns.for_orders([order.id]))[order.id]
        check_returnable(order, request, delivered, existing, policy, utcnow())
        waits_for_approval = policy.approval_required and principal.role in (Role.CUSTOMER, Role.CHANNEL)
        prepared = None
        if request.method is ReturnMethod.MAIL and not waits_for_approval:
            lines = [(self._sku(order, item.order_line_id), item.quantity) for item in request.lines]
            prepared = await self._labels.prepare(order, lines, policy, key=label_key(order.id, request.client_key))
        actor = actor_of(principal)
        skus = {self._sku(order, item.order_line_id) for item in request.lines} if at_counter else set()
        try:
            for attempt in range(MAX_ATTEMPTS):
                try:
                    async with self._queue.hold(skus):
                        ret, replayed = await self._mongo.transaction(
                            lambda session: self._request_in(
                                session, principal, actor, request, order, policy, digest, delivered,
                                prepared=prepared, store=store if at_counter else None,
                                planned_store=None if at_counter else store, waits=waits_for_approval, case_id=case_id,
                            )
                        )
                except ClientKeyTaken:
                    await asyncio.sleep(random.uniform(0, _BACKOFF_SECONDS * 2**attempt))  # noqa: S311
                    continue
                if replayed:
                    return self._replay(principal, ret, digest)
                if ret.status in (ReturnStatus.RECEIVED, ReturnStatus.INSPECTED):  # received at the counter
                    await self._receiving.arrived(principal, ret.id)
                return Requested(ret=ret, replayed=False)
            raise Conflict("the return could not be stored under contention; retry it (it is idempotent)")
        except Exception:  # a cancelled request leaves its label: voiding needs the database
            if prepared is not None:
                await self._void_unless_stored(prepared.label)
            raise

    async def _request_in(
        self,
        session: Session,
        principal: Principal,
        actor: Actor,
        request: ReturnRequest,
        order: Order,
        policy: ReturnPolicy,
        digest: str,
        delivered: list[DeliveredUnits],
        *,
        prepared: PreparedLabel | None,
        store: Location | None,
        planned_store: Location | None,
        waits: bool,
        case_id: str | None = None,
    ) -> tuple[Return, bool]:
        stored = await self._returns.by_client_key(order.id, request.client_key, session=session)
        if stored is not None:
            return stored, True
        at = utcnow()
        existing = (await self._returns.for_orders([order.id], session=session))[order.id]
        check_returnable(order, request, delivered, existing, policy, at)
        sequence = max((r.sequence for r in existing), default=0) + 1
        ret = new_return(request, order, return_id=new_id(), sequence=sequence, requested_by=principal.subject, digest=digest, at=at)
        known = store or planned_store
        if known is not None:  # IN_STORE: every event, the request's too, carries the store (location subscribers see it)
            ret = replace(ret, location_id=known.id, routing=in_store_routing(known, planned=store is None))
        events = [return_event(ret, "ReturnRequested", actor, at, {"clientKey": ret.client_key, "lines": lines_payload(ret)})]
        if not waits:
            before = ret
            ret = self._authorized(ret, at, prepared=prepared, store=store or planned_store, policy=policy, planned=store is None)
            events.append(status_changed(before, ret, actor, at, details=_details(ret)))
        if store is not None:
            before = ret
            ret = self._receiving.arrive(ret, store, at)
            events.append(status_changed(before, ret, actor, at))
            counter = [
                ReceivedLine(return_line_id=line.id, quantity=line.quantity, disposition=item.disposition, note=item.disposition_note)
                for line, item in zip(ret.lines, request.lines)
            ]
            if all(item.disposition is not None or not policy.needs_inspection(item.reason) for item in request.lines):
                ret, more, _ = await self._receiving.inspect_in(session, ret, counter, policy, store, actor, at)
                events += more
        if case_id is not None and self.case_actions is not None:
            events += await self.case_actions.record(
                session, principal, case_id, order, action="requestReturn", summary=f"requestReturn: {ret.number}", at=at, return_id=ret.id
            )
        await self._returns.insert(ret, session=session)
        await self._events.append(events, session=session)
        return ret, False

    # --- staff decisions ---------------------------------------------------------------------------

    async def authorize(self, principal: Principal, return_id: str, reason: str | None = None) -> Return:
        """ADMIN, CSR: a REQUESTED return (its channel wants approval) may go back; MAIL gets its label now."""
        text = _reason(reason, required=False)
        ret = await self._staff_decision(principal, return_id)
        transition(ret.status, ReturnStatus.AUTHORIZED)  # before buying a label for nothing
        policy = (await self._policies.policy_for(ret.channel_id)).policy
        prepared = None
        if ret.method is ReturnMethod.MAIL:
            order = await self._orders.by_id(ret.order_id)
            if order is None:
                raise NotFound("the return's order no longer exists", field=("returnId",))
            lines = [(line.sku, line.quantity) for line in ret.lines]
            prepared = await self._labels.prepare(order, lines, policy, key=label_key(ret.order_id, ret.client_key))

        def change(current: Return, at: datetime) -> Return:
            return self._authorized(current, at, prepared=prepared, store=None, policy=policy)

        try:
            return await self._change(principal, ret, change, reason=text)
        except Exception:  # a cancelled request leaves its label: voiding needs the database
            if prepared is not None:
                await self._void_unless_stored(prepared.label)
            raise

    async def reject(self, principal: Principal, return_id: str, reason: str | None) -> Return:
        """ADMIN, CSR: refuse a REQUESTED return, with a reason the shopper is told."""
        text = _reason(reason, required=True)
        ret = await self._staff_decision(principal, return_id)
        return await self._change(principal, ret, lambda current, at: with_status(current, ReturnStatus.REJECTED, at, reason=text), reason=text)

    async def close(self, principal: Principal, return_id: str, reason: str | None) -> Return:
        """ADMIN, CSR: an INSPECTED return is done without (further) refund."""
        text = _reason(reason, required=True)
        ret = await self._staff_decision(principal, return_id)
        return await self._change(principal, ret, lambda current, at: with_status(current, ReturnStatus.CLOSED, at, reason=text), reason=text)

    async def cancel(self, principal: Principal, return_id: str, reason: str | None) -> Return:
        """Withdraw a return before anything was sent or brought: ADMIN, CSR, its customer and its channel.
        A MAIL label is voided after the cancellation commits."""
        text = _reason(reason, required=False)
        ret = await self._returns.get(return_id)
        if ret is None or not can_see_return(principal, ret):
            raise NotFound("no such return", field=("returnId",))
        if principal.role not in (Role.ADMIN, Role.CSR, Role.CUSTOMER, Role.CHANNEL):
            raise Forbidden(f"role {principal.role} may not cancel returns", field=("returnId",))
        cancelled = await self._change(
            principal, ret, lambda current, at: with_status(current, ReturnStatus.CANCELLED, at, reason=text), reason=text
        )
        if cancelled.label is not None:
            await self._labels.void(cancelled.label)
        return cancelled

    # --- for the refunds area ----------------------------------------------------------------------

    async def hold_for_refund(self, session: Session, ret: Return, at: datetime) -> bool:
        """Inside the transaction that records a refund PENDING: writes the return (a version bump) so
        a concurrent close or cancel conflicts with it. False: the return moved since it was read."""
        return await self._returns.replace(bump(ret, at), expected_version=ret.version, session=session)

    async def mark_refunded(self, session: Session, return_id: str, *, refund_id: str, actor: Actor, at: datetime) -> Return:
        """INSPECTED → REFUNDED inside the refund's own transaction (guarded on the version read in it),
        with its ReturnStatusChanged event. ILLEGAL_TRANSITION from any other status."""
        current = await self._returns.get(return_id, session=session)
        if current is None:
            raise NotFound("no such return", field=("returnId",))
        after = bump(replace(with_status(current, ReturnStatus.REFUNDED, at), refund_id=refund_id), at)
        if not await self._returns.replace(after, expected_version=current.version, session=session):
            raise Conflict(f"return {current.number} changed meanwhile; try again", field=("returnId",))
        await self._events.append([status_changed(current, after, actor, at, details={"refundId": refund_id})], session=session)
        return after

    # --- helpers -----------------------------------------------------------------------------------

    async def _change(self, principal: Principal, read: Return, change: _Change, *, reason: str | None) -> Return:
        actor = actor_of(principal)

        async def work(session: Session) -> Return:
            at = utcnow()
            current = await self._returns.get(read.id, session=session)
            if current is None:
                raise NotFound("no such return", field=("returnId",))
            after = bump(change(current, at), at)
            # A refund being issued holds its return (it wrote the return in its first transaction,
            # so a concurrent change collides there and comes back here to be refused).
            if await self._refunds.refunded_return(current.id, session=session):
                raise Conflict(f"a refund of return {current.number} is being issued; it ends the return", field=("returnId",))
            if not await self._returns.replace(after, expected_version=current.version, session=session):
                raise Conflict(f"return {current.number} changed meanwhile; try again", field=("returnId",))
            details = _details(after) if after.status is ReturnStatus.AUTHORIZED else None
            events = [status_changed(current, after, actor, at, reason, details=details)]
            if after.status in (ReturnStatus.CANCELLED, ReturnStatus.REJECTED) and self.on_ended is not None:
                events += await self.on_ended(session, after, actor, at, reason)
            await self._events.append(events, session=session)
            return after

        return await self._mongo.transaction(work)

    @staticmethod
    def _authorized(
        ret: Return, at: datetime, *, prepared: PreparedLabel | None, store: Location | None, policy: ReturnPolicy, planned: bool = False
    ) -> Return:
        authorized = with_status(ret, ReturnStatus.AUTHORIZED, at)
        if prepared is not None:
            return replace(
                authorized,
                location_id=prepared.routing.location_id,
                routing=prepared.routing,
                label=prepared.label,
                label_paid_by=policy.return_shipping_paid_by,
            )
        if store is not None:
            return replace(authorized, location_id=store.id, routing=in_store_routing(store, planned=planned))
        return authorized

    async def _staff_decision(self, principal: Principal, return_id: str) -> Return:
        ret = await self._returns.get(return_id)
        if ret is None or not can_see_return(principal, ret):
            raise NotFound("no such return", field=("returnId",))
        if principal.role not in (Role.ADMIN, Role.CSR):
            raise Forbidden("customer service decides on returns", field=("returnId",))
        return ret

    async def _order_for(self, principal: Principal, order_id: str) -> Order:
        """The order, if the caller may return from it. Store staff take any order's return at their
        counter (the shopper brings the receipt); everyone else only orders they can see."""
        order = await self._orders.by_id(order_id)
        if order is None:
            raise NotFound("no such order", field=("orderId",))
        if principal.role is Role.STORE_STAFF:
            return order
        if not principal.can_see_order(customer_id=order.customer_id, channel_id=order.channel_id, location_ids=order.location_ids):
            raise NotFound("no such order", field=("orderId",))
        return order

    async def _store(self, principal: Principal, request: ReturnRequest) -> Location | None:
        """The store of an IN_STORE return: required for staff (their counter), optional for others."""
        if request.method is not ReturnMethod.IN_STORE:
            if request.location_id is not None:
                raise Conflict("a MAIL return's location is chosen by return routing", field=("location",))
            return None
        wanted = request.location_id
        if principal.role is Role.STORE_STAFF:
            wanted = wanted or (next(iter(principal.location_ids)) if len(principal.location_ids) == 1 else None)
            if wanted is None:
                raise Forbidden("say at which of your stores the return is taken", field=("location",))
            principal.require_location(wanted)
        if wanted is None:
            return None
        location = await self._labels.receiving_location(wanted)
        if location is None:
            raise NotFound(f"unknown location {wanted}", field=("location",))
        if not (location.active and location.capabilities.accepts_returns):
            raise ReturnNotAccepted(f"{wanted} does not take returns", field=("location",))
        return location

    def _replay(self, principal: Principal, stored: Return, digest: str) -> Requested:
        # A replay shows the stored return, so it must be the caller's to see.
        if stored.input_hash != digest or not (can_see_return(principal, stored) or stored.requested_by == principal.subject):
            raise DuplicateClientKey(
                f"a different return was requested under client key {stored.client_key} for this order", field=("clientKey",)
            )
        return Requested(ret=stored, replayed=True)

    async def _void_unless_stored(self, label: Label) -> None:
        """The same key buys the same label: never void one a stored return carries."""
        if await self._returns.by_tracking_number(label.tracking_number) is None:
            await self._labels.void(label)

    @staticmethod
    def _sku(order: Order, line_id: str) -> str:
        line = order.line(line_id)
        assert line is not None, "checked by check_returnable"
        return line.sku


def _details(ret: Return) -> dict[str, object]:
    """What an authorization decided, for its event: where the goods go and how."""
    return {
        "locationId": ret.location_id,
        "routing": routing_to_doc(ret.routing) if ret.routing else None,
        "trackingNumber": ret.tracking_number,
        "carrier": ret.label.carrier if ret.label else None,
    }
