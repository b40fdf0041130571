"""stockLevelChanged and lowStockAlerts: stock, live."""

from __future__ import annotations

from collections.abc import AsyncGenerator

from app.domain.errors import ErrorCode, FieldIssue, InvalidInput
from app.domain.events import STOCK_LEVEL_CHANGED, EventFilter, crossed_reorder_point
from app.domain.principals import Principal
from graphql_schema.context import Info
from graphql_schema.types.common import GeoPointInput
from graphql_schema.types.events import LowStockAlert, StockLevelUpdate
from subscriptions.stream import live

MAX_KEYS = 100


def _bounded(values: list[str] | None, field: str) -> frozenset[str]:
    if values is not None and len(values) > MAX_KEYS:
        raise InvalidInput([FieldIssue(ErrorCode.INVALID_INPUT, f"give at most {MAX_KEYS} values", (field,))])
    return frozenset(values or ())


async def stock_level_changed(
    info: Info,
    skus: list[str] | None = None,
    location_ids: list[str] | None = None,
    near: GeoPointInput | None = None,
    radius_km: float = 50.0,
    after: str | None = None,
) -> AsyncGenerator[StockLevelUpdate, None]:
    async def scope(principal: Principal) -> EventFilter:
        if near is not None and location_ids:
            raise InvalidInput([FieldIssue(ErrorCode.INVALID_INPUT, "give locationIds or near, not both", ("near",))])
        locations = _bounded(location_ids, "locationIds")
        if near is not None:
            # Resolved once: a store opened later joins new subscriptions, not this one.
            locations = await info.context.services.events.locations_near(near.to_domain(), radius_km)
        selection = EventFilter(
            types=frozenset({STOCK_LEVEL_CHANGED}), skus=_bounded(skus, "skus"), location_ids=locations
        )
        return info.context.services.events.scoped_stock(principal, selection, intersect=near is not None)

    async for update in live(info, scope, after, StockLevelUpdate.from_domain):
        yield update


async def low_stock_alerts(
    info: Info, location_ids: list[str] | None = None, after: str | None = None
) -> AsyncGenerator[LowStockAlert, None]:
    async def scope(principal: Principal) -> EventFilter:
        selection = EventFilter(types=frozenset({STOCK_LEVEL_CHANGED}), location_ids=_bounded(location_ids, "locationIds"))
        return info.context.services.events.scoped_stock(principal, selection)

    async for update in live(info, scope, after, LowStockAlert.from_domain, also=crossed_reorder_point):
        yield update
