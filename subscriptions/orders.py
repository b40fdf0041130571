"""orderUpdated and shipmentTracking: an order's life, live."""

from __future__ import annotations

from collections.abc import AsyncGenerator

from strawberry import relay

from app.domain.events import EventFilter
from app.domain.principals import Principal
from graphql_schema.context import Info
from graphql_schema.enums import OrderStatus
from graphql_schema.ids import node_id_of
from graphql_schema.types.events import OrderUpdate, ShipmentUpdate
from subscriptions.stream import live


async def order_updated(
    info: Info,
    order_id: relay.GlobalID | None = None,
    customer_id: relay.GlobalID | None = None,
    channel: str | None = None,
    statuses: list[OrderStatus] | None = None,
    after: str | None = None,
) -> AsyncGenerator[OrderUpdate, None]:
    selection = EventFilter(
        aggregate_types=frozenset({"Order"}),
        order_ids=frozenset({node_id_of(order_id, "Order", field="orderId")}) if order_id else frozenset(),
        customer_ids=frozenset({node_id_of(customer_id, "Customer", field="customerId")}) if customer_id else frozenset(),
        channel_ids=frozenset({channel}) if channel else frozenset(),
        statuses=frozenset(s.value for s in statuses or ()),
    )

    async def scope(principal: Principal) -> EventFilter:
        return await info.context.services.events.scoped(principal, selection)

    async for update in live(info, scope, after, OrderUpdate.from_domain):
        yield update


async def shipment_tracking(
    info: Info, order_id: relay.GlobalID, after: str | None = None
) -> AsyncGenerator[ShipmentUpdate, None]:
    selection = EventFilter(
        aggregate_types=frozenset({"Shipment"}), order_ids=frozenset({node_id_of(order_id, "Order", field="orderId")})
    )

    async def scope(principal: Principal) -> EventFilter:
        return await info.context.services.events.scoped(principal, selection)

    async for update in live(info, scope, after, ShipmentUpdate.from_domain):
        yield update
