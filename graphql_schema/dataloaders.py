"""Per-request DataLoaders, named <Entity>By<Key>. Each batches one key set into one query and
applies the caller's scope through the services, so nested fields cannot leak what `node` would hide."""

from __future__ import annotations

import functools
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
from app.services.container import Services
from app.domain.shipments import Shipment
from app.services.orders import CustomerOrdersKey

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
    def __init__(self, services: Services, principal: Principal):
        def scoped(fetch: Callable[[Principal, list[K]], Awaitable[V]]) -> Callable[[list[K]], Awaitable[V]]:
            return functools.partial(fetch, principal)

        self.channel_by_id: DataLoader[str, Channel | None] = DataLoader(
            _by_key(services.catalog.channels_by_ids, lambda c: c.id)
        )
        self.location_by_id: DataLoader[str, Location | None] = DataLoader(
            _by_key(services.catalog.locations_by_ids, lambda loc: loc.id)
        )
        self.product_by_sku: DataLoader[str, Product | None] = DataLoader(
            _by_key(services.catalog.products_by_skus, lambda p: p.sku)
        )
        self.customer_by_id: DataLoader[str, Customer | None] = DataLoader(
            _by_key(scoped(services.customers.by_ids), lambda c: c.id)
        )
        self.order_by_id: DataLoader[str, Order | None] = DataLoader(
            _by_key(scoped(services.orders.by_ids), lambda o: o.id)
        )
        self.lifetime_figures_by_customer: DataLoader[str, LifetimeFigures] = DataLoader(
            _from_mapping(scoped(services.customers.lifetime_figures), LifetimeFigures.empty)
        )
        self.timeline_by_order: DataLoader[str, list[DomainEvent]] = DataLoader(
            _from_mapping(scoped(services.orders.timelines), list)
        )
        self.inventory_by_sku_location: DataLoader[tuple[str, str], InventoryLevel | None] = DataLoader(
            _by_key(scoped(services.inventory.levels_by_keys), lambda lvl: (lvl.sku, lvl.location_id))
        )
        self.shipment_by_id: DataLoader[str, Shipment | None] = DataLoader(
            _by_key(scoped(services.shipments.by_ids), lambda s: s.id)
        )
        self.shipments_by_order: DataLoader[str, list[Shipment]] = DataLoader(
            _from_mapping(scoped(services.shipments.for_orders), list)
        )
        self.orders_page_by_customer: DataLoader[CustomerOrdersKey, Page[Order]] = DataLoader(
            scoped(services.orders.pages_for_customers)
        )
