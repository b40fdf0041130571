"""Per-request DataLoaders, named <Entity>By<Key>. Each batches one key set into one query and
applies the caller's scope through the services, so nested fields cannot leak what `node` would hide."""

from __future__ import annotations

import functools
from datetime import datetime
from asyncio import Future
from collections.abc import Hashable
from typing import Any, Awaitable, Callable, Sequence, TypeVar

from strawberry.dataloader import DataLoader

from app.domain.channels import Channel
from app.domain.customers import Customer, LifetimeFigures
from app.domain.events import DomainEvent
from app.domain.inventory import InventoryLevel
from app.domain.locations import Location
from app.domain.orders import Order
from app.domain.pagination import Page
from app.domain.principals import Principal
from app.domain.products import Product
from app.domain.purchase_orders import PurchaseOrder
from app.services.container import Services
from app.domain.shipments import Shipment
from app.services.orders import CustomerOrdersKey
from app.domain.returns import Return
from app.domain.exchanges import Exchange
from app.domain.refunds import Refund
from app.services.return_queries import CustomerReturnsKey
from app.domain.cases import Case
from app.services.case_queries import ContactFigures, CustomerCasesKey

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


def _by_key(
    fetch: Callable[[list[K]], Awaitable[Sequence[V]]], key_of: Callable[[V], K]
) -> Callable[[list[K]], Awaitable[list[V | None]]]:
    async def load(keys: list[K]) -> list[V | None]:
        found = {key_of(item): item for item in await fetch(list(dict.fromkeys(keys)))}
        return [found.get(key) for key in keys]

    return load


def _from_mapping(
    fetch: Callable[[list[K]], Awaitable[dict[K, V]]], default: Callable[[], V]
) -> Callable[[list[K]], Awaitable[list[V]]]:
    async def load(keys: list[K]) -> list[V]:
        found = await fetch(list(dict.fromkeys(keys)))
        return [found.get(key, default()) for key in keys]

    return load


