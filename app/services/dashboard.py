"""Live operations figures, computed from MongoDB aggregations for every subscriber at once."""

from __future__ import annotations

import asyncio
from datetime import datetime, time, timedelta, timezone

from app.domain.clock import utcnow
from app.domain.dashboard import DashboardFigures
from app.domain.errors import Forbidden
from app.domain.money import Money
from app.domain.principals import Principal, Role
from app.repositories.dashboard import DashboardRepository
from app.repositories.events import EventRepository

WINDOW = timedelta(minutes=15)
RECENT_EVENTS = 20


class DashboardService:
    def __init__(self, *, dashboard: DashboardRepository, events: EventRepository):
        self._dashboard = dashboard
        self._events = events

    @staticmethod
    def authorize(principal: Principal) -> None:
        if principal.role not in (Role.ADMIN, Role.CSR):
            raise Forbidden("the operations dashboard is for admins and customer service")

    async def figures(self) -> DashboardFigures:
        """Not scoped: callers authorize first. Runs the aggregations concurrently."""
        now = utcnow()
        midnight = datetime.combine(now.date(), time.min, tzinfo=timezone.utc)
        per_minute, by_status, backorders, stock_outs, recent, returns_today, refunds, cases_open, breaches, buying, avoided = await asyncio.gather(
            self._dashboard.orders_per_minute(now - WINDOW),
            self._dashboard.open_orders_by_status(),
            self._dashboard.backorders(),
            self._dashboard.stock_outs(),
            self._events.recent(RECENT_EVENTS),
            self._dashboard.returns_since(midnight),
            self._dashboard.refunds_since(midnight),
            self._dashboard.open_cases_by_priority(),
            self._dashboard.sla_breaches_since(midnight),
            self._dashboard.purchase_orders(),
            self._dashboard.stock_outs_avoided(),
        )
        return DashboardFigures(
            at=now,
            orders_per_minute=tuple(per_minute),
            open_orders_by_status=dict(sorted(by_status.items())),
            backorders=backorders,
            stock_outs=stock_outs,
            recent_events=tuple(recent),
            returns_today=returns_today,
            refunds_today=refunds[0],
            refunded_today=tuple(Money(cents, currency) for currency, cents in refunds[1].items()),
            open_cases_by_priority=dict(sorted(cases_open.items())),
            sla_breaches_today=breaches,
            open_purchase_orders=buying[0],
            units_incoming=buying[1],
            stock_outs_avoided=avoided,
        )
