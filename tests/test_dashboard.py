"""The live dashboard: figures from MongoDB, pushed at a cadence and on change, computed once for all."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from app.domain.clock import utcnow
from app.domain.orders import OrderStatus
from app.domain.principals import Role
from app.services.container import Services
from app.settings import Settings
from tests.factories import BOSTON, World, customer, level, location, order
from tests.realtime import GraphQLWs, append, order_event, realtime_settings, serve

DASHBOARD = """
subscription { dashboard {
  at backorders stockOuts cursor
  ordersPerMinute { channel orders }
  openOrdersByStatus { status orders }
  recentEvents { type cursor }
} }
"""


async def test_dashboard_figures_are_pushed_on_change_and_computed_once_for_everyone(
    world: World, settings: Settings, services: Services, admin_token: str, mongo
) -> None:
    ada = customer()
    await world.add_customers(ada)
    now = utcnow()
    placed = order(ada.id, channel_id="web", status=OrderStatus.ALLOCATED, created_at=now - timedelta(minutes=1))
    await world.add_orders(
        placed,
        order(ada.id, channel_id="amazon", status=OrderStatus.BACKORDERED, created_at=now - timedelta(minutes=2)),
        order(ada.id, channel_id="web", status=OrderStatus.DELIVERED, created_at=now - timedelta(days=3)),
    )
    await world.add_locations(location("ST-BOS", BOSTON))
    await world.add_stock(level("SKU-1", "ST-BOS", 0), level("SKU-2", "ST-BOS", 5), level("SKU-3", "ST-BOS", 2, reserved=2))
    _, customer_token = await services.auth.create_api_key(name="ada", role=Role.CUSTOMER, customer_id=ada.id)
    async with serve(realtime_settings(settings, dashboard_interval_seconds=1.0)) as server:
        async with GraphQLWs.connect(server.ws_url, customer_token) as shopper:
            await shopper.subscribe(DASHBOARD)
            assert (await shopper.error())["extensions"]["code"] == "FORBIDDEN"
        async with GraphQLWs.connect(server.ws_url, admin_token) as one, GraphQLWs.connect(server.ws_url, admin_token) as two:
            await one.subscribe(DASHBOARD)
            await two.subscribe(DASHBOARD)
            first = await one.next_data("dashboard")
            await two.next_data("dashboard")
            assert first["backorders"] == 1
            assert first["stockOuts"] == 2  # SKU-1 (none on hand) and SKU-3 (all reserved)
            assert {(s["status"], s["orders"]) for s in first["openOrdersByStatus"]} == {("ALLOCATED", 1), ("BACKORDERED", 1)}
            assert sorted((m["channel"], m["orders"]) for m in first["ordersPerMinute"]) == [("amazon", 1), ("web", 1)]
            assert first["recentEvents"] == [] and first["cursor"] is None
            # An event: pushed well before the next 1 s tick.
            await asyncio.sleep(0.1)
            await append(mongo, order_event(placed, "OrderHeld"))
            update = await one.next_data("dashboard", timeout=0.9)
            assert [e["type"] for e in update["recentEvents"]] == ["OrderHeld"]
            assert update["cursor"] == update["recentEvents"][0]["cursor"]
            await two.next_data("dashboard", timeout=0.9)
            # Steady cadence, and one computation per tick however many subscribers listen.
            before = server.realtime.dashboard.computations
            await asyncio.gather(one.take("dashboard", 2, timeout=3), two.take("dashboard", 2, timeout=3))
            assert server.realtime.dashboard.computations - before <= 3
