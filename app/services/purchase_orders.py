"""Purchase orders: create (DRAFT), submit, cancel, and reads.

Each use case is one transaction: the PO under a version guard, `incoming` at its location moved by
exactly the PO's open units (one StockLevelChanged per level, cause PO_INCOMING), and the PO's own
event. So `incoming == open units on open POs` holds by construction (checked by
`incoming_mismatches`). Safe to retry: a transaction that did not commit changed nothing.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import replace
from datetime import datetime

from app.domain.clock import utcnow
from app.domain.errors import Conflict, ErrorCode, Forbidden, NotFound, Validator
from app.domain.events import Actor, DomainEvent, EventFilter
from app.domain.ids import new_id
from app.domain.inventory import StockChangeCause, stock_level_changed
from app.domain.pagination import Page, PageRequest
from app.domain.principals import Principal, Role, actor_of
from app.domain.purchase_orders import (
    LineRequest,
    PurchaseOrder,
    PurchaseOrderFilter,
    PurchaseOrderLine,
    PurchaseOrderSource,
    PurchaseOrderStatus,
    check_lines,
    line_payload,
    po_number,
    purchase_order_event,
    reschedule,
    submit,
    transition,
)
from app.domain.suppliers import Supplier, order_quantity
from app.repositories.database import Mongo, Session
from app.repositories.events import EventRepository
from app.repositories.inventory import InventoryRepository
from app.repositories.locations import LocationRepository
from app.repositories.purchase_orders import PurchaseOrderRepository
from app.repositories.suppliers import SupplierRepository

MAX_REASON = 500


class PurchaseOrderChanged(Conflict):
    """The PO changed since it was read: re-read and decide again."""


class PurchaseOrderService:
    def __init__(
        self,
        *,
        mongo: Mongo,
        purchase_orders: PurchaseOrderRepository,
        suppliers: SupplierRepository,
        inventory: InventoryRepository,
        locations: LocationRepository,
        events: EventRepository,
    ):
        self._mongo = mongo
        self._pos = purchase_orders
        self._suppliers = suppliers
        self._inventory = inventory
        self._locations = locations
        self._events = events

    # --- reads -----------------------------------------------------------------------------------

    async def page(self, principal: Principal, selection: PurchaseOrderFilter, page: PageRequest) -> Page[PurchaseOrder]:
        return await self._pos.page(self._scoped(principal, selection), page)

    async def by_ids(self, principal: Principal, ids: list[str]) -> list[PurchaseOrder]:
        return [po for po in await self._pos.by_ids(ids) if _may_see(principal, po)]

    async def open_for_skus(self, principal: Principal, skus: list[str]) -> list[PurchaseOrder]:
        """Open POs of these SKUs the caller may see, earliest expected first."""
        if principal.role is Role.ADMIN:
            return await self._pos.open_for_skus(skus)
        if principal.role in (Role.WAREHOUSE, Role.STORE_STAFF):
            return await self._pos.open_for_skus(skus, location_ids=sorted(principal.location_ids))
        return []

    async def promise_dates(self, skus: list[str]) -> dict[str, datetime]:
        """The earliest expected date of an open PO per SKU: when a backorder can count on stock.
        Read at query time, so it follows every change of a PO's date. Whoever may see the order
        line may see its promise date, so no role check here."""
        dates: dict[str, datetime] = {}
        for po in await self._pos.open_for_skus(skus):
            for line in po.lines:
                if line.open_quantity > 0 and po.expected_at is not None and line.sku not in dates:
                    dates[line.sku] = po.expected_at
        return dates

    def event_scope(self, principal: Principal, selection: EventFilter) -> EventFilter:
        return purchase_order_event_scope(principal, selection)

    async def incoming_mismatches(self, principal: Principal) -> list[tuple[str, str, int, int]]:
        principal.require_role(Role.ADMIN)
        return await self._pos.incoming_mismatches()

    # --- writes ----------------------------------------------------------------------------------

    async def create(
        self, principal: Principal, supplier_code: str, location_id: str, lines: list[LineRequest], note: str | None = None
    ) -> PurchaseOrder:
        principal.require_role(Role.ADMIN)
        check_lines(lines)
        check = Validator()
        supplier = (await self._suppliers.by_codes([supplier_code]) or [None])[0]
        check.check(supplier is not None, f"unknown supplier {supplier_code!r}", "supplier", code=ErrorCode.NOT_FOUND)
        check.check(bool(await self._locations.by_ids([location_id])), f"unknown location {location_id!r}", "location",
                    code=ErrorCode.NOT_FOUND)
        check.check(len((note or "").strip()) <= MAX_REASON, f"note is at most {MAX_REASON} characters", "note")
        items = {i.sku: i for i in await self._suppliers.items_for_skus([line.sku for line in lines]) if i.supplier_code == supplier_code}
        for index, line in enumerate(lines):
            check.check(line.sku in items, f"{line.sku} is not in {supplier_code}'s catalogue", "lines", index, "sku",
                        code=ErrorCode.UNKNOWN_SKU)
        check.raise_if_any()
        assert supplier is not None
        at = utcnow()
        po_id = new_id()
        po = PurchaseOrder(
            id=po_id,
            number=po_number(po_id),
            supplier_code=supplier_code,
            location_id=location_id,
            status=PurchaseOrderStatus.DRAFT,
            currency=supplier.currency,
            lines=tuple(
                PurchaseOrderLine(
                    id=str(index + 1),
                    sku=line.sku,
                    supplier_sku=items[line.sku].supplier_sku,
                    quantity=order_quantity(line.quantity, pack_size=items[line.sku].pack_size,
                                            min_order_quantity=items[line.sku].min_order_quantity),
                    unit_cost_cents=items[line.sku].unit_cost_cents,
                )
                for index, line in enumerate(lines)
            ),
            source=PurchaseOrderSource.MANUAL,
            created_at=at,
            updated_at=at,
            note=(note or "").strip() or None,
        )
        actor = actor_of(principal)

        async def work(session: Session) -> PurchaseOrder:
            await self._pos.insert(po, session=session)
            payload = {"lines": [line_payload(line) for line in po.lines], "totalCents": po.total_cents}
            await self._events.append([purchase_order_event(po, "PurchaseOrderCreated", actor, at, payload)], session=session)
            return po

        return await self._mongo.transaction(work)

    async def submit(self, principal: Principal, po_id: str, expected_version: int | None = None) -> PurchaseOrder:
        principal.require_role(Role.ADMIN)
        actor = actor_of(principal)

        async def work(session: Session) -> PurchaseOrder:
            po = await self._get(po_id, expected_version, session)
            supplier = (await self._suppliers.by_codes([po.supplier_code], session=session))[0]
            return await self.submit_in(session, po, supplier, actor=actor, at=utcnow())

        return await self._mongo.transaction(work)

    async def cancel(self, principal: Principal, po_id: str, reason: str | None, expected_version: int | None = None) -> PurchaseOrder:
        principal.require_role(Role.ADMIN)
        check = Validator()
        check.check(len((reason or "").strip()) <= MAX_REASON, f"reason is at most {MAX_REASON} characters", "reason")
        check.raise_if_any()
        actor = actor_of(principal)

        async def work(session: Session) -> PurchaseOrder:
            po = await self._get(po_id, expected_version, session)
            at = utcnow()
            after = transition(po, PurchaseOrderStatus.CANCELLED, at)
            events = await self.move_incoming(session, po, -1, actor=actor, at=at)
            events.append(purchase_order_event(after, "PurchaseOrderCancelled", actor, at, {"from": po.status.value}, reason))
            return await self._store(session, po, after, events)

        return await self._mongo.transaction(work)

    async def reschedule(self, principal: Principal, po_id: str, expected_at: datetime, reason: str | None) -> PurchaseOrder:
        """A new expected date (PurchaseOrderRescheduled): backordered lines' promise dates follow it."""
        principal.require_role(Role.ADMIN)
        actor = actor_of(principal)

        async def work(session: Session) -> PurchaseOrder:
            po = await self._get(po_id, None, session)
            at = utcnow()
            after = reschedule(po, expected_at, at)
            before_at = po.expected_at.isoformat() if po.expected_at else None
            payload = {"expectedAt": {"before": before_at, "after": expected_at.isoformat()}}
            return await self._store(session, po, after, [purchase_order_event(after, "PurchaseOrderRescheduled", actor, at, payload, reason)])

        return await self._mongo.transaction(work)

    # --- inside a caller's transaction -----------------------------------------------------------

    async def submit_in(self, session: Session, po: PurchaseOrder, supplier: Supplier, *, actor: Actor, at: datetime) -> PurchaseOrder:
        after = submit(po, supplier, at)
        events = await self.move_incoming(session, after, +1, actor=actor, at=at)
        assert after.expected_at is not None
        events.append(purchase_order_event(after, "PurchaseOrderSubmitted", actor, at, {"expectedAt": after.expected_at.isoformat()}))
        return await self._store(session, po, after, events)

    async def store(self, session: Session, before: PurchaseOrder, after: PurchaseOrder, events: list[DomainEvent]) -> PurchaseOrder:
        return await self._store(session, before, after, events)

    async def _store(self, session: Session, before: PurchaseOrder, after: PurchaseOrder, events: list[DomainEvent]) -> PurchaseOrder:
        after = replace(after, version=before.version + 1)
        if not await self._pos.replace(after, expected_version=before.version, session=session):
            raise PurchaseOrderChanged(f"purchase order {before.number} changed meanwhile; try again")
        await self._events.append(events, session=session)
        return after

    async def move_incoming(self, session: Session, po: PurchaseOrder, sign: int, *, actor: Actor, at: datetime) -> list[DomainEvent]:
        """Adds (sign +1) or takes back (-1) the PO's open units as incoming, one level at a time in SKU order."""
        if po.status not in (PurchaseOrderStatus.SUBMITTED, PurchaseOrderStatus.PARTIALLY_RECEIVED):
            return []
        per_sku: Counter[str] = Counter()
        for line in po.lines:
            per_sku[line.sku] += line.open_quantity
        location = (await self._locations.by_ids([po.location_id], session=session))[0]
        events: list[DomainEvent] = []
        for sku in sorted(per_sku):
            delta = sign * per_sku[sku]
            if delta == 0:
                continue
            before = await self._inventory.add_incoming(sku, po.location_id, delta, at=at, session=session, location=location)
            if before is None:
                raise RuntimeError(f"incoming of {sku} at {po.location_id} is below what {po.number} takes back")
            after = replace(before, incoming=before.incoming + delta)
            events.append(
                stock_level_changed(
                    before, after, cause=StockChangeCause.PO_INCOMING, actor=actor, at=at,
                    details={"purchaseOrderId": po.id, "purchaseOrderNumber": po.number, "incomingDelta": delta},
                )
            )
        return events

    async def _get(self, po_id: str, expected_version: int | None, session: Session) -> PurchaseOrder:
        po = await self._pos.get(po_id, session=session)
        if po is None:
            raise NotFound(f"no purchase order {po_id}", field=("id",))
        if expected_version is not None and po.version != expected_version:
            raise PurchaseOrderChanged(f"purchase order {po.number} is at version {po.version}, not {expected_version}")
        return po

    def _scoped(self, principal: Principal, selection: PurchaseOrderFilter) -> PurchaseOrderFilter:
        if principal.role is Role.ADMIN:
            return selection
        principal.require_role(Role.WAREHOUSE, Role.STORE_STAFF)
        mine = principal.location_ids if not selection.location_ids else selection.location_ids & principal.location_ids
        return replace(selection, location_ids=frozenset(mine) or frozenset({"\x00none"}))


def _may_see(principal: Principal, po: PurchaseOrder) -> bool:
    return principal.role is Role.ADMIN or (
        principal.role in (Role.WAREHOUSE, Role.STORE_STAFF) and po.location_id in principal.location_ids
    )


def purchase_order_event_scope(principal: Principal, selection: EventFilter) -> EventFilter:
    """What `purchaseOrderUpdated` may deliver: PO events; staff only at their locations."""
    selection = replace(selection, aggregate_types=frozenset({"PurchaseOrder"}))
    if principal.role is Role.ADMIN:
        return selection
    principal.require_role(Role.WAREHOUSE, Role.STORE_STAFF)
    if selection.location_ids - principal.location_ids:
        raise Forbidden("not allowed to follow purchase orders of other locations", field=("location",))
    return replace(selection, location_ids=selection.location_ids or principal.location_ids)
