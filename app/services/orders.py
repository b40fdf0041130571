"""Reading orders, narrowed to what the caller's role and scope allow."""

from __future__ import annotations

import dataclasses
from collections import defaultdict
from dataclasses import dataclass

from app.domain.errors import Forbidden
from app.domain.events import DomainEvent
from app.domain.orders import Order, OrderFilter
from app.domain.pagination import Page, PageRequest
from app.domain.principals import Principal, Role
from app.repositories.events import EventRepository
from app.repositories.orders import OrderRepository


def scoped_filter(principal: Principal, selection: OrderFilter) -> OrderFilter:
    """AND the caller's scope into a filter. A scope can only narrow, never widen, a selection."""
    match principal.role:
        case Role.ADMIN | Role.CSR:
            return selection
        case Role.CUSTOMER:
            if principal.customer_id is None:
                raise Forbidden("not allowed to list orders")
            if selection.customer_id not in (None, principal.customer_id):
                raise Forbidden("customers may only list their own orders", field=("filter", "customerId"))
            return dataclasses.replace(selection, customer_id=principal.customer_id)
        case Role.CHANNEL:
            if principal.channel_id is None:
                raise Forbidden("not allowed to list orders")
            if selection.channel_ids and set(selection.channel_ids) != {principal.channel_id}:
                raise Forbidden("a channel may only list its own orders", field=("filter", "channels"))
            return dataclasses.replace(selection, channel_ids=(principal.channel_id,))
        case Role.STORE_STAFF | Role.WAREHOUSE:
            if not principal.location_ids:
                raise Forbidden("not allowed to list orders")
            wanted = set(selection.location_ids) or set(principal.location_ids)
            if not wanted <= principal.location_ids:
                raise Forbidden("not allowed to list orders of other locations", field=("filter", "locations"))
            return dataclasses.replace(selection, location_ids=tuple(sorted(wanted)))
    raise Forbidden("not allowed to list orders")


@dataclass(frozen=True, slots=True)
class CustomerOrdersKey:
    """One customer's page of orders: the key of the batched nested `Customer.orders` connection."""

    customer_id: str
    selection: OrderFilter
    page: PageRequest
    # Whether the orders carry their routing explanation (a large part of each stored order).
    with_routing: bool = True


class OrderQueryService:
    def __init__(self, *, orders: OrderRepository, events: EventRepository):
        self._orders = orders
        self._events = events

    async def by_ids(self, principal: Principal, ids: list[str]) -> list[Order]:
        orders = await self._orders.by_ids(ids)
        return [order for order in orders if self.visible(principal, order)]

    async def by_external_id(self, principal: Principal, channel_id: str, external_id: str) -> Order | None:
        order = await self._orders.by_external_id(channel_id, external_id)
        return order if order and self.visible(principal, order) else None

    async def page(
        self, principal: Principal, selection: OrderFilter, page: PageRequest, *, with_routing: bool = True
    ) -> Page[Order]:
        """`with_routing=False`: the orders come without their routing explanation (`routing` is None),
        for lists that do not show it. Such orders are for reading only, never for writing back."""
        return await self._orders.page(scoped_filter(principal, selection), page, with_routing=with_routing)

    async def pages_for_customers(self, principal: Principal, keys: list[CustomerOrdersKey]) -> list[Page[Order]]:
        """Many customers' first pages in one query per distinct (filter, page) instead of one per customer."""
        results: dict[CustomerOrdersKey, Page[Order]] = {}
        groups: dict[tuple[OrderFilter, PageRequest, bool], list[str]] = defaultdict(list)
        for key in keys:
            # Only for customers the caller may see at all: defence in depth, should a Customer object
            # ever reach a caller by another path than the scoped loaders.
            if principal.can_see_customer(key.customer_id):
                groups[(key.selection, key.page, key.with_routing)].append(key.customer_id)
            else:
                results[key] = Page(items=[], cursors=[], has_next_page=False)
        for (selection, page, with_routing), customer_ids in groups.items():
            scoped = scoped_filter(principal, dataclasses.replace(selection, customer_id=None))
            pages = await self._orders.pages_by_customer(customer_ids, scoped, page, with_routing=with_routing)
            for customer_id in customer_ids:
                results[CustomerOrdersKey(customer_id, selection, page, with_routing)] = pages[customer_id]
        return [results[key] for key in keys]

    async def timelines(self, principal: Principal, order_ids: list[str]) -> dict[str, list[DomainEvent]]:
        visible = [order.id for order in await self.by_ids(principal, order_ids)]
        return await self._events.for_orders(visible) if visible else {}

    @staticmethod
    def visible(principal: Principal, order: Order) -> bool:
        return principal.can_see_order(
            customer_id=order.customer_id, channel_id=order.channel_id, location_ids=order.location_ids
        )
