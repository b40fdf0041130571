"""openCase and the case's life: thread entries, status changes, assignment, claimNextCase.

`open` checks everything outside the transaction (role, shape, the customer, every link being that
customer's and visible to the caller), then one transaction stores the case and `CaseOpened`.
Idempotent on (customer, clientKey): a replay returns the stored case, different content under the
key is refused. Every later change re-reads the case in its transaction, lets the domain decide
(app/domain/cases.py), writes it guarded on its version and appends its events in the same
transaction (changes of one case queue in the process first, `KeyedLocks`, rather than collide in
MongoDB). `claim_next` is one findOneAndUpdate guarded on "unassigned", so two CSRs never get the
same case; it runs outside a transaction because concurrent reps all reach for the same most urgent
case, and carries its event in the same update until it is moved to the log (`log_claim`; the
scheduler sweeps claims whose claimer died in between), so every claim is audited exactly once.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from datetime import datetime

from app.domain.cases import (
    Case,
    CaseFilter,
    CaseKeyTaken,
    CaseLinks,
    CaseStatus,
    DuplicateCaseKey,
    EntryKind,
    OpenCase,
    PendingClaim,
    bump,
    case_event,
    case_number,
    check_body,
    entry_payload,
    new_entry,
    open_hash,
    start_sla,
    transition,
    validate_open,
    with_entry,
)
from app.domain.clock import utcnow
from app.domain.errors import Conflict, Forbidden, NotFound
from app.domain.events import Actor, DomainEvent
from app.domain.ids import new_id
from app.domain.principals import Principal, Role, actor_of
from app.repositories.cases import CaseRepository
from app.repositories.customers import CustomerRepository
from app.repositories.database import Mongo, Session
from app.repositories.events import EventRepository
from app.repositories.orders import OrderRepository
from app.repositories.returns import ReturnRepository
from app.repositories.shipments import ShipmentRepository
from app.services.case_access import QUEUE_WORKERS, STAFF, can_see_case, for_caller, scoped_filter
from app.services.case_sla import CaseSla
from app.services.contention import KeyedLocks

# Decides the case's next version and its events; raises a DomainError to refuse.
_Change = Callable[[Case, datetime], Awaitable[tuple[Case, list[DomainEvent]]]]


@dataclass(frozen=True, slots=True)
class Opened:
    case: Case
    replayed: bool  # this client key was used before with the same request


class CaseService:
    def __init__(
        self,
        *,
        mongo: Mongo,
        cases: CaseRepository,
        sla: CaseSla,
        customers: CustomerRepository,
        orders: OrderRepository,
        shipments: ShipmentRepository,
        returns: ReturnRepository,
        events: EventRepository,
        queue: KeyedLocks | None = None,
    ):
        self._queue = queue or KeyedLocks()
        self._mongo = mongo
        self._cases = cases
        self._sla = sla
        self._customers = customers
        self._orders = orders
        self._shipments = shipments
        self._returns = returns
        self._events = events

    # --- openCase ----------------------------------------------------------------------------------

    async def open(self, principal: Principal, request: OpenCase) -> Opened:
        validate_open(request)
        if principal.role is Role.WAREHOUSE:
            raise Forbidden("warehouses do not open cases")
        customer_id = await self._customer_of(principal, request)
        channel_id = await self._check_links(principal, customer_id, request.links)
        location_id = self._store_of(principal, request)
        digest = open_hash(request)
        stored = await self._cases.by_client_key(customer_id, request.client_key)
        if stored is not None:
            return self._replay(principal, stored, digest)
        actor = actor_of(principal)
        targets = await self._sla.targets(request.contact_channel, request.priority)
        at = utcnow()
        case_id = new_id()
        entries = ()
        if request.message:
            # The customer's account of why they got in touch, whoever typed it in.
            entries = (new_entry(EntryKind.MESSAGE, request.message.strip(), actor, at, from_customer=True),)
        case = Case(
            id=case_id, number=case_number(case_id), customer_id=customer_id, client_key=request.client_key.strip(),
            contact_channel=request.contact_channel, topic=request.topic, priority=request.priority, status=CaseStatus.NEW,
            subject=request.subject.strip(), links=request.links, sla=start_sla(targets, at), created_at=at, updated_at=at,
            opened_by=principal.subject, channel_id=channel_id, location_id=location_id, entries=entries,
            last_contact_at=at, input_hash=digest,
        )
        payload = {
            "subject": case.subject, "orderIds": list(case.links.order_ids), "shipmentIds": list(case.links.shipment_ids),
            "returnIds": list(case.links.return_ids), "firstResponseDue": case.sla.first_response_due.isoformat() if case.sla.first_response_due else None,
            "resolutionDue": case.sla.resolution_due.isoformat() if case.sla.resolution_due else None,
        }

        async def work(session: Session) -> Case:
            await self._cases.insert(case, session=session)
            await self._events.append([case_event(case, "CaseOpened", actor, at, payload)], session=session)
            return case

        try:
            return Opened(case=for_caller(principal, await self._mongo.transaction(work)), replayed=False)
        except CaseKeyTaken:
            again = await self._cases.by_client_key(customer_id, request.client_key)
            assert again is not None, "the key was taken by a committed case"
            return self._replay(principal, again, digest)

    # --- the thread and the status -----------------------------------------------------------------

    async def add_entry(self, principal: Principal, case_id: str, kind: EntryKind, body: str) -> Case:
        """A MESSAGE from anyone who sees the case (from CUSTOMER and CHANNEL callers: the customer's);
        a NOTE from staff only. ACTION entries are written by the order actions themselves."""
        text = check_body(body)
        if kind is EntryKind.ACTION:
            raise Forbidden("action entries are recorded by the actions taken from a case", field=("kind",))
        if kind is EntryKind.NOTE and principal.role not in STAFF:
            raise Forbidden("internal notes are for staff", field=("kind",))
        from_customer = principal.role in (Role.CUSTOMER, Role.CHANNEL)

        async def change(case: Case, at: datetime) -> tuple[Case, list[DomainEvent]]:
            actor = actor_of(principal)
            entry = new_entry(kind, text, actor, at, from_customer=from_customer)
            targets = await self._sla.targets(case.contact_channel, case.priority)
            after, moved = with_entry(case, entry, targets)
            events = [case_event(after, "CaseEntryAdded", actor, at, entry_payload(entry))]
            if moved is not None:
                events.append(case_event(after, "CaseStatusChanged", actor, at, {"from": case.status.value, "to": moved.value}))
            return after, events

        return await self._change(principal, case_id, change, roles=(*STAFF, Role.CUSTOMER, Role.CHANNEL), appends=True)

    async def set_status(self, principal: Principal, case_id: str, status: CaseStatus, reason: str | None) -> Case:
        """Staff move a case along its status machine (reopening within the window included)."""

        async def change(case: Case, at: datetime) -> tuple[Case, list[DomainEvent]]:
            targets = await self._sla.targets(case.contact_channel, case.priority)
            after = transition(case, status, at, targets)
            event = case_event(after, "CaseStatusChanged", actor_of(principal), at, {"from": case.status.value, "to": status.value}, reason)
            return after, [event]

        return await self._change(principal, case_id, change, roles=STAFF)

    async def assign(self, principal: Principal, case_id: str, assignee: str | None, reason: str | None = None) -> Case:
        """ADMIN, CSR: give the case to a rep (their principal subject), or back to the queue (null)."""
        wanted = (assignee or "").strip() or None
        if wanted is not None and len(wanted) > 200:
            raise Conflict("assignee is at most 200 characters", field=("assignee",))

        async def change(case: Case, at: datetime) -> tuple[Case, list[DomainEvent]]:
            if case.status not in (CaseStatus.NEW, CaseStatus.OPEN, CaseStatus.PENDING_CUSTOMER):
                raise Conflict(f"a {case.status} case is not in a queue", field=("caseId",))
            after = replace(case, assignee=wanted)
            event = case_event(after, "CaseAssigned", actor_of(principal), at, {"from": case.assignee, "to": wanted}, reason)
            return after, [event]

        return await self._change(principal, case_id, change, roles=QUEUE_WORKERS)

    async def claim_next(self, principal: Principal, selection: CaseFilter) -> Case | None:
        """The most urgent unassigned NEW or OPEN case matching `selection`, now the caller's; None when the queue is empty."""
        if principal.role not in QUEUE_WORKERS:
            raise Forbidden("only customer service claims cases from the queue")
        claim = PendingClaim(event_id=new_id(), role=principal.role.value, at=utcnow())
        claimed = await self._cases.claim_next(scoped_filter(principal, selection), principal.subject, claim)
        if claimed is None:
            return None
        await self.log_claim(claimed)
        return for_caller(principal, replace(claimed, pending_claim=None))

    async def log_claim(self, case: Case) -> bool:
        """Moves a claim's `CaseAssigned` event into the log, once (guarded on the pending claim)."""
        pending = case.pending_claim
        if pending is None or case.assignee is None:
            return False
        actor = Actor(subject=case.assignee, role=pending.role)
        event = replace(
            case_event(case, "CaseAssigned", actor, pending.at, {"from": None, "to": case.assignee, "claimed": True}), id=pending.event_id
        )

        async def work(session: Session) -> bool:
            if not await self._cases.settle_claim(case.id, pending.event_id, session=session):
                return False
            await self._events.append([event], session=session)
            return True

        return await self._mongo.transaction(work)

    async def log_pending_claims(self, older_than: datetime) -> int:
        """The scheduler's sweep: events of claims whose claimer died before logging them."""
        logged = 0
        for case in await self._cases.pending_claims(older_than):
            logged += await self.log_claim(case)
        return logged

    # --- helpers -----------------------------------------------------------------------------------

    async def _change(self, principal: Principal, case_id: str, change: _Change, *, roles: tuple[Role, ...], appends: bool = False) -> Case:
        """`appends`: the change adds one entry to the thread, written as a push."""
        write = self._cases.append_entry if appends else self._cases.replace

        async def work(session: Session) -> Case:
            case = await self._cases.get(case_id, session=session)
            if case is None or not can_see_case(principal, case):
                raise NotFound("no such case", field=("caseId",))
            if principal.role not in roles:
                raise Forbidden(f"role {principal.role} may not do this to a case", field=("caseId",))
            at = utcnow()
            after, events = await change(case, at)
            after = bump(after, at)
            if not await write(after, expected_version=case.version, session=session):
                raise Conflict(f"case {case.number} changed meanwhile; try again", field=("caseId",))
            await self._events.append(events, session=session)
            return after

        async with self._queue.hold([f"case:{case_id}"]):
            return for_caller(principal, await self._mongo.transaction(work))

    async def _customer_of(self, principal: Principal, request: OpenCase) -> str:
        """CUSTOMER: themself. Others name the customer, or a linked order implies them."""
        wanted = request.customer_id
        if principal.role is Role.CUSTOMER:
            if wanted not in (None, principal.customer_id) or principal.customer_id is None:
                raise NotFound("no such customer", field=("customerId",))
            wanted = principal.customer_id
        if wanted is None and request.links.order_ids:
            order = await self._orders.by_id(request.links.order_ids[0])
            wanted = order.customer_id if order is not None else None
        if wanted is None:
            raise NotFound("say which customer the case is about, or link one of their orders", field=("customerId",))
        found = await self._customers.by_ids([wanted])
        if not found:
            raise NotFound("no such customer", field=("customerId",))
        if principal.role is Role.CHANNEL and not request.links.order_ids:
            raise Forbidden("a channel opens cases about its own orders: link one", field=("orderIds",))
        return wanted

    async def _check_links(self, principal: Principal, customer_id: str, links: CaseLinks) -> str | None:
        """Every link must be the customer's (and visible to the caller); the case's sales channel is the
        caller's (CHANNEL) or the first linked order's."""
        orders = await self._orders.by_ids(list(links.order_ids)) if links.order_ids else []
        by_id = {o.id: o for o in orders}
        for n, order_id in enumerate(links.order_ids):
            order = by_id.get(order_id)
            if (
                order is None
                or order.customer_id != customer_id
                or (principal.role is not Role.STORE_STAFF and not principal.can_see_order(
                    customer_id=order.customer_id, channel_id=order.channel_id, location_ids=order.location_ids
                ))
            ):
                raise NotFound("no such order of this customer", field=("orderIds", str(n)))
        if links.shipment_ids:
            shipments = {s.id: s for s in await self._shipments.by_ids(list(links.shipment_ids))}
            for n, shipment_id in enumerate(links.shipment_ids):
                found = shipments.get(shipment_id)
                if found is None or found.customer_id != customer_id:
                    raise NotFound("no such shipment of this customer", field=("shipmentIds", str(n)))
        if links.return_ids:
            returns = {r.id: r for r in await self._returns.by_ids(list(links.return_ids))}
            for n, return_id in enumerate(links.return_ids):
                found_return = returns.get(return_id)
                if found_return is None or found_return.customer_id != customer_id:
                    raise NotFound("no such return of this customer", field=("returnIds", str(n)))
        if principal.role is Role.CHANNEL:
            return principal.channel_id
        return by_id[links.order_ids[0]].channel_id if links.order_ids else None

    @staticmethod
    def _store_of(principal: Principal, request: OpenCase) -> str | None:
        """Store staff open cases at one of their stores (the one they name, or their only one)."""
        wanted = request.location_id
        if principal.role is Role.STORE_STAFF:
            wanted = wanted or (next(iter(principal.location_ids)) if len(principal.location_ids) == 1 else None)
            if wanted is None:
                raise Forbidden("say at which of your stores the case is opened", field=("location",))
            principal.require_location(wanted)
        return wanted

    @staticmethod
    def _replay(principal: Principal, stored: Case, digest: str) -> Opened:
        if stored.input_hash != digest or not (can_see_case(principal, stored) or stored.opened_by == principal.subject):
            raise DuplicateCaseKey(f"a different case was opened under client key {stored.client_key}", field=("clientKey",))
        return Opened(case=for_caller(principal, stored), replayed=True)