class Loaders:
    """Each loader is made on first use: most operations touch one or two of them."""

    def __init__(self, services: Services, principal: Principal):
        self._services = services
        self._principal = principal

    def release(self) -> None:
        """Drops every loader made so far, with its cache (graphql_schema/request_end.py). A failed
        load's exception loses its traceback, whose frames hold the loader's batch and so its future:
        a cycle that would keep the batch's results alive until the cycle collector ran. An operation
        still running (another one on the same WebSocket) loads afresh: the cache is per operation."""
        for name, value in list(vars(self).items()):
            if isinstance(value, DataLoader):
                del self.__dict__[name]
                _release(value)

    def _scoped(self, fetch: Callable[[Principal, list[K]], Awaitable[V]]) -> Callable[[list[K]], Awaitable[V]]:
        return functools.partial(fetch, self._principal)

    @functools.cached_property
    def channel_by_id(self) -> DataLoader[str, Channel | None]:
        return DataLoader(_by_key(self._services.catalog.channels_by_ids, lambda c: c.id))

    @functools.cached_property
    def location_by_id(self) -> DataLoader[str, Location | None]:
        return DataLoader(_by_key(self._services.catalog.locations_by_ids, lambda loc: loc.id))

    @functools.cached_property
    def product_by_sku(self) -> DataLoader[str, Product | None]:
        return DataLoader(_by_key(self._services.catalog.products_by_skus, lambda p: p.sku))

    @functools.cached_property
    def customer_by_id(self) -> DataLoader[str, Customer | None]:
        return DataLoader(_by_key(self._scoped(self._services.customers.by_ids), lambda c: c.id))

    @functools.cached_property
    def order_by_id(self) -> DataLoader[str, Order | None]:
        return DataLoader(_by_key(self._scoped(self._services.orders.by_ids), lambda o: o.id))

    @functools.cached_property
    def lifetime_figures_by_customer(self) -> DataLoader[str, LifetimeFigures]:
        return DataLoader(_from_mapping(self._scoped(self._services.customers.lifetime_figures), LifetimeFigures.empty))

    @functools.cached_property
    def timeline_by_order(self) -> DataLoader[str, list[DomainEvent]]:
        return DataLoader(_from_mapping(self._scoped(self._services.orders.timelines), list))

    @functools.cached_property
    def inventory_by_sku_location(self) -> DataLoader[tuple[str, str], InventoryLevel | None]:
        return DataLoader(
            _by_key(self._scoped(self._services.inventory.levels_by_keys), lambda lvl: (lvl.sku, lvl.location_id))
        )

    @functools.cached_property
    def shipment_by_id(self) -> DataLoader[str, Shipment | None]:
        return DataLoader(_by_key(self._scoped(self._services.shipments.by_ids), lambda s: s.id))

    @functools.cached_property
    def shipments_by_order(self) -> DataLoader[str, list[Shipment]]:
        return DataLoader(_from_mapping(self._scoped(self._services.shipments.for_orders), list))

    @functools.cached_property
    def orders_page_by_customer(self) -> DataLoader[CustomerOrdersKey, Page[Order]]:
        return DataLoader(self._scoped(self._services.orders.pages_for_customers))

    @functools.cached_property
    def return_by_id(self) -> DataLoader[str, Return | None]:
        return DataLoader(_by_key(self._scoped(self._services.return_queries.by_ids), lambda r: r.id))

    @functools.cached_property
    def returns_by_order(self) -> DataLoader[str, list[Return]]:
        return DataLoader(_from_mapping(self._scoped(self._services.return_queries.for_orders), list))

    @functools.cached_property
    def returns_page_by_customer(self) -> DataLoader[CustomerReturnsKey, Page[Return]]:
        return DataLoader(self._scoped(self._services.return_queries.pages_for_customers))

    @functools.cached_property
    def refund_by_id(self) -> DataLoader[str, Refund | None]:
        return DataLoader(_by_key(self._scoped(self._services.refunds.by_ids), lambda r: r.id))

    @functools.cached_property
    def refunds_by_order(self) -> DataLoader[str, list[Refund]]:
        return DataLoader(_from_mapping(self._scoped(self._services.refunds.for_orders), list))

    @functools.cached_property
    def refund_by_return(self) -> DataLoader[str, Refund | None]:
        return DataLoader(_from_mapping(self._scoped(self._services.refunds.for_returns), lambda: None))

    @functools.cached_property
    def exchange_by_id(self) -> DataLoader[str, Exchange | None]:
        return DataLoader(_by_key(self._scoped(self._services.exchanges.by_ids), lambda e: e.id))

    @functools.cached_property
    def exchange_by_return(self) -> DataLoader[str, Exchange | None]:
        return DataLoader(_from_mapping(self._scoped(self._services.exchanges.for_returns), lambda: None))

    @functools.cached_property
    def exchange_by_replacement_order(self) -> DataLoader[str, Exchange | None]:
        return DataLoader(_from_mapping(self._scoped(self._services.exchanges.for_replacement_orders), lambda: None))

    @functools.cached_property
    def case_by_id(self) -> DataLoader[str, Case | None]:
        return DataLoader(_by_key(self._scoped(self._services.case_queries.by_ids), lambda c: c.id))

    @functools.cached_property
    def cases_by_order(self) -> DataLoader[str, list[Case]]:
        return DataLoader(_from_mapping(self._scoped(self._services.case_queries.for_orders), list))

    @functools.cached_property
    def cases_page_by_customer(self) -> DataLoader[CustomerCasesKey, Page[Case]]:
        return DataLoader(self._scoped(self._services.case_queries.pages_for_customers))

    @functools.cached_property
    def contact_figures_by_customer(self) -> DataLoader[str, ContactFigures]:
        return DataLoader(_from_mapping(self._scoped(self._services.case_queries.contact_figures), lambda: ContactFigures(0, None)))

    # Replenishment (issue 15).

    @functools.cached_property
    def purchase_order_by_id(self) -> DataLoader[str, PurchaseOrder | None]:
        return DataLoader(_by_key(self._scoped(self._services.purchase_orders.by_ids), lambda po: po.id))

    @functools.cached_property
    def open_purchase_orders_by_sku(self) -> DataLoader[str, list[PurchaseOrder]]:
        async def load(skus: list[str]) -> list[list[PurchaseOrder]]:
            found = await self._services.purchase_orders.open_for_skus(self._principal, list(dict.fromkeys(skus)))
            return [[po for po in found if any(line.sku == sku and line.open_quantity > 0 for line in po.lines)] for sku in skus]

        return DataLoader(load)

    @functools.cached_property
    def promise_date_by_sku(self) -> DataLoader[str, datetime | None]:
        async def load(skus: list[str]) -> list[datetime | None]:
            dates = await self._services.purchase_orders.promise_dates(list(dict.fromkeys(skus)))
            return [dates.get(sku) for sku in skus]

        return DataLoader(load)


def _release(loader: DataLoader[Any, Any]) -> None:
    cached: dict[Any, Future[Any]] = getattr(loader.cache_map, "cache_map", {})
    batch = loader.batch
    for future in [*cached.values(), *(task.future for task in (batch.tasks if batch is not None else ()))]:
        if future.done() and not future.cancelled() and future.exception() is not None:
            future.exception().__traceback__ = None  # type: ignore[union-attr]
    cached.clear()
    loader.batch = None
