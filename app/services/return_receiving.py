"""receiveReturn: the receiving location records what arrived per line and what becomes of it.

One transaction: the return (guarded on its version) moves to RECEIVED (if the dock or the counter
had not already) and INSPECTED, and every line's units go through the inventory path receipts use
(`InventoryChangeService.record_return`: guarded writes, a StockLevelChanged with cause RETURN per
line, backorders filled by restocked units). Less received than authorized is kept on the line.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from datetime import datetime

from app.domain.clock import utcnow
from app.domain.errors import Conflict, DomainError, Forbidden, NotFound
from app.domain.events import Actor, DomainEvent
from app.domain.locations import Location
from app.domain.principals import Principal, Role, actor_of
from app.domain.return_rules import receive_lines, validate_receipt
from app.domain.returns import (
    AWAITING_GOODS,
    IllegalReturnTransition,
    ReceivedLine,
    Return,
    ReturnNotAccepted,
    ReturnPolicy,
    ReturnStatus,
    bump,
    lines_payload,
    return_event,
    status_changed,
    with_status,
)
from app.domain.return_routing import in_store_routing
from app.repositories.database import Mongo, Session
from app.repositories.events import EventRepository
from app.repositories.locations import LocationRepository
from app.repositories.returns import ReturnRepository
from app.services.contention import KeyedLocks
from app.services.inventory_changes import InventoryChangeService, ReturnedUnits
from app.services.return_policies import ReturnPolicyService
from app.services.return_queries import can_see_return

RECEIVABLE = AWAITING_GOODS | {ReturnStatus.RECEIVED}
log = logging.getLogger("oms.returns")


@dataclass(frozen=True, slots=True)
class Received:
    ret: Return
    filled_order_ids: tuple[str, ...] = ()


class ReturnReceiving:
    def __init__(
        self,
        *,
        mongo: Mongo,
        returns: ReturnRepository,
        locations: LocationRepository,
        policies: ReturnPolicyService,
        inventory_changes: InventoryChangeService,
        events: EventRepository,
        queue: KeyedLocks,
    ):
        self._mongo = mongo
        self._returns = returns
        self._locations = locations
        self._policies = policies
        self._inventory = inventory_changes
        self._events = events
        self._queue = queue

    async def receive(
        self, principal: Principal, return_id: str, lines: list[ReceivedLine], *, location_id: str | None = None
    ) -> Received:
        """ADMIN anywhere; STORE_STAFF and WAREHOUSE at the return's receiving location (an IN_STORE return
        authorized without a store is received at the caller's store, which must accept returns)."""
        ret = await self._returns.get(return_id)
        location = await self._receiving_location(principal, ret, location_id)
        assert ret is not None
        if ret.status not in RECEIVABLE:
            raise IllegalReturnTransition(f"a return that is {ret.status} cannot be received", field=("returnId",))
        policy = (await self._policies.policy_for(ret.channel_id)).policy
        validate_receipt(ret, lines, policy).raise_if_any()
        actor = actor_of(principal)

        async def work(session: Session) -> Received:
            at = utcnow()
            current = await self._returns.get(ret.id, session=session)
            if current is None or current.version != ret.version:
                raise Conflict(f"return {ret.number} changed meanwhile; read it again and retry", field=("returnId",))
            events: list[DomainEvent] = []
            arrived = current
            if current.status is not ReturnStatus.RECEIVED:
                arrived = self.arrive(current, location, at)
                events.append(status_changed(current, arrived, actor, at))
            inspected, more, filled = await self.inspect_in(session, arrived, lines, policy, location, actor, at)
            final = bump(inspected, at)
            if not await self._returns.replace(final, expected_version=current.version, session=session):
                raise Conflict(f"return {ret.number} changed meanwhile; read it again and retry", field=("returnId",))
            await self._events.append(events + more, session=session)
            return Received(ret=final, filled_order_ids=filled)

        async with self._queue.hold(line.sku for line in ret.lines):
            received = await self._mongo.transaction(work)
        await self.arrived(principal, received.ret.id)
        return received

    # --- plugged in by the exchanges area (app/services/exchanges.py) -------------------------------------

    # Set by the container: places a replacement waiting for these goods (EXCHANGE_ON_RECEIPT).
    after_receipt: Callable[[Principal, str], Awaitable[object]] | None = None

    async def arrived(self, principal: Principal, return_id: str) -> None:
        """Called after every commit that makes a return RECEIVED: receiveReturn, the counter's
        requestReturn, the carrier's delivery scan. Repeating it is harmless (the hook places a
        pending exchange once). A failure here (no stock on a channel that takes no backorders)
        leaves the exchange PENDING, never undoes the receipt; requestExchange retries it."""
        if self.after_receipt is None:
            return
        try:
            await self.after_receipt(principal, return_id)
        except DomainError:
            log.warning("placing the exchange of return %s after its receipt failed", return_id, exc_info=True)

    @staticmethod
    def arrive(ret: Return, location: Location, at: datetime) -> Return:
        """RECEIVED at `location` (an IN_STORE return gets its store now, if it had none)."""
        if ret.location_id is None:
            ret = replace(ret, location_id=location.id, routing=in_store_routing(location))
        return with_status(ret, ReturnStatus.RECEIVED, at)

    async def inspect_in(
        self,
        session: Session,
        ret: Return,
        received: list[ReceivedLine],
        policy: ReturnPolicy,
        location: Location,
        actor: Actor,
        at: datetime,
    ) -> tuple[Return, list[DomainEvent], tuple[str, ...]]:
        """In the caller's transaction (holding the SKUs' queue): a RECEIVED return gets its lines'
        quantities and dispositions, the stock effects are written (their events appended by the
        inventory path), and the return is INSPECTED. Returns it with its own events to append."""
        recorded, effects = receive_lines(ret, received, policy)
        units = [
            ReturnedUnits(
                sku=effect.sku,
                quantity=effect.quantity,
                sellable=effect.sellable,
                reason=effect.note if not effect.sellable else None,
                details={
                    "returnId": ret.id,
                    "returnNumber": ret.number,
                    "returnLineId": effect.line_id,
                    "disposition": effect.disposition.value,
                    "returnedQuantity": effect.quantity,
                    **({} if effect.sellable else {"notSellable": effect.quantity}),
                },
            )
            for effect in effects
        ]
        keys = {"order_id": ret.order_id, "customer_id": ret.customer_id, "channel_id": ret.channel_id}
        change = await self._inventory.record_return(session, location, units, actor=actor, at=at, order_keys=keys)
        inspected = with_status(recorded, ReturnStatus.INSPECTED, at)
        shortfall = sum(line.shortfall for line in inspected.lines)
        events = [
            return_event(recorded, "ReturnReceived", actor, at, {"lines": lines_payload(recorded), "shortfall": shortfall}),
            status_changed(recorded, inspected, actor, at),
        ]
        return inspected, events, change.filled_order_ids

    async def _receiving_location(self, principal: Principal, ret: Return | None, location_id: str | None) -> Location:
        """Where the goods are received, if the caller may receive there. NotFound when the caller cannot
        see the return (no existence leak); Forbidden when they can see it but may not receive it."""
        staff = principal.role in (Role.ADMIN, Role.STORE_STAFF, Role.WAREHOUSE)
        unplaced = ret is not None and ret.location_id is None
        if ret is None or not (can_see_return(principal, ret) or (unplaced and principal.role is Role.STORE_STAFF)):
            raise NotFound("no such return", field=("returnId",))
        if not staff:
            raise Forbidden("returns are received by staff at the receiving location", field=("returnId",))
        wanted = ret.location_id or location_id or _only(principal.location_ids)
        if wanted is None:
            raise Forbidden("say at which store the return is received", field=("location",))
        if location_id is not None and ret.location_id is not None and location_id != ret.location_id:
            raise Conflict(f"return {ret.number} is received at {ret.location_id}", field=("location",))
        principal.require_location(wanted)
        found = await self._locations.by_ids([wanted])
        if not found:
            raise NotFound(f"unknown location {wanted}", field=("location",))
        if ret.location_id is None and not (found[0].active and found[0].capabilities.accepts_returns):
            raise ReturnNotAccepted(f"{wanted} does not take returns", field=("location",))
        return found[0]


def _only(ids: frozenset[str]) -> str | None:
    return next(iter(ids)) if len(ids) == 1 else None
