"""Customer 360°: profile, identities across channels and lifetime figures, scoped to the caller;
creating and updating customers (upsertCustomer, and the bulk importer row by row).

An upsert is one transaction: read the customer, apply the draft (app.domain.customers
`customer_from_draft`), check that every email, phone and channel identity it gains is nobody
else's, write it, release the keys it dropped and claim the ones it holds in `customer_keys`,
append `CustomerCreated` / `CustomerUpdated`. A draft that changes nothing writes nothing. Safe to
retry: a repeated upsert finds its own earlier write and changes nothing.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import TypeVar

from app.domain.clock import utcnow
from app.domain.customers import (
    Customer,
    CustomerDraft,
    CustomerKeyTaken,
    LifetimeFigures,
    changed_fields,
    customer_from_draft,
    customer_keys,
    key_field,
)
from app.domain.customer_import import with_row_added
from app.domain.errors import Conflict, Forbidden, InvalidInput, NotFound, Validator
from app.domain.events import Actor, DomainEvent
from app.domain.ids import new_id
from app.domain.pagination import Page, PageRequest
from app.domain.principals import Principal, Role, actor_of
from app.repositories.api_keys import ApiKeyRepository
from app.repositories.channels import ChannelRepository
from app.repositories.customers import CustomerRepository
from app.repositories.database import Mongo, Session
from app.repositories.events import EventRepository
from app.repositories.orders import OrderRepository
from app.repositories.shipments import ShipmentRepository
from app.services.customer_merges import CustomerMerges, CustomersMerged

# Who keeps customers' details current: a call-centre rep does it on the phone, an admin in bulk.
CUSTOMER_EDITORS = (Role.ADMIN, Role.CSR)
MAX_REASON = 500
# A key claimed by a concurrent transaction that committed first: run again, and the second run
# reports whose it is (or matches the new customer, for an import).
_KEY_RACE_ATTEMPTS = 4
_BACKOFF_SECONDS = 0.005

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class CustomerUpsert:
    """The customer as stored after an upsert; `changed` lists the draft fields that changed
    (empty: nothing was written and no event appended)."""

    customer: Customer
    created: bool
    changed: tuple[str, ...]


class CustomerService:
    def __init__(
        self,
        *,
        customers: CustomerRepository,
        mongo: Mongo,
        channels: ChannelRepository,
        orders: OrderRepository,
        shipments: ShipmentRepository,
        api_keys: ApiKeyRepository,
        events: EventRepository,
    ):
        self._customers = customers
        self._mongo = mongo
        self._channels = channels
        self._events = events
        self._merges = CustomerMerges(
            mongo=mongo, customers=customers, orders=orders, shipments=shipments, api_keys=api_keys, events=events
        )

    async def by_ids(self, principal: Principal, ids: list[str]) -> list[Customer]:
        """Only the live customers the caller may see; the rest (merged ones included) are simply
        absent (no existence leak). `node(id)` and nested fields read this: an object is returned
        only under its own id."""
        visible = [customer_id for customer_id in ids if principal.can_see_customer(customer_id)]
        return await self._customers.by_ids(visible) if visible else []

    async def get(self, principal: Principal, customer_id: str) -> Customer | None:
        """`customer(id)`: the customer, or, for the id of one merged into another, the survivor
        (one hop: merges keep every tombstone pointing at a live customer). Null when the caller
        may not see the customer returned, whatever id it was asked by (so a customer's re-pointed
        key may still use its old id, and nobody learns whether an id they may not see exists)."""
        if principal.role is not Role.CUSTOMER and not principal.can_see_customer(customer_id):
            return None
        found = await self._customers.by_ids([customer_id], include_merged=True)
        customer = found[0] if found else None
        if customer is not None and customer.merged_into is not None:
            survivors = await self._customers.by_ids([customer.merged_into])
            customer = survivors[0] if survivors else None
        return customer if customer is not None and principal.can_see_customer(customer.id) else None

    async def search(self, principal: Principal, text: str | None, page: PageRequest) -> Page[Customer]:
        if principal.role not in (Role.ADMIN, Role.CSR):
            raise Forbidden("only customer service and admins may search customers")
        return await self._customers.search(text, page)

    async def lifetime_figures(self, principal: Principal, ids: list[str]) -> dict[str, LifetimeFigures]:
        visible = [customer_id for customer_id in ids if principal.can_see_customer(customer_id)]
        return await self._customers.lifetime_figures(visible) if visible else {}

    async def upsert(
        self, principal: Principal, draft: CustomerDraft, *, customer_id: str | None = None, reason: str | None = None
    ) -> CustomerUpsert:
        """Creates a customer (no `customer_id`) or updates one. ADMIN and CSR (Forbidden otherwise,
        before anything is read). InvalidInput with every issue (paths relative to the draft;
        unknown channels at ("identities", i, "channel")); NotFound ("id") for an unknown
        customer; Conflict ("id") for a merged one; Conflict naming the field ("email", "phone",
        ("identities", i)) when another customer holds that key. Nothing is written on refusal."""
        principal.require_role(*CUSTOMER_EDITORS)
        await self._check(draft, reason, current_id=customer_id)
        actor, at = actor_of(principal), utcnow()
        return await self._retrying(
            lambda session: self._upsert_in(session, draft, customer_id=customer_id, match=False, actor=actor, at=at, reason=reason)
        )

    async def import_customer(self, principal: Principal, draft: CustomerDraft, *, reason: str | None = None) -> CustomerUpsert:
        """One row of a bulk import (CSV / JSON Lines), idempotent on re-run: the row updates the
        customer capture would match it to — by one of its channel identities, else its email,
        else its phone — or creates one. Its addresses and identities are added to the matched
        customer's (`with_row_added`: Conflict on a channel the customer is known on by another
        id). The same rules, errors and events as `upsert`; a row that changes nothing writes nothing."""
        principal.require_role(*CUSTOMER_EDITORS)
        await self._check(draft, reason, current_id=None)
        actor, at = actor_of(principal), utcnow()
        return await self._retrying(
            lambda session: self._upsert_in(session, draft, customer_id=None, match=True, actor=actor, at=at, reason=reason)
        )

    async def merge(self, principal: Principal, *, survivor_id: str, merged_id: str, reason: str) -> CustomersMerged:
        """mergeCustomers (app/services/customer_merges.py): ADMIN only; one transaction."""
        return await self._merges.merge(principal, survivor_id=survivor_id, merged_id=merged_id, reason=reason)

    async def _check(self, draft: CustomerDraft, reason: str | None, *, current_id: str | None) -> None:
        """What can be refused before the transaction: the draft's own fields (against the stored
        customer, read without a transaction; the transaction applies the draft again), the
        channels its identities name, the reason."""
        current = None
        if current_id is not None:
            found = await self._customers.by_ids([current_id], include_merged=True)
            current = _live(found[0] if found else None)
        built = customer_from_draft(draft, current=current, customer_id=current_id or "new", at=utcnow())
        check = Validator(issues=[] if isinstance(built, Customer) else list(built))
        if reason is not None:
            check.check(len(reason) <= MAX_REASON, f"is longer than {MAX_REASON} characters", "reason")
        wanted = sorted({i.channel_id.strip() for i in draft.identities or () if i.channel_id.strip()})
        if wanted:
            known = {channel.id for channel in await self._channels.by_ids(wanted)}
            for index, identity in enumerate(draft.identities or ()):
                channel = identity.channel_id.strip()
                if channel and channel not in known:
                    check.add(f"unknown channel {channel!r}", "identities", index, "channel")
        check.raise_if_any()

    async def _upsert_in(
        self,
        session: Session,
        draft: CustomerDraft,
        *,
        customer_id: str | None,
        match: bool,
        actor: Actor,
        at: datetime,
        reason: str | None,
    ) -> CustomerUpsert:
        current = await self._current(session, draft, customer_id=customer_id, match=match, at=at)
        if match and current is not None:
            draft = with_row_added(draft, current)
        built = customer_from_draft(draft, current=current, customer_id=new_id(), at=at)
        if not isinstance(built, Customer):
            raise InvalidInput(built)
        changed = changed_fields(current, built)
        if current is not None and built == current:
            return CustomerUpsert(customer=current, created=False, changed=())
        gained = set(customer_keys(built)) - set(customer_keys(current) if current else ())
        taken = await self._customers.keys_owned_by_others(built, gained, session=session)
        if taken:
            fields = sorted(key_field(built, key) for key in taken)
            raise Conflict(
                "already belongs to another customer: " + ", ".join(".".join(f) for f in fields),
                field=fields[0],
            )
        await self._customers.save(current, built, session=session)
        await self._events.append([_changed_event(current, built, changed, actor, at, reason)], session=session)
        return CustomerUpsert(customer=built, created=current is None, changed=changed)

    async def _current(
        self, session: Session, draft: CustomerDraft, *, customer_id: str | None, match: bool, at: datetime
    ) -> Customer | None:
        if customer_id is not None:
            found = await self._customers.by_ids([customer_id], session=session, include_merged=True)
            return _live(found[0] if found else None)
        if not match:
            return None
        wanted = customer_from_draft(draft, current=None, customer_id="", at=at)
        if not isinstance(wanted, Customer):
            raise InvalidInput(wanted)
        for identity in wanted.identities:
            found = await self._customers.match(identity=identity, email=None, phone=None, session=session)
            if found is not None:
                return found
        return await self._customers.match(identity=None, email=wanted.email, phone=wanted.phone, session=session)

    async def _retrying(self, work: Callable[[Session], Awaitable[T]]) -> T:
        for attempt in range(_KEY_RACE_ATTEMPTS):
            try:
                return await self._mongo.transaction(work)
            except CustomerKeyTaken:
                await asyncio.sleep(random.uniform(0, _BACKOFF_SECONDS * 2**attempt))  # noqa: S311
        raise Conflict("another change to the same customer keys kept winning; try again")


def _live(customer: Customer | None) -> Customer:
    if customer is None:
        raise NotFound("no such customer", field=("id",))
    if customer.merged_into is not None:
        raise Conflict("this customer was merged into another; change the surviving customer", field=("id",))
    return customer


def _changed_event(
    before: Customer | None, after: Customer, changed: tuple[str, ...], actor: Actor, at: datetime, reason: str | None
) -> DomainEvent:
    """What changed, by field name. Values only for what customer events have always carried
    (email, phone) and the channel identities (ids the channels gave): names and addresses are
    named, never copied into the log."""
    payload: dict[str, object] = {"changed": list(changed)}
    if before is None or "email" in changed:
        payload["email"] = after.email
    if before is None or "phone" in changed:
        payload["phone"] = after.phone
    old = set(before.identities) if before else set()
    added = [i for i in after.identities if i not in old]
    removed = [i for i in (before.identities if before else ()) if i not in after.identities]
    if added:
        payload["identitiesAdded"] = [{"channel": i.channel_id, "externalId": i.external_id} for i in added]
    if removed:
        payload["identitiesRemoved"] = [{"channel": i.channel_id, "externalId": i.external_id} for i in removed]
    return DomainEvent(
        id=new_id(),
        type="CustomerCreated" if before is None else "CustomerUpdated",
        aggregate_type="Customer",
        aggregate_id=after.id,
        at=at,
        actor=actor,
        payload=payload,
        reason=reason,
        customer_id=after.id,
    )
