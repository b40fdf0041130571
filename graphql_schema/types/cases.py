"""Customer service cases: the case, its thread and SLA, the connection and its filter, live updates."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import TYPE_CHECKING, Annotated

import strawberry
from strawberry import relay

from app.domain import cases
from app.domain.events import DomainEvent
from app.domain.pagination import Page
from graphql_schema.context import Info
from graphql_schema.enums import CaseEntryKind, CasePriority, CaseStatus, CaseTopic, ContactChannel
from graphql_schema.ids import node_id_of
from graphql_schema.pagination import edges as edges_of, page_info
from graphql_schema.prefetch import now_or_later
from graphql_schema.types.customers import Customer
from graphql_schema.types.events import Event

if TYPE_CHECKING:
    from graphql_schema.types.orders import Order
    from graphql_schema.types.returns import Return
    from graphql_schema.types.shipments import Shipment

OrderRef = Annotated["Order", strawberry.lazy("graphql_schema.types.orders")]
ReturnRef = Annotated["Return", strawberry.lazy("graphql_schema.types.returns")]
ShipmentRef = Annotated["Shipment", strawberry.lazy("graphql_schema.types.shipments")]

# Static cost (graphql_schema/cost.py) of lists without `first`.
ENTRIES_COST = {"cost_list_size": 20}
LINKS_COST = {"cost_list_size": 5}


@strawberry.type(description="One entry of a case's thread.")
class CaseEntry:
    id: str
    kind: CaseEntryKind
    body: str = strawberry.field(description="The message, note, or what was done (ACTION).")
    author: str = strawberry.field(description="Who wrote it (principal subject).")
    author_role: str
    from_customer: bool = strawberry.field(description="A message from the customer (rather than to them).")
    at: datetime
    order_ref: strawberry.Private[str | None]
    action: str | None = strawberry.field(description="ACTION: the mutation taken from the case (editOrder, cancelOrder, holdOrder, ...).")

    @strawberry.field(description="ACTION: the order acted on (null if the caller may not see it).")
    def order(self, info: Info) -> OrderRef | None:
        if self.order_ref is None:
            return None
        from graphql_schema.types.orders import Order

        return now_or_later(info.context.loaders.order_by_id, self.order_ref, Order.from_domain)  # type: ignore[return-value]

    @classmethod
    def from_domain(cls, value: cases.CaseEntry) -> CaseEntry:
        return cls(
            id=value.id, kind=value.kind, body=value.body, author=value.author, author_role=value.author_role,
            from_customer=value.from_customer, at=value.at, order_ref=value.order_id, action=value.action,
        )


@strawberry.type(description="A case's service-level targets: when it must be answered and resolved, and whether it was not.")
class CaseSla:
    first_response_due: datetime | None = strawberry.field(description="The first answer to the customer is due; null once resolved.")
    resolution_due: datetime | None = strawberry.field(description="Resolution is due; null once resolved.")
    first_responded_at: datetime | None = strawberry.field(description="When staff first answered the customer.")
    first_response_breached_at: datetime | None = strawberry.field(description="When the first-response target was marked missed.")
    resolution_breached_at: datetime | None = strawberry.field(description="When the resolution target was marked missed.")
    paused_since: datetime | None = strawberry.field(description="PENDING_CUSTOMER: the clock is paused since then; due times move on when it resumes.")
    breached: bool = strawberry.field(description="Some target was missed.")

    @classmethod
    def from_domain(cls, value: cases.Sla) -> CaseSla:
        return cls(
            first_response_due=value.first_response_due, resolution_due=value.resolution_due,
            first_responded_at=value.first_responded_at, first_response_breached_at=value.first_response_breached_at,
            resolution_breached_at=value.resolution_breached_at, paused_since=value.paused_at, breached=value.breached,
        )


@strawberry.type(description="A customer service case (ticket): why a customer got in touch, what was done, and by when.")
class Case(relay.Node):
    id: relay.NodeID[str]
    number: str = strawberry.field(description="Human-readable: C-….")
    status: CaseStatus
    priority: CasePriority
    topic: CaseTopic
    contact_channel: ContactChannel
    subject: str
    client_key: str = strawberry.field(description="The opener's idempotency key.")
    customer_ref: strawberry.Private[str]
    order_refs: strawberry.Private[tuple[str, ...]]
    shipment_refs: strawberry.Private[tuple[str, ...]]
    return_refs: strawberry.Private[tuple[str, ...]]
    channel_code: str | None = strawberry.field(description="The sales channel it concerns (a channel integration sees only its own).")
    location_code: str | None = strawberry.field(description="The store it was opened at.")
    assignee: str | None = strawberry.field(description="The rep working it (principal subject); null while in the queue.")
    sla: CaseSla
    entries: list[CaseEntry] = strawberry.field(
        description="The thread, oldest first. Customers and channels see customer-visible messages only.", metadata=ENTRIES_COST
    )
    opened_by: str = strawberry.field(description="Who opened it (principal subject).")
    last_contact_at: datetime | None = strawberry.field(description="The customer's latest message (or the opening).")
    resolved_at: datetime | None
    closed_at: datetime | None
    created_at: datetime
    updated_at: datetime
    version: int = strawberry.field(description="Increments with every change.")

    @classmethod
    def from_domain(cls, value: cases.Case) -> Case:
        return cls(
            id=value.id, number=value.number, status=value.status, priority=value.priority, topic=value.topic,
            contact_channel=value.contact_channel, subject=value.subject, client_key=value.client_key,
            customer_ref=value.customer_id, order_refs=value.links.order_ids, shipment_refs=value.links.shipment_ids,
            return_refs=value.links.return_ids, channel_code=value.channel_id, location_code=value.location_id,
            assignee=value.assignee, sla=CaseSla.from_domain(value.sla), entries=[CaseEntry.from_domain(e) for e in value.entries],
            opened_by=value.opened_by, last_contact_at=value.last_contact_at, resolved_at=value.resolved_at,
            closed_at=value.closed_at, created_at=value.created_at, updated_at=value.updated_at, version=value.version,
        )

    @classmethod
    async def resolve_nodes(cls, *, info: Info, node_ids: Iterable[str], required: bool = False) -> list[Case | None]:
        found = await info.context.loaders.case_by_id.load_many(list(node_ids))
        return [cls.from_domain(c) if c else None for c in found]

    @strawberry.field(description="The customer (null if the caller may not see them).")
    def customer(self, info: Info) -> Customer | None:
        return now_or_later(info.context.loaders.customer_by_id, self.customer_ref, Customer.from_domain)  # type: ignore[return-value]

    @strawberry.field(description="Linked orders with their live status and timeline (those the caller may see).", metadata=LINKS_COST)
    async def orders(self, info: Info) -> list[OrderRef]:
        from graphql_schema.types.orders import Order

        found = await info.context.loaders.order_by_id.load_many(list(self.order_refs))
        return [Order.from_domain(o) for o in found if o is not None]  # type: ignore[misc]

    @strawberry.field(description="Linked shipments (those the caller may see).", metadata=LINKS_COST)
    async def shipments(self, info: Info) -> list[ShipmentRef]:
        from graphql_schema.types.shipments import Shipment

        found = await info.context.loaders.shipment_by_id.load_many(list(self.shipment_refs))
        return [Shipment.from_domain(s) for s in found if s is not None]  # type: ignore[misc]

    @strawberry.field(description="Linked returns (those the caller may see).", metadata=LINKS_COST)
    async def returns(self, info: Info) -> list[ReturnRef]:
        from graphql_schema.types.returns import Return

        found = await info.context.loaders.return_by_id.load_many(list(self.return_refs))
        return [Return.from_domain(r) for r in found if r is not None]  # type: ignore[misc]


@strawberry.type
class CaseEdge(relay.Edge[Case]):
    pass


@strawberry.type(description="A page of cases.")
class CaseConnection(relay.Connection[Case]):
    edges: list[CaseEdge]

    @classmethod
    def from_page(cls, page: Page[cases.Case]) -> CaseConnection:
        return cls(edges=edges_of(page, Case.from_domain, CaseEdge), page_info=page_info(page))


@strawberry.input(description="Which cases to list. All given criteria must match.")
class CaseFilterInput:
    statuses: list[CaseStatus] | None = strawberry.field(default=None, description="Any of these statuses.")
    priorities: list[CasePriority] | None = strawberry.field(default=None, description="Any of these priorities.")
    topics: list[CaseTopic] | None = strawberry.field(default=None, description="Any of these topics.")
    contact_channels: list[ContactChannel] | None = strawberry.field(default=None, description="Opened through any of these.")
    channels: list[str] | None = strawberry.field(default=None, description="About any of these sales channels.")
    locations: list[str] | None = strawberry.field(default=None, description="Opened at any of these stores.")
    assignee: str | None = strawberry.field(default=None, description="Worked by this rep (principal subject).")
    unassigned: bool | None = strawberry.field(default=None, description="true: in the queue; false: assigned to someone.")
    breached: bool | None = strawberry.field(default=None, description="true: some SLA target was missed.")
    customer_id: relay.GlobalID | None = strawberry.field(default=None, description="Cases of this customer.")
    order_id: relay.GlobalID | None = strawberry.field(default=None, description="Cases linked to this order.")
    text: str | None = strawberry.field(
        default=None, description="Words in the subject or the thread (case-insensitive, matched literally; at most 100 characters)."
    )

    def to_domain(self) -> cases.CaseFilter:
        return cases.CaseFilter(
            statuses=tuple(self.statuses or ()),
            priorities=tuple(self.priorities or ()),
            topics=tuple(self.topics or ()),
            contact_channels=tuple(self.contact_channels or ()),
            channel_ids=tuple(self.channels or ()),
            location_ids=tuple(self.locations or ()),
            assignee=self.assignee,
            unassigned=self.unassigned,
            breached=self.breached,
            customer_id=node_id_of(self.customer_id, "Customer", field="customerId") if self.customer_id else None,
            order_id=node_id_of(self.order_id, "Order", field="orderId") if self.order_id else None,
            text=self.text,
        )


@strawberry.type(description="A case changed. Resume after `cursor` to continue exactly after this one.")
class CaseUpdate:
    cursor: str = strawberry.field(description="The event's position in the log.")
    event: Event = strawberry.field(description="What happened.")
    case_id: relay.GlobalID = strawberry.field(description="The case.")
    status: CaseStatus | None = strawberry.field(description="The case's status after this event.")
    priority: CasePriority | None
    assignee: str | None = strawberry.field(description="Who works it after this event.")

    @classmethod
    def from_domain(cls, value: DomainEvent) -> CaseUpdate:
        status, priority = value.payload.get("status"), value.payload.get("priority")
        return cls(
            cursor=str(value.seq),
            event=Event.from_domain(value),
            case_id=relay.GlobalID("Case", value.aggregate_id),
            status=cases.CaseStatus(status) if status in cases.CaseStatus.__members__ else None,
            priority=cases.CasePriority(priority) if priority in cases.CasePriority.__members__ else None,
            assignee=value.payload.get("assignee"),
        )
