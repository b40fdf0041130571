"""returnUpdated: a return's life, live, with the same resumable cursor as every subscription."""

from __future__ import annotations

from collections.abc import AsyncGenerator

from strawberry import relay

from app.domain.events import DomainEvent, EventFilter
from app.domain.principals import Principal
from graphql_schema.context import Info
from graphql_schema.enums import ReturnStatus
from graphql_schema.ids import node_id_of
from graphql_schema.types.returns import ReturnUpdate
from subscriptions.stream import live


async def return_updated(
    info: Info,
    return_id: relay.GlobalID | None = None,
    order_id: relay.GlobalID | None = None,
    customer_id: relay.GlobalID | None = None,
    channel: str | None = None,
    location: str | None = None,
    statuses: list[ReturnStatus] | None = None,
    after: str | None = None,
) -> AsyncGenerator[ReturnUpdate, None]:
    followed = node_id_of(return_id, "Return", field="returnId") if return_id else None
    selection = EventFilter(
        order_ids=frozenset({node_id_of(order_id, "Order", field="orderId")}) if order_id else frozenset(),
        customer_ids=frozenset({node_id_of(customer_id, "Customer", field="customerId")}) if customer_id else frozenset(),
        channel_ids=frozenset({channel}) if channel else frozenset(),
        location_ids=frozenset({location}) if location else frozenset(),
        statuses=frozenset(s.value for s in statuses or ()),
    )

    async def scope(principal: Principal) -> EventFilter:
        scoped, _ = await info.context.services.return_queries.event_scope(principal, selection, followed)
        return scoped

    def only_followed(event: DomainEvent) -> bool:
        return event.aggregate_id == followed

    async for update in live(info, scope, after, ReturnUpdate.from_domain, also=only_followed if followed else None):
        yield update
