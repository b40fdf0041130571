"""Root resolver for paging through the event log."""

from __future__ import annotations

from app.domain.events import EventFilter
from graphql_schema.context import Info
from graphql_schema.ids import node_id_of
from graphql_schema.pagination import page_request
from graphql_schema.types.events import EventConnection, EventFilterInput


def _selection(value: EventFilterInput | None) -> EventFilter:
    if value is None:
        return EventFilter()
    return EventFilter(
        types=frozenset(value.types or ()),
        aggregate_types=frozenset(value.aggregate_types or ()),
        order_ids=frozenset({node_id_of(value.order_id, "Order", field="orderId")}) if value.order_id else frozenset(),
        customer_ids=frozenset({node_id_of(value.customer_id, "Customer", field="customerId")})
        if value.customer_id
        else frozenset(),
        channel_ids=frozenset({value.channel}) if value.channel else frozenset(),
        skus=frozenset(value.skus or ()),
        location_ids=frozenset(value.location_ids or ()),
    )


async def events(
    info: Info,
    filter: EventFilterInput | None = None,  # noqa: A002
    first: int | None = None,
    after: str | None = None,
) -> EventConnection:
    page = await info.context.services.events.page(info.context.actor, _selection(filter), page_request(first, after))
    return EventConnection.from_page(page)
