"""Writes one version of an order together with the stock it reserves or gives back.

Every order write goes through `OrderWriter.write`, inside the caller's transaction: it applies
exactly the change in OPEN allocations as guarded increments of `inventory.reserved`, appends one
StockLevelChanged per touched level plus the order's own events, and stores the order under a
version guard. That is what keeps `reserved == sum of OPEN allocations` true by construction.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime

from app.domain.errors import Conflict
from app.domain.events import Actor, DomainEvent
from app.domain.inventory import InventoryLevel, StockChangeCause, apply_delta, stock_level_changed
from app.domain.orders import Order, reservation_deltas
from app.repositories.database import Session
from app.repositories.events import EventRepository
from app.repositories.inventory import InventoryRepository
from app.repositories.orders import OrderRepository
from app.services.fulfilment import FulfilmentService, ShipmentReferences
from app.services.order_routing import Placement


class StockMoved(Conflict):
    """A guarded reservation found less available than planned: the plan is stale. Callers re-plan."""


class OrderChanged(Conflict):
    """The order changed since it was read (version guard). Callers retry with a fresh read."""


class OrderWriter:
    def __init__(
        self,
        *,
        orders: OrderRepository,
        inventory: InventoryRepository,
        events: EventRepository,
        fulfilment: FulfilmentService,
    ):
        self._orders = orders
        self._inventory = inventory
        self._events = events
        self._fulfilment = fulfilment

    async def write(
        self,
        session: Session,
        before: Order | None,
        after: Order,
        events: list[DomainEvent],
        *,
        actor: Actor,
        at: datetime,
        reason: str | None = None,
        read: Placement | None = None,
        known: ShipmentReferences | None = None,
    ) -> Order:
        """Insert (before is None) or replace the order, with its reservations and events, atomically.

        Returns the order as stored: a replacement gets the next version and `updated_at = at`.
        `read`: the placement this transaction made, whose stock levels are the ones new reservations
        start from (they are reserved in one write, not read again); only for a transaction that
        has not changed stock since it planned. `known`: reference data the caller has read.
        """
        if before is not None:
            after = replace(after, version=before.version + 1, updated_at=at)
        snapshot = read.levels if read is not None else {}
        deltas = reservation_deltas(before, after)
        # Reservations of levels as read: one guarded bulk write, the levels before it known already.
        batch = {key: delta for key, delta in deltas.items() if delta > 0 and key in snapshot}
        if not await self._inventory.reserve_read(batch, at=at, session=session):
            raise StockMoved(f"{', '.join(f'{sku} at {location_id}' for sku, location_id in sorted(batch))}: less available than planned")
        stock_events: list[DomainEvent] = []
        # Sorted keys: concurrent transactions touch shared levels in the same order.
        for (sku, location_id), delta in deltas.items():
            if (sku, location_id) in batch:
                level: InventoryLevel | None = snapshot[(sku, location_id)]
                cause = StockChangeCause.RESERVATION
            elif delta > 0:
                level = await self._inventory.reserve(sku, location_id, delta, at=at, session=session)
                if level is None:
                    raise StockMoved(f"{sku} at {location_id} no longer has {delta} available")
                cause = StockChangeCause.RESERVATION
            else:
                level = await self._inventory.release(sku, location_id, -delta, at=at, session=session)
                if level is None:  # reserved < what this order holds: the invariant was already broken
                    raise RuntimeError(f"{sku} at {location_id} holds fewer reserved units than order {after.id} releases")
                cause = StockChangeCause.RELEASE
            assert level is not None
            stock_events.append(
                stock_level_changed(
                    level,
                    apply_delta(level, reserved=delta),
                    cause=cause,
                    actor=actor,
                    at=at,
                    reason=reason,
                    order_id=after.id,
                    customer_id=after.customer_id,
                    channel_id=after.channel_id,
                )
            )
        if before is None:
            await self._orders.insert(after, session=session)
        elif not await self._orders.replace(after, expected_version=before.version, session=session):
            raise OrderChanged(f"order {after.id} changed meanwhile; try again")
        # Shipments follow the order's open allocations, in this same transaction. A new order has none yet.
        known = known or ShipmentReferences()
        if read is not None:
            known = replace(known, locations={**read.locations, **known.locations})
        _, shipment_events = await self._fulfilment.write_shipments(
            after, session=session, actor=actor, now=at, existing=[] if before is None else None, known=known
        )
        # Every event of the change in one insert.
        await self._events.append([*events, *stock_events, *shipment_events], session=session)
        return after
