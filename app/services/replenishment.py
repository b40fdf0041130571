"""Automatic replenishment: each reorder-point crossing becomes exactly one purchase-order line
(or, by the location's policy, one transfer).

Exactly once by construction: the crossing's marker is written in the transaction of the stock
change that crossed (EventRepository.append), and `process` claims it (PENDING → done, a guarded
update) in the same transaction that adds the PO line. Any number of workers in any number of
processes may race on a marker: one transaction commits, the others conflict, retry, and find it
done. The database backs this up with a unique index on the POs' crossing ids.

One process of all those sharing the database works on the markers: the holder of the
`replenishment` lease (the sequencer's leasing, app/repositories/sequencer.py) follows a change
stream on them (low latency) and sweeps markers left PENDING (a crash between the crossing and its
processing, a stream that was down). A change stream makes mongod scan the oplog once more per
stream, so an extra worker must not open another; the others only retry the lease, and the one
that takes it over from a dead holder first processes everything still PENDING: nothing is lost.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

from app.domain.clock import utcnow
from app.domain.errors import Conflict, Validator
from app.domain.events import Actor, DomainEvent
from app.domain.geo import distance_km
from app.domain.ids import new_id
from app.domain.principals import Principal, Role, actor_of
from app.domain.purchase_orders import (
    PurchaseOrder,
    PurchaseOrderLine,
    PurchaseOrderSource,
    PurchaseOrderStatus,
    line_payload,
    po_number,
    purchase_order_event,
    submit,
)
from app.domain.replenishment import (
    Crossing,
    CrossingOutcome,
    ReplenishmentMode,
    ReplenishmentPolicy,
    TransferMode,
    TransferSuggestion,
    check_policy,
    pick_transfer_source,
)
from app.domain.suppliers import Supplier, order_quantity
from app.repositories.database import Mongo, Session
from app.repositories.events import EventRepository
from app.repositories.inventory import InventoryRepository
from app.repositories.locations import LocationRepository
from app.repositories.purchase_orders import DraftTaken, PurchaseOrderRepository
from app.repositories.replenishment import CrossingRepository, ReplenishmentPolicyRepository
from app.repositories.sequencer import Lease, LeaseRepository
from app.services.leased_role import LeasedRole
from app.repositories.suppliers import SupplierRepository
from app.services.inventory_changes import InventoryChangeService
from app.services.purchase_orders import PurchaseOrderService

log = logging.getLogger("oms.replenishment")

REPLENISHMENT = Actor.system("replenishment")
SWEEP_SECONDS = 10.0
CONCURRENCY = 8
DRAFT_RETRIES = 5
LEASE = "replenishment"
# A dead holder's markers wait at most this long (plus a retry) for the next holder's catch-up.
LEASE_SECONDS = 8.0


class ReplenishmentService:
    def __init__(
        self,
        *,
        mongo: Mongo,
        crossings: CrossingRepository,
        policies: ReplenishmentPolicyRepository,
        suppliers: SupplierRepository,
        purchase_orders: PurchaseOrderRepository,
        po_service: PurchaseOrderService,
        inventory: InventoryRepository,
        locations: LocationRepository,
        inventory_changes: InventoryChangeService,
        events: EventRepository,
        leases: LeaseRepository,
        owner: str,
        sweep_seconds: float = SWEEP_SECONDS,
        lease_seconds: float = LEASE_SECONDS,
    ):
        self._mongo = mongo
        self._crossings = crossings
        self._policies = policies
        self._suppliers = suppliers
        self._pos = purchase_orders
        self._po_service = po_service
        self._inventory = inventory
        self._locations = locations
        self._inventory_changes = inventory_changes
        self._events = events
        self._role = LeasedRole(leases, LEASE, owner, lease_seconds)
        self.owner = owner
        self._sweep_seconds = sweep_seconds
        self.leading = self._role.leading
        self._tasks: list[asyncio.Task[None]] = []
        self._slots = asyncio.Semaphore(CONCURRENCY)
        self._inflight: set[asyncio.Task[None]] = set()

    # --- policy ----------------------------------------------------------------------------------

    async def policy(self, principal: Principal, location_id: str) -> ReplenishmentPolicy:
        principal.require_location(location_id)
        return await self._policies.get(location_id)

    async def set_policy(self, principal: Principal, policy: ReplenishmentPolicy) -> ReplenishmentPolicy:
        principal.require_role(Role.ADMIN)
        check_policy(policy)
        check = Validator()
        check.check(bool(await self._locations.by_ids([policy.location_id])), f"unknown location {policy.location_id!r}", "location")
        check.raise_if_any()
        actor = actor_of(principal)

        async def work(session: Session) -> ReplenishmentPolicy:
            before = await self._policies.get(policy.location_id, session=session)
            stored = await self._policies.save(policy, session=session)
            event = DomainEvent(
                id=new_id(), type="ReplenishmentPolicyChanged", aggregate_type="ReplenishmentPolicy",
                aggregate_id=policy.location_id, at=utcnow(), actor=actor, location_id=policy.location_id,
                payload={"before": _policy_payload(before), "after": _policy_payload(stored), "version": stored.version},
            )
            await self._events.append([event], session=session)
            return stored

        return await self._mongo.transaction(work)

    # --- the worker ------------------------------------------------------------------------------

    async def process(self, crossing_id: str) -> Crossing | None:
        """Replenishes one crossing if nobody has; returns it as done, or None when it was not pending."""
        for _ in range(DRAFT_RETRIES):
            try:
                return await self._mongo.transaction(lambda session: self._process_in(session, crossing_id))
            except DraftTaken:
                continue  # another crossing opened the draft first: add to it
        raise Conflict(f"could not place crossing {crossing_id} on a draft")

    async def process_pending(self, *, older_than_seconds: float = 0.0) -> int:
        """Every PENDING crossing (tests, start-up, the sweep); returns how many this call replenished."""
        older = utcnow() - timedelta(seconds=older_than_seconds) if older_than_seconds else None
        done = 0
        for crossing_id in await self._crossings.pending(older_than=older):
            if await self.process(crossing_id) is not None:
                done += 1
        return done

    def start(self) -> None:
        if not self._tasks:
            self._tasks = [asyncio.create_task(self._role.run(self._lead), name="oms-replenishment")]

    async def stop(self) -> None:
        tasks, self._tasks = self._tasks + list(self._inflight), []
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task

    async def _lead(self, lease: Lease) -> None:
        tasks = [
            asyncio.create_task(self._role.keep(lease), name="oms-replenishment-lease"),
            asyncio.create_task(self._follow(), name="oms-replenishment-stream"),
            asyncio.create_task(self._sweep(), name="oms-replenishment-sweep"),
        ]
        try:
            done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
            for task in done:
                task.result()  # raises why the lease was lost
        finally:
            for task in tasks:
                task.cancel()
            for task in tasks:
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task

    async def _follow(self) -> None:
        while True:
            try:
                async with self._crossings.inserted() as ids:
                    await self.process_pending()  # committed before the stream started
                    async for crossing_id in ids:
                        await self._slots.acquire()
                        task = asyncio.create_task(self._one(crossing_id))
                        self._inflight.add(task)
                        task.add_done_callback(self._inflight.discard)
            except asyncio.CancelledError:
                raise
            except Exception:  # noqa: BLE001 - MongoDB may be failing over; the sweep covers the gap
                log.exception("replenishment stream failed; restarting")
                await asyncio.sleep(1.0)

    async def _one(self, crossing_id: str) -> None:
        try:
            await self.process(crossing_id)
        except Exception:  # noqa: BLE001 - stays PENDING; the sweep tries again
            log.exception("replenishing a crossing failed", extra={"crossing_id": crossing_id})
        finally:
            self._slots.release()

    async def _sweep(self) -> None:
        while True:
            await asyncio.sleep(self._sweep_seconds)
            try:
                await self.process_pending(older_than_seconds=self._sweep_seconds)
            except asyncio.CancelledError:
                raise
            except Exception:  # noqa: BLE001
                log.exception("replenishment sweep failed")

    # --- one crossing, in one transaction --------------------------------------------------------

    async def _process_in(self, session: Session, crossing_id: str) -> Crossing | None:
        crossing = await self._crossings.get(crossing_id, session=session)
        if crossing is None or crossing.outcome is not CrossingOutcome.PENDING:
            return None
        at = utcnow()
        policy = await self._policies.get(crossing.location_id, session=session)
        suggestion = await self._transfer_source(crossing, policy, session) if policy.transfers is not TransferMode.OFF else None
        if suggestion is not None and policy.transfers is TransferMode.CREATE:
            if not await self._crossings.claim(crossing.id, CrossingOutcome.TRANSFER, at=at, session=session,
                                               transfer_from=suggestion.from_location_id):
                return None
            destination = (await self._locations.by_ids([crossing.location_id], session=session))[0]
            await self._inventory_changes.transfer_in(
                session, crossing.sku, suggestion.from_location_id, destination, crossing.reorder_quantity,
                actor=REPLENISHMENT, at=at, reason="replenishment transfer", details={"crossingId": crossing.id},
            )
            return replace(crossing, outcome=CrossingOutcome.TRANSFER, transfer_from=suggestion.from_location_id, done_at=at)
        transfer_from = suggestion.from_location_id if suggestion else None
        item = await self._suppliers.preferred_item(crossing.sku, session=session)
        if item is None:
            claimed = await self._crossings.claim(crossing.id, CrossingOutcome.NO_SUPPLIER, at=at, session=session,
                                                  transfer_from=transfer_from)
            return replace(crossing, outcome=CrossingOutcome.NO_SUPPLIER, done_at=at) if claimed else None
        supplier = (await self._suppliers.by_codes([item.supplier_code], session=session))[0]
        line = PurchaseOrderLine(
            id="1",
            sku=crossing.sku,
            supplier_sku=item.supplier_sku,
            quantity=order_quantity(crossing.reorder_quantity, pack_size=item.pack_size, min_order_quantity=item.min_order_quantity),
            unit_cost_cents=item.unit_cost_cents,
            crossing_id=crossing.id,
        )
        details = {"crossingId": crossing.id, "transferSuggestion": transfer_from, "line": line_payload(line)}
        po: PurchaseOrder | None = None
        if policy.mode is ReplenishmentMode.AUTO_SUBMIT:
            po = await self._submitted_po(session, crossing, supplier, line, details, at=at)
        if po is None:
            po = await self._add_to_draft(session, crossing, supplier.code, supplier.currency, line, details, at=at)
        if not await self._crossings.claim(crossing.id, CrossingOutcome.PO_LINE, at=at, session=session,
                                           purchase_order_id=po.id, transfer_from=transfer_from):
            raise Conflict(f"crossing {crossing.id} was taken meanwhile")  # aborts this transaction's PO line
        return replace(crossing, outcome=CrossingOutcome.PO_LINE, purchase_order_id=po.id, transfer_from=transfer_from, done_at=at)

    @staticmethod
    def _new_po(crossing: Crossing, supplier_code: str, currency: str, line: PurchaseOrderLine, at: datetime) -> PurchaseOrder:
        po_id = new_id()
        return PurchaseOrder(
            id=po_id, number=po_number(po_id), supplier_code=supplier_code, location_id=crossing.location_id,
            status=PurchaseOrderStatus.DRAFT, currency=currency, lines=(line,), source=PurchaseOrderSource.REPLENISHMENT,
            created_at=at, updated_at=at,
        )

    async def _submitted_po(
        self, session: Session, crossing: Crossing, supplier: Supplier, line: PurchaseOrderLine, details: dict[str, Any], *, at: datetime
    ) -> PurchaseOrder | None:
        """AUTO_SUBMIT: a PO of its own, submitted at once; None when below the supplier's minimum (drafted instead)."""
        draft = self._new_po(crossing, supplier.code, supplier.currency, line, at)
        try:
            po = submit(draft, supplier, at)
        except Conflict:
            return None
        await self._pos.insert(po, session=session)
        events = await self._po_service.move_incoming(session, po, +1, actor=REPLENISHMENT, at=at)
        assert po.expected_at is not None
        events.append(purchase_order_event(po, "PurchaseOrderCreated", REPLENISHMENT, at, details))
        events.append(purchase_order_event(po, "PurchaseOrderSubmitted", REPLENISHMENT, at, {"expectedAt": po.expected_at.isoformat()}))
        await self._events.append(events, session=session)
        return po

    async def _add_to_draft(
        self, session: Session, crossing: Crossing, supplier_code: str, currency: str, line: PurchaseOrderLine,
        details: dict[str, Any], *, at: datetime,
    ) -> PurchaseOrder:
        """DRAFT_ONLY: a line on the open replenishment draft for the supplier and location, opened if none."""
        draft = await self._pos.open_draft(supplier_code, crossing.location_id, session=session)
        if draft is None:
            po = self._new_po(crossing, supplier_code, currency, line, at)
            await self._pos.insert(po, session=session)
            await self._events.append([purchase_order_event(po, "PurchaseOrderCreated", REPLENISHMENT, at, details)], session=session)
            return po
        added = replace(line, id=str(len(draft.lines) + 1))
        after = replace(draft, lines=(*draft.lines, added), updated_at=at)
        details = {**details, "line": line_payload(added)}
        event = purchase_order_event(after, "PurchaseOrderLineAdded", REPLENISHMENT, at, details)
        return await self._po_service.store(session, draft, after, [event])

    async def _transfer_source(self, crossing: Crossing, policy: ReplenishmentPolicy, session: Session) -> TransferSuggestion | None:
        """Another location holding the reorder quantity above its own reorder point, within the radius."""
        others = [
            level for level in await self._inventory.for_skus([crossing.sku], session=session)
            if level.location_id != crossing.location_id and level.available - level.reorder_point >= crossing.reorder_quantity
        ]
        if not others:
            return None
        places = {loc.id: loc for loc in await self._locations.by_ids([crossing.location_id, *(lvl.location_id for lvl in others)], session=session)}
        here = places.get(crossing.location_id)
        if here is None:
            return None
        candidates = [
            TransferSuggestion(lvl.location_id, distance_km(here.point, places[lvl.location_id].point), lvl.available - lvl.reorder_point)
            for lvl in others
            if lvl.location_id in places and places[lvl.location_id].active
        ]
        return pick_transfer_source(crossing.reorder_quantity, candidates, policy.transfer_radius_km)


def _policy_payload(policy: ReplenishmentPolicy) -> dict[str, object]:
    return {
        "mode": policy.mode.value,
        "transfers": policy.transfers.value,
        "transferRadiusKm": policy.transfer_radius_km,
        "allowOverReceipt": policy.allow_over_receipt,
    }
