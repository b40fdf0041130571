"""The live dashboard: figures from MongoDB, pushed at a cadence and on change, computed once for all."""

from __future__ import annotations

from datetime import timedelta

from app.domain.clock import utcnow
from app.domain.orders import OrderStatus
from app.domain.principals import Role
from app.services.container import Services
from app.settings import Settings
from tests.factories import BOSTON, World, customer, level, location, order
from tests.realtime import GraphQLWs, append, order_event, realtime_settings, serve
from tests.security_helpers import refused

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
    async with serve(realtime_settings(settings, dashboard_interval_seconds=3600)) as server:
        async with GraphQLWs.connect(server.ws_url, customer_token) as shopper:
            await shopper.subscribe(DASHBOARD)
            assert (await refused(shopper))["extensions"]["code"] == "FORBIDDEN"
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
            # No tick comes within the test (an hour apart): whatever arrives now was pushed by the event,
            # computed once and handed to both subscribers.
            before = server.realtime.dashboard.computations
            await append(mongo, order_event(placed, "OrderHeld"))
            update = await one.next_data("dashboard", timeout=30)
            assert [e["type"] for e in update["recentEvents"]] == ["OrderHeld"]
            assert update["cursor"] == update["recentEvents"][0]["cursor"]
            assert await two.next_data("dashboard", timeout=30) == update
            assert server.realtime.dashboard.computations - before == 1
    # Without events, the figures still come at the configured cadence.
    async with serve(realtime_settings(settings, dashboard_interval_seconds=0.2)) as server:
        async with GraphQLWs.connect(server.ws_url, admin_token) as one:
            await one.subscribe(DASHBOARD)
            ticks = await one.take("dashboard", 3, timeout=30)
            assert len({t["at"] for t in ticks}) == 3
