"""purchaseOrderUpdated: purchase orders' lives, live, with the same resumable cursor as every subscription."""

from __future__ import annotations

from collections.abc import AsyncGenerator

from strawberry import relay

from app.domain.events import DomainEvent, EventFilter
from app.domain.principals import Principal
from graphql_schema.context import Info
from graphql_schema.enums import PurchaseOrderStatus
from graphql_schema.ids import node_id_of
from graphql_schema.types.purchase_orders import PurchaseOrderUpdate
from subscriptions.stream import live


async def purchase_order_updated(
    info: Info,
    purchase_order_id: relay.GlobalID | None = None,
    location: str | None = None,
    statuses: list[PurchaseOrderStatus] | None = None,
    after: str | None = None,
) -> AsyncGenerator[PurchaseOrderUpdate, None]:
    followed = node_id_of(purchase_order_id, "PurchaseOrder", field="purchaseOrderId") if purchase_order_id else None
    selection = EventFilter(
        location_ids=frozenset({location}) if location else frozenset(),
        statuses=frozenset(s.value for s in statuses or ()),
    )

    async def scope(principal: Principal) -> EventFilter:
        return info.context.services.purchase_orders.event_scope(principal, selection)

    def only_followed(event: DomainEvent) -> bool:
        return event.aggregate_id == followed

    async for update in live(info, scope, after, PurchaseOrderUpdate.from_domain, also=only_followed if followed else None):
        yield update
