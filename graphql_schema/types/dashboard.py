"""The live operations dashboard."""

from __future__ import annotations

from datetime import datetime

import strawberry

from app.domain import dashboard
from graphql_schema.types.common import Money
from graphql_schema.types.events import Event


@strawberry.type(description="Orders created on one channel in one minute.")
class ChannelMinuteCount:
    minute: datetime = strawberry.field(description="Start of the minute (UTC).")
    channel: str = strawberry.field(description="Channel code.")
    orders: int = strawberry.field(description="Orders created.")


@strawberry.type(description="How many open orders are in one status.")
class StatusCount:
    status: str = strawberry.field(description="Order status.")
    orders: int = strawberry.field(description="Open orders in it.")


@strawberry.type(description="How many unresolved customer service cases have one priority.")
class PriorityCount:
    priority: str = strawberry.field(description="Case priority.")
    cases: int = strawberry.field(description="Cases not yet resolved.")


@strawberry.type(description="Live operations figures, pushed at a steady cadence and when they change.")
class Dashboard:
    at: datetime = strawberry.field(description="When these figures were computed.")
    orders_per_minute: list[ChannelMinuteCount] = strawberry.field(
        description="Orders per minute and channel over the last 15 minutes."
    )
    open_orders_by_status: list[StatusCount] = strawberry.field(description="Open orders by status.")
    backorders: int = strawberry.field(description="Orders waiting for stock (backordered or partly allocated).")
    stock_outs: int = strawberry.field(description="Stock levels (SKU × location) with nothing available.")
    recent_events: list[Event] = strawberry.field(description="The latest events, newest first.")
    cursor: str | None = strawberry.field(description="Cursor of the newest event included.")
    returns_today: int = strawberry.field(description="Returns requested since midnight UTC, every channel.")
    refunds_today: int = strawberry.field(description="Refunds issued since midnight UTC (exchange credit excluded).")
    refunded_today: list[Money] = strawberry.field(
        description="What those refunds gave back, one amount per currency.", metadata={"cost_list_size": 3}
    )
    open_purchase_orders: int = strawberry.field(default=0, description="Purchase orders SUBMITTED or PARTIALLY_RECEIVED.")
    units_incoming: int = strawberry.field(default=0, description="Units still expected on those purchase orders.")
    stock_outs_avoided: int = strawberry.field(
        default=0, description="Reorder-point crossings replenished (a PO line or a transfer) while the level still had stock."
    )

    open_cases_by_priority: list[PriorityCount] = strawberry.field(
        description="Customer service cases not yet resolved, by priority.", metadata={"cost_list_size": 4}
    )
    sla_breaches_today: int = strawberry.field(description="Case SLA targets (first response, resolution) missed since midnight UTC.")

    @classmethod
    def from_domain(cls, value: dashboard.DashboardFigures) -> Dashboard:
        return cls(
            at=value.at,
            orders_per_minute=[
                ChannelMinuteCount(minute=m.minute, channel=m.channel_id, orders=m.orders) for m in value.orders_per_minute
            ],
            open_orders_by_status=[StatusCount(status=s, orders=n) for s, n in value.open_orders_by_status.items()],
            backorders=value.backorders,
            stock_outs=value.stock_outs,
            recent_events=[Event.from_domain(e) for e in value.recent_events],
            cursor=str(value.last_seq) if value.last_seq is not None else None,
            returns_today=value.returns_today,
            refunds_today=value.refunds_today,
            refunded_today=[Money.from_domain(m) for m in value.refunded_today],
            open_cases_by_priority=[PriorityCount(priority=p, cases=n) for p, n in value.open_cases_by_priority.items()],
            sla_breaches_today=value.sla_breaches_today,
            open_purchase_orders=value.open_purchase_orders,
            units_incoming=value.units_incoming,
            stock_outs_avoided=value.stock_outs_avoided,
        )
