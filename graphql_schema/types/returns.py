"""Returns: lines, routing explanation, label, carrier scans; the connection and its filter."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import TYPE_CHECKING, Annotated

import strawberry
from strawberry import relay

from app.domain import returns
from app.domain.events import DomainEvent
from app.domain.pagination import Page
from graphql_schema.context import Info
from graphql_schema.enums import Disposition, ReturnMethod, ReturnReason, ReturnRoutingRule, ReturnStatus, ShippingPayer
from graphql_schema.ids import node_id_of
from graphql_schema.pagination import edges as edges_of, page_info
from graphql_schema.prefetch import now_or_later
from graphql_schema.types.catalog import Channel, Location, Product
from graphql_schema.types.common import Money
from graphql_schema.types.customers import Customer
from graphql_schema.types.events import Event
from graphql_schema.types.shipments import ShippingLabel, TrackingEvent

if TYPE_CHECKING:
    from graphql_schema.types.exchanges import Exchange
    from graphql_schema.types.orders import Order
    from graphql_schema.types.refunds import Refund

OrderRef = Annotated["Order", strawberry.lazy("graphql_schema.types.orders")]
RefundRef = Annotated["Refund", strawberry.lazy("graphql_schema.types.refunds")]
ExchangeRef = Annotated["Exchange", strawberry.lazy("graphql_schema.types.exchanges")]

# Static cost (graphql_schema/cost.py) of lists without `first`: what a typical return holds.
LINES_COST = {"cost_list_size": 10}


@strawberry.type(description="One order line coming back.")
class ReturnLine:
    id: str = strawberry.field(description="Line id within the return: 1, 2, ...")
    order_line_id: str = strawberry.field(description="The order line it returns.")
    sku: str
    name: str
    quantity: int = strawberry.field(description="Units authorized to come back.")
    reason: ReturnReason
    note: str | None = strawberry.field(description="The shopper's or agent's note.")
    unit_price: Money = strawberry.field(description="What the shopper paid per unit.")
    received_quantity: int | None = strawberry.field(description="Units that arrived; null until received.")
    shortfall: int = strawberry.field(description="Authorized but not received (0 until received).")
    disposition: Disposition | None = strawberry.field(description="What became of the received units; null until inspected.")
    disposition_note: str | None = strawberry.field(description="Why (the write-off reason for DAMAGED).")

    @strawberry.field(description="The product, if still in the catalog.")
    def product(self, info: Info) -> Product | None:
        return now_or_later(info.context.loaders.product_by_sku, self.sku, Product.from_domain)  # type: ignore[return-value]

    @classmethod
    def from_domain(cls, value: returns.ReturnLine) -> ReturnLine:
        return cls(
            id=value.id,
            order_line_id=value.order_line_id,
            sku=value.sku,
            name=value.name,
            quantity=value.quantity,
            reason=value.reason,
            note=value.note,
            unit_price=Money.from_domain(value.unit_price),
            received_quantity=value.received_quantity,
            shortfall=value.shortfall,
            disposition=value.disposition,
            disposition_note=value.disposition_note,
        )


@strawberry.type(description="A location considered for a MAIL return.")
class ReturnRoutingCandidate:
    location_code: str
    distance_km: float | None = strawberry.field(description="From where the parcel leaves.")
    outcome: str = strawberry.field(
        description="CHOSEN, FARTHER (a nearer one won), NOT_CENTRE (the channel's returns centre won), "
        "INACTIVE or NO_RETURNS (a returns centre passed over)."
    )


@strawberry.type(description="Why the goods go where they go, stored on the return like an order's routing explanation.")
class ReturnRoutingExplanation:
    rule: ReturnRoutingRule
    location_code: str = strawberry.field(description="The receiving location.")
    summary: str = strawberry.field(description="The decision in one sentence.")
    distance_km: float | None
    candidates: list[ReturnRoutingCandidate] = strawberry.field(
        description="The chosen location and the nearest others (at most 10 besides it).", metadata={"cost_list_size": 11}
    )

    @classmethod
    def from_domain(cls, value: returns.ReturnRouting) -> ReturnRoutingExplanation:
        return cls(
            rule=value.rule,
            location_code=value.location_id,
            summary=value.summary,
            distance_km=value.distance_km,
            candidates=[ReturnRoutingCandidate(location_code=c.location_id, distance_km=c.distance_km, outcome=c.outcome) for c in value.candidates],
        )


@strawberry.type(description="Goods coming back from a shopper: authorized, on their way, received, inspected, refunded.")
class Return(relay.Node):
    id: relay.NodeID[str]
    number: str = strawberry.field(description="Human-readable: R-<order external id>-<n>.")
    status: ReturnStatus
    method: ReturnMethod
    client_key: str = strawberry.field(description="The requester's idempotency key.")
    order_ref: strawberry.Private[str]
    customer_ref: strawberry.Private[str]
    channel_code: str = strawberry.field(description="The order's channel.")
    location_code: str | None = strawberry.field(
        description="The receiving location; null for an IN_STORE return not yet brought to a store."
    )
    lines: list[ReturnLine] = strawberry.field(metadata=LINES_COST)
    routing: ReturnRoutingExplanation | None = strawberry.field(description="How the receiving location was chosen.")
    label: ShippingLabel | None = strawberry.field(description="MAIL: the return label.")
    label_paid_by: ShippingPayer | None = strawberry.field(description="Who pays for the label (channel policy).")
    tracking_number: str | None
    tracking_events: list[TrackingEvent] = strawberry.field(description="Carrier scans of the return label, in the order they happened.")
    requested_by: str | None = strawberry.field(description="Who asked for it (principal subject).")
    status_reason: str | None = strawberry.field(description="Why it was rejected, cancelled or closed.")
    refund_id: str | None = strawberry.field(description="The refund that settled it, once REFUNDED.")
    item_count: int = strawberry.field(description="Units authorized.")
    received_count: int = strawberry.field(description="Units received.")
    received_at: datetime | None
    inspected_at: datetime | None
    closed_at: datetime | None = strawberry.field(description="When it reached REFUNDED, CLOSED, REJECTED or CANCELLED.")
    created_at: datetime
    updated_at: datetime
    version: int = strawberry.field(description="Increments with every change.")

    @classmethod
    def from_domain(cls, value: returns.Return) -> Return:
        label = value.label
        return cls(
            id=value.id,
            number=value.number,
            status=value.status,
            method=value.method,
            client_key=value.client_key,
            order_ref=value.order_id,
            customer_ref=value.customer_id,
            channel_code=value.channel_id,
            location_code=value.location_id,
            lines=[ReturnLine.from_domain(line) for line in value.lines],
            routing=ReturnRoutingExplanation.from_domain(value.routing) if value.routing else None,
            label=(
                ShippingLabel(
                    carrier=label.carrier, service=label.service, service_name=label.service_name or label.service,
                    tracking_number=label.tracking_number, cost=Money.from_domain(label.cost),
                    billable_weight_grams=label.billable_weight_grams, zone=label.zone,
                    estimated_delivery=label.estimated_delivery, purchased_at=label.purchased_at,
                )
                if label
                else None
            ),
            label_paid_by=value.label_paid_by,
            tracking_number=value.tracking_number,
            tracking_events=[
                TrackingEvent(id=e.id, kind=e.kind, occurred_at=e.occurred_at, received_at=e.received_at, description=e.description,
                              location=e.location, estimated_delivery=e.estimated_delivery)
                for e in sorted(value.tracking, key=lambda e: (e.occurred_at, e.id))
            ],
            requested_by=value.requested_by,
            status_reason=value.status_reason,
            refund_id=value.refund_id,
            item_count=value.item_count,
            received_count=value.received_count,
            received_at=value.received_at,
            inspected_at=value.inspected_at,
            closed_at=value.closed_at,
            created_at=value.created_at,
            updated_at=value.updated_at,
            version=value.version,
        )

    @classmethod
    async def resolve_nodes(cls, *, info: Info, node_ids: Iterable[str], required: bool = False) -> list[Return | None]:
        found = await info.context.loaders.return_by_id.load_many(list(node_ids))
        return [cls.from_domain(r) if r else None for r in found]

    @strawberry.field(description="The order it returns from (null if the caller may not see it).")
    def order(self, info: Info) -> OrderRef | None:
        from graphql_schema.types.orders import Order

        return now_or_later(info.context.loaders.order_by_id, self.order_ref, Order.from_domain)  # type: ignore[return-value]

    @strawberry.field(description="The shopper (null if the caller may not see them).")
    def customer(self, info: Info) -> Customer | None:
        return now_or_later(info.context.loaders.customer_by_id, self.customer_ref, Customer.from_domain)  # type: ignore[return-value]

    @strawberry.field(description="The order's channel.")
    def channel(self, info: Info) -> Channel | None:
        return now_or_later(info.context.loaders.channel_by_id, self.channel_code, Channel.from_domain)  # type: ignore[return-value]

    @strawberry.field(description="The receiving location.")
    def location(self, info: Info) -> Location | None:
        if self.location_code is None:
            return None
        return now_or_later(info.context.loaders.location_by_id, self.location_code, Location.from_domain)  # type: ignore[return-value]

    @strawberry.field(description="MAIL: the return label PDF (4x6 in, Code 128 barcode) at a signed URL, valid for 15 minutes.")
    def label_url(self, info: Info) -> str | None:
        if self.label is None:
            return None
        return info.context.services.documents.return_label_url(info.context.actor, self.id)

    @strawberry.field(description="Every recorded change to this return, oldest first (needs the order to be visible).")
    async def timeline(self, info: Info) -> list[Event]:
        found = await info.context.loaders.timeline_by_order.load(self.order_ref)
        return [Event.from_domain(e) for e in found if e.aggregate_type == "Return" and e.aggregate_id == self.id]

    # --- plugged in by the refunds and exchanges areas -------------------------------------------------

    @strawberry.field(description="The refund that settled it, once REFUNDED (null if the caller may not see refunds).")
    def refund(self, info: Info) -> RefundRef | None:
        from graphql_schema.types.refunds import Refund

        return now_or_later(  # type: ignore[return-value]
            info.context.loaders.refund_by_return, self.id, lambda found: Refund.from_domain(found) if found else None
        )

    @strawberry.field(description="Replacement goods asked for with this return, if any, and the replacement order.")
    def exchange(self, info: Info) -> ExchangeRef | None:
        from graphql_schema.types.exchanges import Exchange

        return now_or_later(  # type: ignore[return-value]
            info.context.loaders.exchange_by_return, self.id, lambda found: Exchange.from_domain(found) if found else None
        )


@strawberry.type
class ReturnEdge(relay.Edge[Return]):
    pass


@strawberry.type(description="A page of returns, newest first.")
class ReturnConnection(relay.Connection[Return]):
    edges: list[ReturnEdge]

    @classmethod
    def from_page(cls, page: Page[returns.Return]) -> ReturnConnection:
        return cls(edges=edges_of(page, Return.from_domain, ReturnEdge), page_info=page_info(page))


@strawberry.input(description="Which returns to list. All given criteria must match.")
class ReturnFilterInput:
    statuses: list[ReturnStatus] | None = strawberry.field(default=None, description="Any of these statuses.")
    locations: list[str] | None = strawberry.field(default=None, description="Received at (or routed to) any of these location codes.")
    channels: list[str] | None = strawberry.field(default=None, description="Returns of orders from any of these channels.")
    reasons: list[ReturnReason] | None = strawberry.field(default=None, description="With a line for any of these reasons.")
    order_id: relay.GlobalID | None = strawberry.field(default=None, description="Returns of this order.")
    customer_id: relay.GlobalID | None = strawberry.field(default=None, description="Returns of this customer.")
    created_from: datetime | None = strawberry.field(default=None, description="Requested at or after.")
    created_to: datetime | None = strawberry.field(default=None, description="Requested before.")

    def to_domain(self) -> returns.ReturnFilter:
        return returns.ReturnFilter(
            statuses=tuple(self.statuses or ()),
            location_ids=tuple(self.locations or ()),
            channel_ids=tuple(self.channels or ()),
            reasons=tuple(self.reasons or ()),
            order_id=node_id_of(self.order_id, "Order", field="orderId") if self.order_id else None,
            customer_id=node_id_of(self.customer_id, "Customer", field="customerId") if self.customer_id else None,
            created_from=self.created_from,
            created_to=self.created_to,
        )


@strawberry.type(description="A return changed. Resume after `cursor` to continue exactly after this one.")
class ReturnUpdate:
    cursor: str = strawberry.field(description="The event's position in the log.")
    event: Event = strawberry.field(description="What happened.")
    return_id: relay.GlobalID = strawberry.field(description="The return.")
    order_id: relay.GlobalID | None = strawberry.field(description="Its order.")
    status: ReturnStatus | None = strawberry.field(description="The return's status after this event.")

    @classmethod
    def from_domain(cls, value: DomainEvent) -> ReturnUpdate:
        status = value.payload.get("status")
        return cls(
            cursor=str(value.seq),
            event=Event.from_domain(value),
            return_id=relay.GlobalID("Return", value.aggregate_id),
            order_id=relay.GlobalID("Order", value.order_id) if value.order_id else None,
            status=returns.ReturnStatus(status) if status in returns.ReturnStatus.__members__ else None,
        )
