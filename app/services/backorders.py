"""Backorders take stock as it becomes available, oldest order first.

`fill` runs inside the transaction that made stock available (receipt, adjustment, transfer,
cancellation), so the stock change and the allocations it enables commit together. It handles a
bounded number of orders per SKU; the scheduler's periodic `sweep` is the follow-up for the rest.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime

from app.domain.clock import utcnow
from app.domain.events import Actor
from app.domain.orders import (
    ALLOCATION_STATES,
    Order,
    allocation_payload,
    order_event,
    status_changed,
    status_from_allocations,
    with_status,
)
from app.repositories.database import Mongo, Session
from app.repositories.orders import OrderRepository
from app.services.order_routing import LineNeed, OrderRouting
from app.services.reservations import OrderWriter

MAX_ORDERS_PER_FILL = 50
# Inside a stock change, stop scanning a SKU's queue after this many orders in a row got nothing.
MISSES_BEFORE_GIVING_UP = 3
MAX_SKUS_PER_SWEEP = 200
REASON = "backordered stock became available"


class BackorderService:
    def __init__(self, *, mongo: Mongo, orders: OrderRepository, routing: OrderRouting, writer: OrderWriter):
        self._mongo = mongo
        self._orders = orders
        self._routing = routing
        self._writer = writer

    async def fill(
        self,
        session: Session,
        keys: list[tuple[str, str]],
        *,
        actor: Actor,
        at: datetime,
        skip: frozenset[str] = frozenset(),
        give_up_after: int | None = MISSES_BEFORE_GIVING_UP,
    ) -> list[str]:
        """Allocates what the orders waiting for these SKUs can now get; returns the ids of orders that got some."""
        filled: list[str] = []
        seen = set(skip)
        for sku in sorted({sku for sku, _ in keys}):
            misses = 0
            for order in await self._orders.waiting_for(sku, limit=MAX_ORDERS_PER_FILL, session=session):
                if order.id in seen:
                    continue
                seen.add(order.id)
                if await self._fill_order(session, order, actor=actor, at=at):
                    filled.append(order.id)
                    misses = 0
                else:
                    misses += 1
                    if give_up_after is not None and misses >= give_up_after:
                        break
        return filled

    async def index_waiting_orders(self) -> int:
        """Start-up: orders that waited for stock unseen (see OrderRepository.index_backorders_in_fulfilment)."""
        return await self._orders.index_backorders_in_fulfilment()

    async def sweep(self, *, actor: Actor) -> int:
        """Follow-up for what `fill` left: every SKU some order waits for, one transaction per SKU."""
        filled = 0
        for sku in await self._orders.backordered_skus(limit=MAX_SKUS_PER_SWEEP):

            async def work(session: Session, sku: str = sku) -> list[str]:
                return await self.fill(session, [(sku, "")], actor=actor, at=utcnow(), give_up_after=None)

            filled += len(await self._mongo.transaction(work))
        return filled

    async def _fill_order(self, session: Session, order: Order, *, actor: Actor, at: datetime) -> bool:
        needs = [
            LineNeed(line_id=line.id, sku=line.sku, quantity=order.backordered_quantity(line.id))
            for line in order.lines
            if order.backordered_quantity(line.id) > 0
        ]
        if not needs:
            return False
        placement = await self._routing.place(
            channel_id=order.channel_id, delivery=order.delivery, needs=needs, session=session
        )
        if not placement.allocations:
            return False
        after = replace(order, allocations=order.allocations + placement.allocations)
        # Only an order still waiting in an allocation state takes the state its allocations now imply.
        # SCHEDULED waits for its release; IN_FULFILLMENT and PARTIALLY_SHIPPED are decided by their
        # shipments (`rolled_up_status`), and the new allocations only add a PENDING shipment (the
        # writer's sync plans it), which moves neither: a partially shipped order stays so until the
        # rest ships.
        if order.status in ALLOCATION_STATES:
            after = with_status(after, status_from_allocations(after), at)
        payload = {"allocations": allocation_payload(placement.allocations), "routing": placement.explanation}
        events = [order_event(after, "OrderAllocated", actor, at, payload, REASON)]
        events += status_changed(order.status, after, actor, at, REASON)
        await self._writer.write(session, order, after, events, actor=actor, at=at, reason=REASON)
        return True
