"""One fulfilment transaction: reads and guarded writes of one order's shipments, order and stock,
with the events collected and appended once, in the same transaction."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from datetime import datetime

from app.domain.errors import Conflict, NotFound
from app.domain.events import Actor, DomainEvent
from app.domain.fulfilment import fulfil_allocations, rolled_up_status
from app.domain.inventory import StockChangeCause
from app.domain.orders import Order, status_changed as order_status_changed
from app.domain.shipments import Shipment
from app.repositories.channels import ChannelRepository
from app.repositories.database import Mongo, Session
from app.repositories.events import EventRepository
from app.repositories.inventory import InventoryRepository
from app.repositories.locations import LocationRepository
from app.repositories.orders import OrderRepository
from app.repositories.products import ProductRepository
from app.repositories.shipments import ShipmentRepository
from app.services import fulfilment_events as ev


@dataclass(frozen=True, slots=True)
class FulfilmentRepos:
    mongo: Mongo
    orders: OrderRepository
    shipments: ShipmentRepository
    products: ProductRepository
    locations: LocationRepository
    inventory: InventoryRepository
    channels: ChannelRepository
    events: EventRepository


class Unit:
    """One transaction's reads and writes for one order: load, change, then `commit` once."""

    def __init__(self, repos: FulfilmentRepos, session: Session, actor: Actor, now: datetime):
        self.repos = repos
        self.session = session
        self.actor = actor
        self.now = now
        self.events: list[DomainEvent] = []

    async def order(self, order_id: str) -> Order:
        found = await self.repos.orders.by_ids([order_id], session=self.session)
        if not found:
            raise NotFound(f"order {order_id} of the shipment does not exist")
        return found[0]

    async def shipments(self, order_id: str) -> list[Shipment]:
        return (await self.repos.shipments.for_orders([order_id], session=self.session))[order_id]

    async def save_shipment(self, before: Shipment, after: Shipment) -> None:
        if not await self.repos.shipments.replace(after, expected_version=before.version, session=self.session):
            raise Conflict(f"shipment {before.number} was changed concurrently; try again")
        if after.status is not before.status:
            self.events.append(ev.status_changed(before, after, self.actor, self.now))

    async def save_order(self, before: Order, after: Order, *, shipments: list[Shipment] | None = None) -> Order:
        """Rolls shipment status up to the order, writes it if anything changed. `shipments`: the
        order's shipments as they now stand, when the caller has them."""
        if shipments is None:
            shipments = await self.shipments(after.id)
        rolled = dataclasses.replace(after, status=rolled_up_status(after, shipments))
        if rolled == before:
            return before
        final = dataclasses.replace(rolled, updated_at=self.now, version=before.version + 1)
        if not await self.repos.orders.replace(final, expected_version=before.version, session=self.session):
            raise Conflict(f"order {before.id} was changed concurrently; try again")
        self.events.extend(order_status_changed(before.status, final, self.actor, self.now))
        return final

    async def consume_stock(self, order: Order, shipment: Shipment, reason: str) -> Order:
        """Goods leave: on hand and reserved fall together, allocations become FULFILLED."""
        consumed = fulfil_allocations(order, shipment)
        for line in shipment.lines:
            moved = await self.repos.inventory.move(
                line.sku, shipment.location_id, on_hand=-line.quantity, reserved=-line.quantity, at=self.now, session=self.session
            )
            if moved is None:
                raise Conflict(f"stock of {line.sku} at {shipment.location_id} does not cover the shipment", field=("lines", line.line_id))
            self.events.append(ev.stock_changed(*moved, StockChangeCause.SHIPMENT, self.actor, self.now, order, reason=reason))
        return consumed

    async def hand_over(self, before: Shipment, after: Shipment, reason: str) -> None:
        """The goods leave (shipped or collected): stock falls, shipment and order are saved, then commit."""
        order = await self.order(before.order_id)
        consumed = await self.consume_stock(order, after, reason)
        await self.save_shipment(before, after)
        await self.save_order(order, consumed)
        await self.commit()

    async def commit(self) -> None:
        await self.repos.events.append(self.events, session=self.session)
