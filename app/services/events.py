"""Reading the event log by cursor: replays for subscriptions and the `events` query, scoped to the caller."""

from __future__ import annotations

import dataclasses

from app.domain.errors import CursorExpired, ErrorCode, FieldIssue, Forbidden, InvalidInput, Validator
from app.domain.events import DomainEvent, EventFilter, parse_cursor
from app.domain.geo import GeoPoint, distance_km
from app.domain.pagination import Page, PageRequest
from app.domain.principals import Principal, Role
from app.repositories.events import EventRepository
from app.repositories.locations import LocationRepository
from app.repositories.orders import OrderRepository
from app.repositories.sequencer import RelayStateRepository

MAX_REPLAY_BATCH = 500
MAX_RADIUS_KM = 1_000.0
# A location set that matches nothing (an empty set would mean "any location").
NO_LOCATION = frozenset({""})
# Stock movements carry other shoppers' demand; a customer sees only what is about their own orders.
CUSTOMER_AGGREGATES = frozenset({"Order", "Shipment", "Customer", "Return"})


class EventService:
    def __init__(
        self,
        *,
        events: EventRepository,
        orders: OrderRepository,
        locations: LocationRepository,
        relay_state: RelayStateRepository,
    ):
        self._events = events
        self._orders = orders
        self._locations = locations
        self._relay_state = relay_state

    async def scoped(self, principal: Principal, selection: EventFilter) -> EventFilter:
        """AND the caller's scope into a selection; refuse selections outside it. Scopes only narrow.

        Store staff and warehouses see stock at their locations, and the events of orders they can
        see when they name them (order events carry no location).
        """
        if principal.role in (Role.ADMIN, Role.CSR):
            return selection
        if principal.role is Role.CUSTOMER and not selection.aggregate_types <= CUSTOMER_AGGREGATES:
            raise Forbidden("customers do not see stock movements", field=("aggregateTypes",))
        if selection.order_ids:
            # Named orders the caller may see are scope enough (order events carry no location).
            await self._require_visible_orders(principal, selection)
            if principal.role is Role.CUSTOMER:
                return dataclasses.replace(selection, aggregate_types=selection.aggregate_types or CUSTOMER_AGGREGATES)
            return selection
        match principal.role:
            case Role.CUSTOMER:
                own = principal.customer_id
                if own is None or not selection.customer_ids <= {own}:
                    raise Forbidden("customers only see their own orders' events", field=("customerId",))
                return dataclasses.replace(
                    selection,
                    customer_ids=frozenset({own}),
                    aggregate_types=selection.aggregate_types or CUSTOMER_AGGREGATES,
                )
            case Role.CHANNEL:
                own = principal.channel_id
                if own is None or not selection.channel_ids <= {own}:
                    raise Forbidden("a channel only sees its own orders' events", field=("channel",))
                return dataclasses.replace(selection, channel_ids=frozenset({own}))
            case Role.STORE_STAFF | Role.WAREHOUSE:
                if not principal.location_ids or not selection.location_ids <= principal.location_ids:
                    raise Forbidden("staff only see stock at their own locations", field=("locationIds",))
                return dataclasses.replace(selection, location_ids=selection.location_ids or principal.location_ids)
        raise Forbidden("not allowed to read events")

    @staticmethod
    def scoped_stock(principal: Principal, selection: EventFilter, *, intersect: bool = False) -> EventFilter:
        """Stock movements: staff of their own locations; admins, CSRs and channel integrations everywhere.

        `intersect`: the locations were derived (e.g. stores near a point), so keep those the caller
        may see instead of refusing the others."""
        if principal.role in (Role.ADMIN, Role.CSR, Role.CHANNEL):
            return selection
        if principal.role in (Role.STORE_STAFF, Role.WAREHOUSE) and principal.location_ids:
            if intersect:
                return dataclasses.replace(selection, location_ids=(selection.location_ids & principal.location_ids) or NO_LOCATION)
            if not selection.location_ids <= principal.location_ids:
                raise Forbidden("staff only see stock at their own locations", field=("locationIds",))
            return dataclasses.replace(selection, location_ids=selection.location_ids or principal.location_ids)
        raise Forbidden("stock movements are for staff and integrations")

    async def locations_near(self, point: GeoPoint, radius_km: float) -> frozenset[str]:
        check = Validator()
        check.check(point.is_valid(), "lat must be within ±90 and lng within ±180", "near")
        check.check(0 < radius_km <= MAX_RADIUS_KM, f"radiusKm must be in (0, {MAX_RADIUS_KM:.0f}]", "radiusKm")
        check.raise_if_any()
        locations = await self._locations.list()
        return frozenset(loc.id for loc in locations if distance_km(point, loc.point) <= radius_km) or NO_LOCATION

    async def _require_visible_orders(self, principal: Principal, selection: EventFilter) -> None:
        if not selection.order_ids:
            return
        found = {order.id: order for order in await self._orders.by_ids(sorted(selection.order_ids))}
        for order_id in selection.order_ids:
            order = found.get(order_id)
            if order is None or not principal.can_see_order(
                customer_id=order.customer_id, channel_id=order.channel_id, location_ids=order.location_ids
            ):
                raise Forbidden("not allowed to see this order's events", field=("orderId",))

    async def check_cursor(self, after: int) -> None:
        """Refuse a cursor whose successors are no longer retained, or that the log never issued."""
        oldest = await self._events.oldest_seq()
        newest = await self._events.newest_seq()
        horizon = oldest - 1 if oldest is not None else max(newest, await self._relay_state.last_seq())
        if after < horizon:
            raise CursorExpired(
                f"events after cursor {after} are no longer retained; re-read current state, "
                f"then resume from cursor {horizon} or later",
                oldest_cursor=horizon,
            )
        if after > max(newest, horizon):
            raise InvalidInput([FieldIssue(ErrorCode.INVALID_INPUT, "after is ahead of the event log", ("after",))])

    async def replay(self, selection: EventFilter, after: int, *, limit: int = MAX_REPLAY_BATCH) -> list[DomainEvent]:
        """Events matching an already scoped selection, seq > after, in seq order."""
        return await self._events.after(after, selection, limit=min(limit, MAX_REPLAY_BATCH))

    async def page(self, principal: Principal, selection: EventFilter, page: PageRequest) -> Page[DomainEvent]:
        after = _cursor(page.after)
        scoped = await self.scoped(principal, selection)
        if after:
            await self.check_cursor(after)
        found = await self._events.after(after, scoped, limit=page.first + 1)
        items = found[: page.first]
        return Page(
            items=items,
            cursors=[str(event.seq) for event in items],
            has_next_page=len(found) > page.first,
            has_previous_page=after > 0,
        )

    async def seq_range(self, after: int, upto: int) -> list[DomainEvent]:
        """Unscoped: for the process's fan-out, which filters per subscriber."""
        return await self._events.seq_range(after, upto)

    async def newest_seq(self) -> int:
        return await self._events.newest_seq()

    async def recent(self, limit: int) -> list[DomainEvent]:
        return await self._events.recent(limit)


def _cursor(after: str | None) -> int:
    return parse_cursor(after) or 0
