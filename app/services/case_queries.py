"""Reading cases, narrowed to the caller's scope; the customer's contact figures; the scope of `caseUpdated`."""

from __future__ import annotations

import dataclasses
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime

from app.domain.cases import CASE_AGGREGATE, Case, CaseFilter, CaseOrder, check_search
from app.domain.errors import Forbidden
from app.domain.events import DomainEvent, EventFilter
from app.domain.pagination import Page, PageRequest
from app.domain.principals import Principal, Role
from app.repositories.cases import CaseRepository
from app.services.case_access import can_see_case, for_caller, scoped_filter, sees_internal


@dataclass(frozen=True, slots=True)
class CustomerCasesKey:
    """One customer's page of cases: the key of the batched nested `Customer.cases` connection."""

    customer_id: str
    selection: CaseFilter
    page: PageRequest


@dataclass(frozen=True, slots=True)
class ContactFigures:
    open_cases: int
    last_contact_at: datetime | None


class CaseQueryService:
    def __init__(self, *, cases: CaseRepository):
        self._cases = cases

    async def by_ids(self, principal: Principal, ids: list[str]) -> list[Case]:
        return [for_caller(principal, c) for c in await self._cases.by_ids(ids) if can_see_case(principal, c)]

    async def page(self, principal: Principal, selection: CaseFilter, page: PageRequest, order: CaseOrder) -> Page[Case]:
        selection = dataclasses.replace(selection, text=check_search(selection.text))
        found = await self._cases.page(scoped_filter(principal, selection), page, order)
        return dataclasses.replace(found, items=[for_caller(principal, c) for c in found.items])

    async def for_orders(self, principal: Principal, order_ids: list[str]) -> dict[str, list[Case]]:
        found = await self._cases.for_orders(order_ids)
        return {o: [for_caller(principal, c) for c in cases if can_see_case(principal, c)] for o, cases in found.items()}

    async def pages_for_customers(self, principal: Principal, keys: list[CustomerCasesKey]) -> list[Page[Case]]:
        results: dict[CustomerCasesKey, Page[Case]] = {}
        groups: dict[tuple[CaseFilter, PageRequest], list[str]] = defaultdict(list)
        for key in keys:
            if principal.can_see_customer(key.customer_id):
                groups[(key.selection, key.page)].append(key.customer_id)
            else:
                results[key] = Page(items=[], cursors=[], has_next_page=False)
        for (selection, page), customer_ids in groups.items():
            scoped = scoped_filter(principal, dataclasses.replace(selection, customer_id=None, text=check_search(selection.text)))
            pages = await self._cases.pages_by_customer(customer_ids, scoped, page)
            for customer_id in customer_ids:
                found = pages[customer_id]
                results[CustomerCasesKey(customer_id, selection, page)] = dataclasses.replace(
                    found, items=[for_caller(principal, c) for c in found.items]
                )
        return [results[key] for key in keys]

    async def contact_figures(self, principal: Principal, customer_ids: list[str]) -> dict[str, ContactFigures]:
        """Open case count and last contact, for customers the caller may see (zero and null otherwise)."""
        visible = [c for c in customer_ids if principal.can_see_customer(c)]
        found = await self._cases.contact_figures(visible) if visible else {}
        return {c: ContactFigures(*found.get(c, (0, None))) for c in customer_ids}

    async def event_scope(self, principal: Principal, selection: EventFilter, case_id: str | None) -> EventFilter:
        """The scoped selection for `caseUpdated`. A named case must be visible (Forbidden otherwise)."""
        selection = dataclasses.replace(selection, aggregate_types=frozenset({CASE_AGGREGATE}))
        if case_id is not None:
            found = await self._cases.get(case_id)
            if found is None or not can_see_case(principal, found):
                raise Forbidden("not allowed to follow this case", field=("caseId",))
            return dataclasses.replace(selection, customer_ids=frozenset({found.customer_id}))
        match principal.role:
            case Role.ADMIN | Role.CSR:
                return selection
            case Role.STORE_STAFF:
                if not principal.location_ids or not selection.location_ids <= principal.location_ids:
                    raise Forbidden("store staff follow cases of their own stores", field=("location",))
                return dataclasses.replace(selection, location_ids=selection.location_ids or principal.location_ids)
            case Role.CUSTOMER:
                if principal.customer_id is None or not selection.customer_ids <= {principal.customer_id}:
                    raise Forbidden("customers follow their own cases", field=("customerId",))
                return dataclasses.replace(selection, customer_ids=frozenset({principal.customer_id}))
            case Role.CHANNEL:
                if principal.channel_id is None or not selection.channel_ids <= {principal.channel_id}:
                    raise Forbidden("a channel follows its own cases", field=("channel",))
                return dataclasses.replace(selection, channel_ids=frozenset({principal.channel_id}))
        raise Forbidden("not allowed to follow cases")

    @staticmethod
    def shows_event(principal: Principal, event: DomainEvent) -> bool:
        """Internal entries (notes, order actions) never reach CUSTOMER or CHANNEL subscribers."""
        return sees_internal(principal) or not event.payload.get("internal")
