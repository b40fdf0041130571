"""The customer 360°."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import TYPE_CHECKING, Annotated

import strawberry
from strawberry import relay

from app.domain import customers
from app.domain.orders import OrderFilter
from app.domain.returns import ReturnFilter
from app.services.customer_merges import CustomersMerged
from app.services.customers import CustomerUpsert
from app.services.orders import CustomerOrdersKey
from app.services.return_queries import CustomerReturnsKey
from app.domain.cases import CaseFilter
from app.services.case_queries import CustomerCasesKey
from graphql_schema.context import Info
from graphql_schema.errors import ConflictError, InvalidInputError, NotFoundError, PermissionDeniedError
from graphql_schema.pagination import page_request
from graphql_schema.prefetch import now_or_later, selected_paths
from graphql_schema.types.catalog import Channel
from graphql_schema.types.common import Address, AddressInput, Money

if TYPE_CHECKING:
    from graphql_schema.types.orders import OrderConnection, OrderFilterInput
    from graphql_schema.types.returns import ReturnConnection, ReturnFilterInput
    from graphql_schema.types.cases import CaseConnection, CaseFilterInput

OrderConnectionRef = Annotated["OrderConnection", strawberry.lazy("graphql_schema.types.orders")]
OrderFilterInputRef = Annotated["OrderFilterInput", strawberry.lazy("graphql_schema.types.orders")]
ReturnConnectionRef = Annotated["ReturnConnection", strawberry.lazy("graphql_schema.types.returns")]
ReturnFilterInputRef = Annotated["ReturnFilterInput", strawberry.lazy("graphql_schema.types.returns")]
CaseConnectionRef = Annotated["CaseConnection", strawberry.lazy("graphql_schema.types.cases")]
CaseFilterInputRef = Annotated["CaseFilterInput", strawberry.lazy("graphql_schema.types.cases")]


@strawberry.type(description="How one channel knows this customer.")
class ChannelIdentity:
    external_id: str = strawberry.field(description="The channel's id for the customer (buyer id, loyalty number).")
    channel_code: str

    @strawberry.field(description="The channel.")
    def channel(self, info: Info) -> Channel | None:
        return now_or_later(info.context.loaders.channel_by_id, self.channel_code, Channel.from_domain)  # type: ignore[return-value]


@strawberry.type(description="Orders, spend, refunds and returns on one channel.")
class ChannelSpend:
    channel_code: str
    order_count: int
    spend: Money = strawberry.field(description="Spent on this channel, net of refunds and exchange credit.")
    refunds: Money = strawberry.field(description="Money refunded on this channel's orders.")
    units: int = strawberry.field(description="Units bought (cancelled ones excluded).")
    returned_units: int = strawberry.field(description="Units in returns that were not rejected or cancelled (received quantity once known).")
    return_rate: float = strawberry.field(description="returnedUnits / units, 0 to 1.")

    @strawberry.field(description="The channel.")
    def channel(self, info: Info) -> Channel | None:
        return now_or_later(info.context.loaders.channel_by_id, self.channel_code, Channel.from_domain)  # type: ignore[return-value]


@strawberry.type(description="Lifetime figures over every channel, cancelled orders excluded, net of refunds.")
class LifetimeFigures:
    order_count: int
    spend: Money = strawberry.field(
        description="Total spent, all channels, net of refunds and exchange credit (a replacement order's total counts instead)."
    )
    refunds: Money = strawberry.field(description="Money refunded, all channels.")
    return_rate: float = strawberry.field(description="Units returned / units bought, all channels, 0 to 1.")
    by_channel: list[ChannelSpend]
    first_order_at: datetime | None
    last_order_at: datetime | None

    @classmethod
    def from_domain(cls, value: customers.LifetimeFigures) -> LifetimeFigures:
        return cls(
            order_count=value.order_count,
            spend=Money.from_domain(value.spend),
            refunds=Money.from_domain(value.refunds),
            return_rate=value.return_rate,
            by_channel=[
                ChannelSpend(
                    channel_code=c.channel_id,
                    order_count=c.order_count,
                    spend=Money.from_domain(c.spend),
                    refunds=Money.from_domain(c.refunds),
                    units=c.units,
                    returned_units=c.returned_units,
                    return_rate=c.return_rate,
                )
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
        from graphql_schema.types.orders import OrderConnection, shows_routing

        selection = filter.to_domain() if filter else OrderFilter()
        paths = selected_paths(info)
        key = CustomerOrdersKey(self.id, selection, page_request(first, after), shows_routing(paths))
        page = await info.context.loaders.orders_page_by_customer.load(key)
        return await OrderConnection.resolve(info, page, paths)

    @strawberry.field(description="This customer's returns on every channel, newest first.")
    async def returns(
        self,
        info: Info,
        filter: ReturnFilterInputRef | None = None,  # noqa: A002 - GraphQL argument name
        first: int | None = None,
        after: str | None = None,
    ) -> ReturnConnectionRef:
        from graphql_schema.types.returns import ReturnConnection

        selection = filter.to_domain() if filter else ReturnFilter()
        key = CustomerReturnsKey(self.id, selection, page_request(first, after))
        return ReturnConnection.from_page(await info.context.loaders.returns_page_by_customer.load(key))

    @strawberry.field(description="This customer's service cases, newest first (customers see customer-visible messages only).")
    async def cases(
        self,
        info: Info,
        filter: CaseFilterInputRef | None = None,  # noqa: A002 - GraphQL argument name
        first: int | None = None,
        after: str | None = None,
    ) -> CaseConnectionRef:
        from graphql_schema.types.cases import CaseConnection

        selection = filter.to_domain() if filter else CaseFilter()
        key = CustomerCasesKey(self.id, selection, page_request(first, after))
        return CaseConnection.from_page(await info.context.loaders.cases_page_by_customer.load(key))

    @strawberry.field(description="Cases not yet resolved: NEW, OPEN or PENDING_CUSTOMER (0 if the caller may not see the customer).")
    def open_case_count(self, info: Info) -> int:
        return now_or_later(info.context.loaders.contact_figures_by_customer, self.id, lambda f: f.open_cases)  # type: ignore[return-value]

    @strawberry.field(description="When the customer last got in touch on any case (opening or message); null if never.")
    def last_contact_at(self, info: Info) -> datetime | None:
        return now_or_later(info.context.loaders.contact_figures_by_customer, self.id, lambda f: f.last_contact_at)  # type: ignore[return-value]


@strawberry.type
class CustomerEdge(relay.Edge[Customer]):
    pass


@strawberry.type(description="A page of customers.")
class CustomerConnection(relay.Connection[Customer]):
    edges: list[CustomerEdge]


# --- upsertCustomer / mergeCustomers -------------------------------------------------------------


@strawberry.input(description="How one channel knows a customer.")
class ChannelIdentityInput:
    channel: str = strawberry.field(description="Channel code; the channel must exist.")
    external_id: str = strawberry.field(description="The channel's id for the customer (buyer id, loyalty number).")


def _text(value: str | None) -> str | None:
    """Omitted keeps the stored value (None in the draft); null clears it ("")."""
    if value is strawberry.UNSET:
        return None
    return "" if value is None else value


@strawberry.input(
    description="A customer to create (no `id`) or update. On update, an omitted field keeps its value, null clears "
    "it, and a given list replaces the whole list. Email, phone and each channel identity belong to one customer only."
)
class UpsertCustomerInput:
    id: relay.GlobalID | None = strawberry.field(default=None, description="The customer to update; omit to create one.")
    first_name: str | None = strawberry.field(default=strawberry.UNSET, description="Given name, up to 100 characters.")
    last_name: str | None = strawberry.field(default=strawberry.UNSET, description="Family name, up to 100 characters.")
    email: str | None = strawberry.field(default=strawberry.UNSET, description="Email address; stored lower-case.")
    phone: str | None = strawberry.field(
        default=strawberry.UNSET, description="Phone number, 6 to 15 digits; stored as digits with a leading + kept."
    )
    addresses: list[AddressInput] | None = strawberry.field(
        default=strawberry.UNSET, description="Every address of the customer (at most 20); duplicates are dropped."
    )
    identities: list[ChannelIdentityInput] | None = strawberry.field(
        default=strawberry.UNSET, description="Every channel identity of the customer (at most 20)."
    )
    reason: str | None = strawberry.field(default=None, description="Why, for the audit trail.")

    def to_domain(self) -> customers.CustomerDraft:
        addresses = self.addresses
        identities = self.identities
        return customers.CustomerDraft(
            first_name=_text(self.first_name),
            last_name=_text(self.last_name),
            email=_text(self.email),
            phone=_text(self.phone),
            addresses=None if addresses is strawberry.UNSET else tuple(a.to_domain() for a in addresses or ()),
            identities=None
            if identities is strawberry.UNSET
            else tuple(customers.ChannelIdentity(i.channel, i.external_id) for i in identities or ()),
        )


@strawberry.type(description="The customer as stored after the upsert.")
class UpsertCustomerPayload:
    customer: Customer = strawberry.field(description="The customer now.")
    created: bool = strawberry.field(description="True when this call created the customer.")
    changed: bool = strawberry.field(
        description="False when the input matched what was stored: nothing was written and no event recorded."
    )
    changed_fields: list[str] = strawberry.field(
        description="Input fields that changed (firstName, email, addresses, ...); all that are set, when created."
    )

    @classmethod
    def from_domain(cls, value: CustomerUpsert) -> UpsertCustomerPayload:
        return cls(
            customer=Customer.from_domain(value.customer),
            created=value.created,
            changed=bool(value.changed),
            changed_fields=list(value.changed),
        )


UpsertCustomerResult = Annotated[
    UpsertCustomerPayload | InvalidInputError | NotFoundError | ConflictError | PermissionDeniedError,
    strawberry.union("UpsertCustomerResult", description="The customer as stored, or why nothing was written."),
]


@strawberry.input(description="Two records of one person: the merged one's history moves to the survivor.")
class MergeCustomersInput:
    survivor_id: relay.GlobalID = strawberry.field(description="The customer that remains.")
    merged_id: relay.GlobalID = strawberry.field(
        description="The customer merged into the survivor; kept only as a tombstone for the audit trail."
    )
    reason: str = strawberry.field(description="Why, for the audit trail (required).")


@strawberry.type(description="The survivor after a merge, and what moved to it.")
class MergeCustomersPayload:
    customer: Customer = strawberry.field(description="The surviving customer, with everything merged in.")
    merged_id: relay.GlobalID = strawberry.field(
        description="The merged customer's id: `customer(id)` now answers the survivor for it, `node(id)` null."
    )
    orders_moved: int = strawberry.field(description="Orders now the survivor's.")
    shipments_moved: int = strawberry.field(description="Shipments now the survivor's.")
    identities_moved: int = strawberry.field(description="Channel identities now the survivor's.")
    addresses_added: int = strawberry.field(description="Addresses the survivor did not have already.")
    api_keys_moved: int = strawberry.field(description="Customer API keys that now act for the survivor.")

    @classmethod
    def from_domain(cls, value: CustomersMerged) -> MergeCustomersPayload:
        return cls(
            customer=Customer.from_domain(value.survivor),
            merged_id=relay.GlobalID("Customer", value.merged_id),
            orders_moved=value.orders_moved,
            shipments_moved=value.shipments_moved,
            identities_moved=value.identities_moved,
            addresses_added=value.addresses_added,
            api_keys_moved=value.api_keys_moved,
        )


MergeCustomersResult = Annotated[
    MergeCustomersPayload | InvalidInputError | NotFoundError | ConflictError | PermissionDeniedError,
    strawberry.union("MergeCustomersResult", description="The survivor after the merge, or why nothing was written."),
]
