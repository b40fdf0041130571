"""Changing stock: adjust, receive, transfer, set policy. One transaction per change, with its
movement events (StockLevelChanged, the movement log) and any backorders the new stock can fill."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from app.domain.clock import utcnow
from app.domain.errors import ErrorCode, FieldIssue, InvalidInput, NotFound, Validator
from app.domain.events import Actor, DomainEvent
from app.domain.ids import new_id
from app.domain.inventory import (
    MAX_REASON_LENGTH,
    MAX_UNITS,
    InsufficientStock,
    InventoryLevel,
    ReservationMismatch,
    StockChangeCause,
    StockPolicy,
    apply_delta,
    apply_policy,
    empty_level,
    stock_level_changed,
)
from app.domain.locations import Location
from app.domain.principals import Principal, Role, actor_of
from app.repositories.database import Mongo, Session
from app.repositories.events import EventRepository
from app.repositories.inventory import InventoryRepository
from app.repositories.locations import LocationRepository
from app.repositories.products import ProductRepository
from app.services.backorders import BackorderService
from app.services.contention import KeyedLocks


@dataclass(frozen=True, slots=True)
class ReturnedUnits:
    """Units of one SKU a return brought to a location: `sellable` ones go back on hand; the others are
    recorded in the movement log without becoming stock. `details` go into the event's payload."""

    sku: str
    quantity: int
    sellable: bool
    reason: str | None = None
    details: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class PurchaseOrderUnits:
    """One SKU of a purchase-order receipt: `good` units go on hand, `damaged` are only recorded,
    and incoming changes by `incoming_delta` (minus what the PO no longer expects)."""

    sku: str
    good: int
    damaged: int
    incoming_delta: int


@dataclass(frozen=True, slots=True)
class StockChange:
    """The outcome of one mutation: the levels after it, and the backorders it filled."""

    levels: tuple[InventoryLevel, ...]
    filled_order_ids: tuple[str, ...] = ()


def _check_reason(check: Validator, reason: str | None, *, required: bool) -> str | None:
    text = (reason or "").strip()
    if required:
        check.check(bool(text), "a reason is required", "reason")
    check.check(len(text) <= MAX_REASON_LENGTH, f"reason is at most {MAX_REASON_LENGTH} characters", "reason")
    return text or None


def _check_units(check: Validator, value: int, field: str, *, positive: bool = True) -> None:
    if positive:
        check.check(0 < value <= MAX_UNITS, f"{field} must be between 1 and {MAX_UNITS}", field)
    else:
        check.check(0 <= value <= MAX_UNITS, f"{field} must be between 0 and {MAX_UNITS}", field)


