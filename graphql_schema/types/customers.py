"""The customer 360°."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import TYPE_CHECKING, Annotated

import strawberry
from strawberry import relay

from app.domain import customers
from app.domain.orders import OrderFilter
from app.services.orders import CustomerOrdersKey
from graphql_schema.context import Info
from graphql_schema.pagination import page_request
from graphql_schema.prefetch import now_or_later
from graphql_schema.types.catalog import Channel
from graphql_schema.types.common import Address, Money

if TYPE_CHECKING:
    from graphql_schema.types.orders import OrderConnection, OrderFilterInput

OrderConnectionRef = Annotated["OrderConnection", strawberry.lazy("graphql_schema.types.orders")]
OrderFilterInputRef = Annotated["OrderFilterInput", strawberry.lazy("graphql_schema.types.orders")]


@strawberry.type(description="How one channel knows this customer.")
class ChannelIdentity:
    external_id: str = strawberry.field(description="The channel's id for the customer (buyer id, loyalty number).")
    channel_code: str

    @strawberry.field(description="The channel.")
    def channel(self, info: Info) -> Channel | None:
        return now_or_later(info.context.loaders.channel_by_id, self.channel_code, Channel.from_domain)  # type: ignore[return-value]


@strawberry.type(description="Orders and spend on one channel.")
class ChannelSpend:
    channel_code: str
    order_count: int
    spend: Money

    @strawberry.field(description="The channel.")
    def channel(self, info: Info) -> Channel | None:
        return now_or_later(info.context.loaders.channel_by_id, self.channel_code, Channel.from_domain)  # type: ignore[return-value]


@strawberry.type(description="Lifetime figures over every channel, cancelled orders excluded.")
class LifetimeFigures:
    order_count: int
    spend: Money = strawberry.field(description="Total spent, all channels.")
    by_channel: list[ChannelSpend]
    first_order_at: datetime | None
    last_order_at: datetime | None

    @classmethod
    def from_domain(cls, value: customers.LifetimeFigures) -> LifetimeFigures:
        return cls(
            order_count=value.order_count,
            spend=Money.from_domain(value.spend),
            by_channel=[
                ChannelSpend(channel_code=c.channel_id, order_count=c.order_count, spend=Money.from_domain(c.spend))
                for c in value.by_channel
            ],
            first_order_at=value.first_order_at,
            last_order_at=value.last_order_at,
        )


@strawberry.type(description="A customer, unified across every channel they buy on.")
class Customer(relay.Node):
    id: relay.NodeID[str]
    first_name: str
    last_name: str
    display_name: str
    email: str | None
    phone: str | None
    created_at: datetime
    addresses: list[Address]
    identities: list[ChannelIdentity] = strawberry.field(description="Ids this customer has on each channel.")

    @classmethod
    def from_domain(cls, value: customers.Customer) -> Customer:
        return cls(
            id=value.id,
            first_name=value.first_name,
            last_name=value.last_name,
            display_name=value.display_name,
            email=value.email,
            phone=value.phone,
            created_at=value.created_at,
            addresses=[Address.from_domain(a) for a in value.addresses],
            identities=[ChannelIdentity(external_id=i.external_id, channel_code=i.channel_id) for i in value.identities],
        )

    @classmethod
    async def resolve_nodes(cls, *, info: Info, node_ids: Iterable[str], required: bool = False) -> list[Customer | None]:
        found = await info.context.loaders.customer_by_id.load_many(list(node_ids))
        return [cls.from_domain(c) if c else None for c in found]

    @strawberry.field(description="Lifetime order count and spend, in total and by channel.")
    async def lifetime(self, info: Info) -> LifetimeFigures:
        return LifetimeFigures.from_domain(await info.context.loaders.lifetime_figures_by_customer.load(self.id))

    @strawberry.field(description="This customer's orders on every channel, newest first.")
    async def orders(
        self,
        info: Info,
        filter: OrderFilterInputRef | None = None,  # noqa: A002 - GraphQL argument name
        first: int | None = None,
        after: str | None = None,
    ) -> OrderConnectionRef:
        from graphql_schema.types.orders import OrderConnection

        selection = filter.to_domain() if filter else OrderFilter()
        key = CustomerOrdersKey(self.id, selection, page_request(first, after))
        page = await info.context.loaders.orders_page_by_customer.load(key)
        return await OrderConnection.resolve(info, page)


@strawberry.type
class CustomerEdge(relay.Edge[Customer]):
    pass


@strawberry.type(description="A page of customers.")
class CustomerConnection(relay.Connection[Customer]):
    edges: list[CustomerEdge]
