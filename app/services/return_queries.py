"""Reading returns, narrowed to what the caller's role and scope allow; and the scope of `returnUpdated`."""

from __future__ import annotations

import dataclasses
from collections import defaultdict
from dataclasses import dataclass
from app.domain.errors import Forbidden
from app.domain.events import EventFilter
from app.domain.pagination import Page, PageRequest
from app.domain.principals import Principal, Role
from app.domain.returns import Return, ReturnFilter
from app.repositories.returns import ReturnRepository
from app.services.events import EventService

RETURN_AGGREGATE = "Return"


def can_see_return(principal: Principal, ret: Return) -> bool:
    """Whoever may see the order (admins, CSRs, its customer and channel) sees its returns; location staff
    see the returns coming to, or received at, their locations."""
    if principal.role in (Role.ADMIN, Role.CSR, Role.CUSTOMER, Role.CHANNEL):
        return principal.can_see_order(customer_id=ret.customer_id, channel_id=ret.channel_id, location_ids=frozenset())
    if principal.role in (Role.STORE_STAFF, Role.WAREHOUSE):
        return ret.location_id is not None and ret.location_id in principal.location_ids
    return False


def scoped_filter(principal: Principal, selection: ReturnFilter) -> ReturnFilter:
    """AND the caller's scope into a filter: it can only narrow a selection."""
    match principal.role:
        case Role.ADMIN | Role.CSR:
            return selection
        case Role.STORE_STAFF | Role.WAREHOUSE:
            wanted = set(selection.location_ids) or set(principal.location_ids)
            if not principal.location_ids or not wanted <= principal.location_ids:
                raise Forbidden("not allowed to list returns of other locations", field=("filter", "locations"))
            return dataclasses.replace(selection, location_ids=tuple(sorted(wanted)))
        case Role.CUSTOMER:
            if principal.customer_id is None or selection.customer_id not in (None, principal.customer_id):
                raise Forbidden("customers may only list their own returns", field=("filter", "customerId"))
            return dataclasses.replace(selection, customer_id=principal.customer_id)
        case Role.CHANNEL:
            if principal.channel_id is None or (selection.channel_ids and set(selection.channel_ids) != {principal.channel_id}):
                raise Forbidden("a channel may only list its own returns", field=("filter", "channels"))
            return dataclasses.replace(selection, channel_ids=(principal.channel_id,))
    raise Forbidden("not allowed to list returns")


@dataclass(frozen=True, slots=True)
class CustomerReturnsKey:
    """One customer's page of returns: the key of the batched nested `Customer.returns` connection."""

    customer_id: str
    selection: ReturnFilter
    page: PageRequest


class ReturnQueryService:
    def __init__(self, *, returns: ReturnRepository, events: EventService):
        self._returns = returns
        self._events = events

    async def by_ids(self, principal: Principal, ids: list[str]) -> list[Return]:
        return [r for r in await self._returns.by_ids(ids) if can_see_return(principal, r)]

    async def get(self, principal: Principal, return_id: str) -> Return | None:
        found = await self.by_ids(principal, [return_id])
        return found[0] if found else None

    async def page(self, principal: Principal, selection: ReturnFilter, page: PageRequest) -> Page[Return]:
        return await self._returns.page(scoped_filter(principal, selection), page)

    async def for_orders(self, principal: Principal, order_ids: list[str]) -> dict[str, list[Return]]:
        """One query for many orders (the `Order.returns` DataLoader)."""
        found = await self._returns.for_orders(order_ids)
        return {order_id: [r for r in rets if can_see_return(principal, r)] for order_id, rets in found.items()}

    async def pages_for_customers(self, principal: Principal, keys: list[CustomerReturnsKey]) -> list[Page[Return]]:
        """Many customers' first pages in one query per distinct (filter, page)."""
        results: dict[CustomerReturnsKey, Page[Return]] = {}
        groups: dict[tuple[ReturnFilter, PageRequest], list[str]] = defaultdict(list)
        for key in keys:
            if principal.can_see_customer(key.customer_id):
                groups[(key.selection, key.page)].append(key.customer_id)
            else:
                results[key] = Page(items=[], cursors=[], has_next_page=False)
        for (selection, page), customer_ids in groups.items():
            scoped = scoped_filter(principal, dataclasses.replace(selection, customer_id=None))
            pages = await self._returns.pages_by_customer(customer_ids, scoped, page)
            for customer_id in customer_ids:
                results[CustomerReturnsKey(customer_id, selection, page)] = pages[customer_id]
        return [results[key] for key in keys]

    async def event_scope(self, principal: Principal, selection: EventFilter, return_id: str | None) -> tuple[EventFilter, str | None]:
        """The scoped selection for `returnUpdated`, and the return to follow when one is named.

        A named return must be visible (Forbidden otherwise); its events are then selected by its order
        (indexed) and its id. Without one, the caller's scope narrows the selection as for any event."""
        selection = dataclasses.replace(selection, aggregate_types=frozenset({RETURN_AGGREGATE}))
        if return_id is None:
            return await self._events.scoped(principal, selection), None
        found = await self._returns.get(return_id)
        if found is None or not can_see_return(principal, found):
            raise Forbidden("not allowed to follow this return", field=("returnId",))
        if selection.order_ids and selection.order_ids != {found.order_id}:
            raise Forbidden("the return belongs to another order", field=("orderId",))
        return dataclasses.replace(selection, order_ids=frozenset({found.order_id})), found.id
