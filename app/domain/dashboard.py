"""Live operations figures: what the `dashboard` subscription pushes."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from app.domain.events import DomainEvent
from app.domain.money import Money


@dataclass(frozen=True, slots=True)
class ChannelMinute:
    """Orders created on one channel during one minute (UTC, truncated)."""

    minute: datetime
    channel_id: str
    orders: int


@dataclass(frozen=True, slots=True)
class DashboardFigures:
    at: datetime
    orders_per_minute: tuple[ChannelMinute, ...]
    open_orders_by_status: dict[str, int]
    backorders: int
    stock_outs: int
    recent_events: tuple[DomainEvent, ...] = field(default_factory=tuple)
    returns_today: int = 0  # returns requested since midnight UTC
    refunds_today: int = 0  # refunds issued since midnight UTC (money back: exchange credit excluded)
    refunded_today: tuple[Money, ...] = ()  # their amount, per currency
    open_cases_by_priority: dict[str, int] = field(default_factory=dict)  # NEW, OPEN, PENDING_CUSTOMER cases
    sla_breaches_today: int = 0  # case SLA targets marked missed since midnight UTC
    open_purchase_orders: int = 0  # SUBMITTED or PARTIALLY_RECEIVED
    units_incoming: int = 0  # their open units
    stock_outs_avoided: int = 0  # reorder-point crossings replenished while the level still had stock

    @property
    def last_seq(self) -> int | None:
        return max((e.seq for e in self.recent_events if e.seq is not None), default=None)

    def same_figures(self, other: DashboardFigures | None) -> bool:
        """Equal apart from the time they were computed: nothing to push."""
        return other is not None and (
            self.orders_per_minute == other.orders_per_minute
            and self.open_orders_by_status == other.open_orders_by_status
            and self.backorders == other.backorders
            and self.stock_outs == other.stock_outs
            and self.returns_today == other.returns_today
            and self.refunds_today == other.refunds_today
            and self.refunded_today == other.refunded_today
            and self.open_cases_by_priority == other.open_cases_by_priority
            and self.sla_breaches_today == other.sla_breaches_today
            and (self.open_purchase_orders, self.units_incoming, self.stock_outs_avoided)
            == (other.open_purchase_orders, other.units_incoming, other.stock_outs_avoided)
            and [e.id for e in self.recent_events] == [e.id for e in other.recent_events]
        )