class InventoryChangeService:
    def __init__(
        self,
        *,
        mongo: Mongo,
        inventory: InventoryRepository,
        locations: LocationRepository,
        products: ProductRepository,
        events: EventRepository,
        backorders: BackorderService,
        queue: KeyedLocks,
    ):
        self._mongo = mongo
        self._inventory = inventory
        self._locations = locations
        self._products = products
        self._events = events
        self._backorders = backorders
        self._queue = queue

    async def adjust(
        self, principal: Principal, sku: str, location_id: str, *, delta: int | None, count: int | None, reason: str | None
    ) -> StockChange:
        """A correction or a stock count: by `delta`, or to an absolute `count`. Always with a reason."""
        principal.require_location(location_id)
        check = Validator()
        if check.check((delta is None) != (count is None), "give either delta or count, not both", "delta"):
            if delta is not None:
                check.check(delta != 0 and abs(delta) <= MAX_UNITS, f"delta must be non-zero and within ±{MAX_UNITS}", "delta")
            if count is not None:
                _check_units(check, count, "count", positive=False)
        text = _check_reason(check, reason, required=True)
        location = (await self._reference(check, sku, {"location": location_id}))[location_id]
        actor = actor_of(principal)

        async def work(session: Session) -> StockChange:
            at = utcnow()
            if count is not None:
                before = await self._inventory.set_on_hand(sku, location_id, count, at=at, session=session, location=location)
                after = apply_delta(before, on_hand=count - before.on_hand)
            else:
                assert delta is not None
                found = await self._inventory.add_on_hand(
                    sku, location_id, delta, at=at, session=session, location=location if delta > 0 else None
                )
                if found is None:
                    current = await self._level(sku, location_id, session)
                    raise InvalidInput(
                        [FieldIssue(ErrorCode.INVALID_INPUT, f"only {current.on_hand} on hand; cannot remove {-delta}", ("delta",))]
                    )
                before, after = found, apply_delta(found, on_hand=delta)
            event = stock_level_changed(before, after, cause=StockChangeCause.ADJUSTMENT, actor=actor, at=at, reason=text)
            return await self._finish(session, [(before, after)], [event], actor, at)

        async with self._queue.hold([sku]):
            return await self._mongo.transaction(work)

    async def receive(self, principal: Principal, sku: str, location_id: str, quantity: int, reason: str | None) -> StockChange:
        principal.require_location(location_id)
        check = Validator()
        _check_units(check, quantity, "quantity")
        text = _check_reason(check, reason, required=False)
        location = (await self._reference(check, sku, {"location": location_id}))[location_id]
        actor = actor_of(principal)

        async def work(session: Session) -> StockChange:
            at = utcnow()
            before = await self._inventory.add_on_hand(sku, location_id, quantity, at=at, session=session, location=location)
            assert before is not None
            after = apply_delta(before, on_hand=quantity)
            event = stock_level_changed(before, after, cause=StockChangeCause.RECEIPT, actor=actor, at=at, reason=text)
            return await self._finish(session, [(before, after)], [event], actor, at)

        async with self._queue.hold([sku]):
            return await self._mongo.transaction(work)

    async def transfer(
        self, principal: Principal, sku: str, from_id: str, to_id: str, quantity: int, reason: str | None
    ) -> StockChange:
        """Moves unreserved units between locations in one transaction: both levels change, or neither.

        The sender's staff (or an admin) may transfer; units promised to orders stay put.
        """
        principal.require_location(from_id)
        check = Validator()
        _check_units(check, quantity, "quantity")
        check.check(from_id != to_id, "from and to must be different locations", "to")
        text = _check_reason(check, reason, required=False)
        destination = (await self._reference(check, sku, {"from": from_id, "to": to_id}))[to_id]
        actor = actor_of(principal)

        async def work(session: Session) -> StockChange:
            return await self.transfer_in(session, sku, from_id, destination, quantity, actor=actor, at=utcnow(), reason=text)

        async with self._queue.hold([sku]):
            return await self._mongo.transaction(work)

    async def transfer_in(
        self, session: Session, sku: str, from_id: str, destination: Location, quantity: int, *,
        actor: Actor, at: datetime, reason: str | None, details: dict[str, Any] | None = None,
    ) -> StockChange:
        """`transfer` inside the caller's transaction (replenishment moves stock this way by policy)."""
        to_id = destination.id
        transfer_id = new_id()
        source = await self._inventory.remove_unreserved(sku, from_id, quantity, at=at, session=session)
        if source is None:
            current = await self._level(sku, from_id, session)
            raise InsufficientStock(
                f"{from_id} has {max(0, current.on_hand - current.reserved)} unreserved units of {sku}; cannot move {quantity}",
                field=("quantity",),
            )
        target = await self._inventory.add_on_hand(sku, to_id, quantity, at=at, session=session, location=destination)
        assert target is not None
        changes = [(source, apply_delta(source, on_hand=-quantity)), (target, apply_delta(target, on_hand=quantity))]
        details = {"transferId": transfer_id, "fromLocationId": from_id, "toLocationId": to_id, **(details or {})}
        events = [
            stock_level_changed(before, after, cause=cause, actor=actor, at=at, reason=reason, details=details)
            for (before, after), cause in zip(changes, (StockChangeCause.TRANSFER_OUT, StockChangeCause.TRANSFER_IN))
        ]
        return await self._finish(session, changes, events, actor, at)

    async def set_policy(self, principal: Principal, sku: str, location_id: str, policy: StockPolicy) -> StockChange:
        principal.require_location(location_id)
        check = Validator()
        for name, value in (
            ("safetyStock", policy.safety_stock),
            ("reorderPoint", policy.reorder_point),
            ("reorderQuantity", policy.reorder_quantity),
        ):
            if value is not None:
                _check_units(check, value, name, positive=False)
        check.check(
            any(v is not None for v in (policy.safety_stock, policy.reorder_point, policy.reorder_quantity)),
            "give at least one of safetyStock, reorderPoint, reorderQuantity",
            "safetyStock",
        )
        location = (await self._reference(check, sku, {"location": location_id}))[location_id]
        actor = actor_of(principal)

        async def work(session: Session) -> StockChange:
            at = utcnow()
            before = await self._inventory.set_policy(sku, location_id, policy, at=at, session=session, location=location)
            after = apply_policy(before, policy)
            event = stock_level_changed(before, after, cause=StockChangeCause.POLICY, actor=actor, at=at)
            return await self._finish(session, [(before, after)], [event], actor, at)

        async with self._queue.hold([sku]):
            return await self._mongo.transaction(work)

    async def record_return(
        self,
        session: Session,
        location: Location,
        movements: list[ReturnedUnits],
        *,
        actor: Actor,
        at: datetime,
        order_keys: dict[str, str],
    ) -> StockChange:
        """Inside the caller's transaction (the caller holds `queue` for the SKUs): a return's units
        at the receiving location. Sellable units raise on hand through the same guarded write as a
        receipt, and backorders take them; the rest (refurbish, damaged, back to the vendor) leave
        sellable stock as it was. Every line is a `StockLevelChanged` with cause RETURN."""
        changes: list[tuple[InventoryLevel, InventoryLevel]] = []
        events: list[DomainEvent] = []
        for unit in movements:
            if unit.sellable:
                before = await self._inventory.add_on_hand(unit.sku, location.id, unit.quantity, at=at, session=session, location=location)
                assert before is not None
                after = apply_delta(before, on_hand=unit.quantity)
            else:
                found = await self._inventory.by_keys([(unit.sku, location.id)], session=session)
                before = after = found[0] if found else empty_level(unit.sku, location.id)
            changes.append((before, after))
            events.append(
                stock_level_changed(
                    before, after, cause=StockChangeCause.RETURN, actor=actor, at=at, reason=unit.reason,
                    details=unit.details, **order_keys,
                )
            )
        return await self._finish(session, changes, events, actor, at)

    async def record_po_receipt(
        self,
        session: Session,
        location: Location,
        movements: list[PurchaseOrderUnits],
        *,
        actor: Actor,
        at: datetime,
        details: dict[str, Any],
    ) -> StockChange:
        """Inside the caller's transaction (the caller holds `queue` for the SKUs): goods received
        against a purchase order. Good units raise on hand through the same write as `receive`,
        incoming falls by what the PO no longer expects, and backorders take the new stock. One
        `StockLevelChanged` per SKU with cause PO_RECEIPT and the PO in `details`."""
        changes: list[tuple[InventoryLevel, InventoryLevel]] = []
        events: list[DomainEvent] = []
        for unit in movements:
            before = await self._inventory.add_on_hand(unit.sku, location.id, unit.good, at=at, session=session, location=location)
            assert before is not None
            if unit.incoming_delta:
                if await self._inventory.add_incoming(unit.sku, location.id, unit.incoming_delta, at=at, session=session) is None:
                    raise RuntimeError(f"incoming of {unit.sku} at {location.id} is below what the receipt takes off")
            after = replace(apply_delta(before, on_hand=unit.good), incoming=before.incoming + unit.incoming_delta)
            changes.append((before, after))
            events.append(
                stock_level_changed(
                    before, after, cause=StockChangeCause.PO_RECEIPT, actor=actor, at=at,
                    details={**details, "damaged": unit.damaged, "incomingDelta": unit.incoming_delta},
                )
            )
        return await self._finish(session, changes, events, actor, at)

    async def reservation_mismatches(self, principal: Principal) -> list[ReservationMismatch]:
        """The no-oversell invariant, checked: empty when every `reserved` equals its open allocations."""
        principal.require_role(Role.ADMIN)
        return await self._inventory.reservation_mismatches()

    async def _reference(self, check: Validator, sku: str, locations: dict[str, str]) -> dict[str, Location]:
        """Checks the SKU and the locations (input field -> code) exist; raises with every issue found."""
        check.check(bool(await self._products.by_skus([sku])), f"unknown SKU {sku!r}", "sku", code=ErrorCode.UNKNOWN_SKU)
        found = {loc.id: loc for loc in await self._locations.by_ids(list(locations.values()))}
        for field, location_id in locations.items():
            check.check(location_id in found, f"unknown location {location_id!r}", field, code=ErrorCode.NOT_FOUND)
        check.raise_if_any()
        return found

    async def _level(self, sku: str, location_id: str, session: Session) -> InventoryLevel:
        found = await self._inventory.by_keys([(sku, location_id)], session=session)
        if not found:
            raise NotFound(f"{sku} is not stocked at {location_id}", field=("sku",))
        return found[0]

    async def _finish(
        self,
        session: Session,
        changes: list[tuple[InventoryLevel, InventoryLevel]],
        events: list[DomainEvent],
        actor: Actor,
        at: datetime,
    ) -> StockChange:
        """Appends the movement events, then lets backorders take what became available."""
        await self._events.append(events, session=session)
        grown = sorted({(after.sku, after.location_id) for before, after in changes if after.available > before.available})
        filled = await self._backorders.fill(session, grown, actor=actor, at=at) if grown else []
        levels = {(after.sku, after.location_id): after for _, after in changes}
        if filled:
            # Reservations for backorders changed these levels again; report them as they now are.
            for level in await self._inventory.by_keys(list(levels), session=session):
                levels[(level.sku, level.location_id)] = level
        return StockChange(levels=tuple(levels.values()), filled_order_ids=tuple(filled))
