"""Root fields: the event log and live subscriptions."""

from __future__ import annotations

from collections.abc import AsyncGenerator

import strawberry

from graphql_schema.permissions import IsAuthenticated
from graphql_schema.types.dashboard import Dashboard
from graphql_schema.types.events import EventConnection, LowStockAlert, OrderUpdate, ShipmentUpdate, StockLevelUpdate
from resolvers import events as resolve
from subscriptions import dashboard, inventory, orders

_RESUME = (
    " Each item carries a `cursor`; subscribe again with `after: <cursor>` to receive every later matching"
    " event exactly once, in order (CURSOR_EXPIRED when that history is no longer retained)."
)


@strawberry.type
class EventQueries:
    events: EventConnection = strawberry.field(
        resolver=resolve.events,
        permission_classes=[IsAuthenticated],
        description="The event log in commit order, after a cursor: the audit trail, and what subscriptions replay.",
    )


@strawberry.type
class EventSubscriptions:
    order_updated: AsyncGenerator[OrderUpdate, None] = strawberry.subscription(
        resolver=orders.order_updated,
        permission_classes=[IsAuthenticated],
        description="Changes to orders: one order, a customer's, a channel's, or orders reaching given statuses."
        + _RESUME,
    )
    stock_level_changed: AsyncGenerator[StockLevelUpdate, None] = strawberry.subscription(
        resolver=inventory.stock_level_changed,
        permission_classes=[IsAuthenticated],
        description="Stock level changes by SKU, at locations or at stores within `radiusKm` of `near`." + _RESUME,
    )
    shipment_tracking: AsyncGenerator[ShipmentUpdate, None] = strawberry.subscription(
        resolver=orders.shipment_tracking,
        permission_classes=[IsAuthenticated],
        description="Shipment progress of one order: creation, picking, shipping, carrier scans, delivery." + _RESUME,
    )
    low_stock_alerts: AsyncGenerator[LowStockAlert, None] = strawberry.subscription(
        resolver=inventory.low_stock_alerts,
        permission_classes=[IsAuthenticated],
        description="Availability falling to or below the reorder point at the given (or the caller's) locations."
        + _RESUME,
    )
    dashboard: AsyncGenerator[Dashboard, None] = strawberry.subscription(
        resolver=dashboard.dashboard,
        permission_classes=[IsAuthenticated],  # roles: DashboardService.authorize
        description="Live operations figures for admins and customer service, every few seconds and on change.",
    )
