"""Orders: lines, delivery, totals, allocations, hold and timeline."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Sequence
from datetime import date, datetime
from typing import TYPE_CHECKING, Annotated, Any

import strawberry
from strawberry import relay
from strawberry.dataloader import DataLoader

from app.domain import orders, returns, shipments
from app.domain.pagination import Page
from app.domain.refunds import amount_paid
from graphql_schema.context import Info
from graphql_schema.ids import node_id_of
from graphql_schema.enums import AllocationStatus, DeliveryMethod, OrderReturnStatus, OrderStatus, PointSource
from graphql_schema.pagination import edges as edges_of, page_info
from graphql_schema.prefetch import now_or_later, prime
from graphql_schema.types.catalog import Channel, Location, Product
from graphql_schema.types.common import Address, GeoPoint, Money
from graphql_schema.types.customers import Customer
from graphql_schema.types.events import Event
from graphql_schema.types.payments import Payment, RefundSummary, payments_of, refund_summary_of
from graphql_schema.types.routing import RoutingExplanation

if TYPE_CHECKING:
    from graphql_schema.types.cases import Case
    from graphql_schema.types.exchanges import Exchange
    from graphql_schema.types.refunds import Refund
    from graphql_schema.types.returns import Return
    from graphql_schema.types.shipments import Shipment

ShipmentRef = Annotated["Shipment", strawberry.lazy("graphql_schema.types.shipments")]
ReturnRef = Annotated["Return", strawberry.lazy("graphql_schema.types.returns")]
RefundRef = Annotated["Refund", strawberry.lazy("graphql_schema.types.refunds")]
ExchangeRef = Annotated["Exchange", strawberry.lazy("graphql_schema.types.exchanges")]
CaseRef = Annotated["Case", strawberry.lazy("graphql_schema.types.cases")]


@strawberry.type(description="Quantity of one line reserved at one location.")
class Allocation:
    id: strawberry.ID
    line_id: str
    sku: str
    location_code: str
    quantity: int
    status: AllocationStatus

    @strawberry.field(description="Where the quantity is reserved.")
    def location(self, info: Info) -> Location | None:
        return now_or_later(info.context.loaders.location_by_id, self.location_code, Location.from_domain)  # type: ignore[return-value]

    @classmethod
    def from_domain(cls, value: orders.Allocation) -> Allocation:
        return cls(
            id=strawberry.ID(value.id),
            line_id=value.line_id,
            sku=value.sku,
            location_code=value.location_id,
            quantity=value.quantity,
            status=value.status,
        )


@strawberry.type(description="One line of an order.")
class OrderLine:
    id: str = strawberry.field(description="Line id, stable within the order.")
    sku: str
    name: str
    quantity: int = strawberry.field(description="Quantity ordered.")
    cancelled_quantity: int
    open_quantity: int = strawberry.field(description="Ordered minus cancelled.")
    allocated_quantity: int = strawberry.field(description="Reserved or already fulfilled.")
    backordered_quantity: int = strawberry.field(description="Open quantity the network could not reserve yet.")
    unit_price: Money

    @strawberry.field
    def total(self) -> Money:
        # Made when asked for: a page of orders seldom shows line totals.
        return Money.from_domain(self.domain.total)

    domain: strawberry.Private[orders.OrderLine]

    @strawberry.field(description="The product, if still in the catalog.")
    def product(self, info: Info) -> Product | None:
        return now_or_later(info.context.loaders.product_by_sku, self.sku, Product.from_domain)  # type: ignore[return-value]

    @strawberry.field(
        description="While units are backordered: when stock is expected, the earliest expected date of a submitted purchase "
        "order with the SKU still to come (follows the PO's date). Null when nothing is backordered or nothing is on order."
    )
    def promise_date(self, info: Info) -> datetime | None:
        if self.backordered_quantity <= 0:
            return None
        return now_or_later(info.context.loaders.promise_date_by_sku, self.sku, lambda found: found)  # type: ignore[return-value]


@strawberry.type(description="How and where the order is delivered.")
class Delivery:
    method: DeliveryMethod
    address: Address | None
    point: GeoPoint | None
    requested_date: date | None = strawberry.field(description="Delivery date the shopper asked for, if any.")
    pickup_location_code: str | None
    point_source: PointSource | None = strawberry.field(
        description="SHIP: how `point` was found (sent with the order, or the centre of its postal code or city). Null for pick-up."
    )

    @strawberry.field(description="The store for PICKUP_IN_STORE.")
    def pickup_location(self, info: Info) -> Location | None:
        if not self.pickup_location_code:
            return None
        return now_or_later(info.context.loaders.location_by_id, self.pickup_location_code, Location.from_domain)  # type: ignore[return-value]


@strawberry.type(description="Order totals.")
class OrderTotals:
    subtotal: Money
    shipping: Money
    tax: Money
    total: Money


@strawberry.type(description="Why and since when an order is held.")
class OrderHold:
    reason: str
    placed_by: str
    placed_at: datetime
    previous_status: OrderStatus = strawberry.field(description="Status the order returns to on release.")


def _lines_of(order: orders.Order) -> list[OrderLine]:
    allocated = order.allocated_quantities()
    made = []
    for line in order.lines:
        open_quantity = line.open_quantity
        allocated_quantity = allocated.get(line.id, 0)
        made.append(
            OrderLine(
                id=line.id,
                sku=line.sku,
                name=line.name,
                quantity=line.quantity,
                cancelled_quantity=line.cancelled_quantity,
                open_quantity=open_quantity,
                allocated_quantity=allocated_quantity,
                backordered_quantity=max(0, open_quantity - allocated_quantity),  # as Order.backordered_quantity
                unit_price=Money.from_domain(line.unit_price),
                domain=line,
            )
        )
    return made


def _allocations_of(root: Any) -> list[Allocation]:
    """Order.allocations (a resolver only to keep the field where it was in the schema)."""
    return [Allocation.from_domain(a) for a in root.domain.allocations]


@strawberry.type(description="An order from any channel.")
class Order(relay.Node):
    id: relay.NodeID[str]
    external_id: str = strawberry.field(description="The channel's own order id; unique per channel.")
    channel_code: str
    customer_ref: strawberry.Private[str]
    routing_data: strawberry.Private[dict[str, object] | None]
    status: OrderStatus
    lines: list[OrderLine]
    delivery: Delivery
    totals: OrderTotals
    notes: str | None
    hold: OrderHold | None
    allocations: list[Allocation] = strawberry.field(resolver=_allocations_of)
    release_at: datetime | None = strawberry.field(
        description="For scheduled delivery: when the order is released for fulfilment."
    )
    item_count: int = strawberry.field(description="Open units across all lines.")
    created_at: datetime
    updated_at: datetime
    version: int = strawberry.field(description="Increments with every change.")

    # Allocations, payments and the refund summary are made only when a query asks for them: a
    # page of orders seldom does, and making them for every order was a tenth of a page's work.
    @strawberry.field(
        description="Money captured for the order by payment providers, and what was refunded through each.",
        metadata={"cost_list_size": 10},
    )
    def payments(self) -> list[Payment]:
        return payments_of(self.domain)

    @strawberry.field(description="What was paid, refunded and credited to exchanges, and what is left.")
    def refund_summary(self) -> RefundSummary:
        return refund_summary_of(self.domain, amount_paid(self.domain))

    exchange_for_return_ref: strawberry.Private[str | None]
    domain: strawberry.Private[orders.Order]

    @classmethod
    def from_domain(cls, value: orders.Order) -> Order:
        return cls(
            id=value.id,
            external_id=value.external_id,
            channel_code=value.channel_id,
            customer_ref=value.customer_id,
            routing_data=value.routing,
            status=value.status,
            lines=_lines_of(value),
            delivery=Delivery(
                method=value.delivery.method,
                address=Address.from_domain(value.delivery.address) if value.delivery.address else None,
                point=GeoPoint.from_domain(value.delivery.point) if value.delivery.point else None,
                requested_date=value.delivery.requested_date,
                pickup_location_code=value.delivery.pickup_location_id,
                point_source=value.delivery.point_source,
            ),
            totals=OrderTotals(
                subtotal=Money.from_domain(value.totals.subtotal),
                shipping=Money.from_domain(value.totals.shipping),
                tax=Money.from_domain(value.totals.tax),
                total=Money.from_domain(value.totals.total),
            ),
            notes=value.notes,
            hold=(
                OrderHold(
                    reason=value.hold.reason,
                    placed_by=value.hold.placed_by,
                    placed_at=value.hold.placed_at,
                    previous_status=value.hold.previous_status,
                )
                if value.hold
                else None
            ),
            release_at=value.release_at,
            item_count=sum(line.open_quantity for line in value.lines),
            created_at=value.created_at,
            updated_at=value.updated_at,
            version=value.version,
            exchange_for_return_ref=value.exchange_for_return_id,
            domain=value,
        )

    @classmethod
    async def resolve_nodes(cls, *, info: Info, node_ids: Iterable[str], required: bool = False) -> list[Order | None]:
        found = await info.context.loaders.order_by_id.load_many(list(node_ids))
        return [cls.from_domain(o) if o else None for o in found]

    @strawberry.field(description="The channel the order came from.")
    def channel(self, info: Info) -> Channel | None:
        return now_or_later(info.context.loaders.channel_by_id, self.channel_code, Channel.from_domain)  # type: ignore[return-value]

    @strawberry.field(description="The customer who placed it (null if the caller may not see them).")
    def customer(self, info: Info) -> Customer | None:
        return now_or_later(info.context.loaders.customer_by_id, self.customer_ref, Customer.from_domain)  # type: ignore[return-value]

    @strawberry.field(description="Shipments of this order, oldest first (those the caller may see).")
    def shipments(self, info: Info) -> list[ShipmentRef]:
        from graphql_schema.types.shipments import Shipment

        return now_or_later(  # type: ignore[return-value]
            info.context.loaders.shipments_by_order, self.id, lambda found: [Shipment.from_domain(s) for s in found]
        )

    @strawberry.field(
        description="When the shopper gets everything: the latest ETA of its live shipments (delivery or pick-up); "
        "null when nothing is planned yet."
    )
    def eta(self, info: Info) -> date | None:
        return now_or_later(info.context.loaders.shipments_by_order, self.id, _latest_eta)  # type: ignore[return-value]

    @strawberry.field(
        description="Why the order was routed where it was at capture (or its last re-route): every candidate, "
        "its scores, and the decisions. Null for orders that were never routed."
    )
    def routing(self) -> RoutingExplanation | None:
        return RoutingExplanation.from_stored(self.routing_data)

    @strawberry.field(
        description="Returns of this order, oldest first (those the caller may see).", metadata={"cost_list_size": 10}
    )
    def returns(self, info: Info) -> list[ReturnRef]:
        from graphql_schema.types.returns import Return

        return now_or_later(  # type: ignore[return-value]
            info.context.loaders.returns_by_order, self.id, lambda found: [Return.from_domain(r) for r in found]
        )

    @strawberry.field(
        description="Customer service cases about this order, newest first (those the caller may see).", metadata={"cost_list_size": 5}
    )
    def cases(self, info: Info) -> list[CaseRef]:
        from graphql_schema.types.cases import Case

        return now_or_later(  # type: ignore[return-value]
            info.context.loaders.cases_by_order, self.id, lambda found: [Case.from_domain(c) for c in found]
        )

    @strawberry.field(description="The order's returns at a glance: none, requested, partially or fully returned.")
    def return_status(self, info: Info) -> OrderReturnStatus:
        units = self.item_count
        return now_or_later(  # type: ignore[return-value]
            info.context.loaders.returns_by_order, self.id, lambda found: returns.order_return_status(found, units)
        )

    @strawberry.field(description="Every recorded change to this order, oldest first: the audit trail.")
    async def timeline(self, info: Info) -> list[Event]:
        return [Event.from_domain(e) for e in await info.context.loaders.timeline_by_order.load(self.id)]

    @strawberry.field(
        description="Refunds, appeasements and exchange credits against this order, oldest first (those the caller may see).",
        metadata={"cost_list_size": 10},
    )
    def refunds(self, info: Info) -> list[RefundRef]:
        from graphql_schema.types.refunds import Refund

        return now_or_later(  # type: ignore[return-value]
            info.context.loaders.refunds_by_order, self.id, lambda found: [Refund.from_domain(r) for r in found]
        )

    @strawberry.field(description="For a replacement order: the exchange (and through it the return) it replaces goods of.")
    def exchange_for(self, info: Info) -> ExchangeRef | None:
        from graphql_schema.types.exchanges import Exchange

        if self.exchange_for_return_ref is None:
            return None
        return now_or_later(  # type: ignore[return-value]
            info.context.loaders.exchange_by_replacement_order, self.id, lambda found: Exchange.from_domain(found) if found else None
        )


@strawberry.type
class OrderEdge(relay.Edge[Order]):
    pass


@strawberry.type(description="A page of orders, newest first.")
class OrderConnection(relay.Connection[Order]):
    edges: list[OrderEdge]

    @classmethod
    async def resolve(cls, info: Info, page: Page[orders.Order], paths: frozenset[str]) -> OrderConnection:
        """The connection, with the references its selection (`paths`, from selected_paths) asks
        for loaded in one batch each."""
        await prefetch_order_references(info, page.items, paths)
        return cls.from_page(page)

    @classmethod
    def from_page(cls, page: Page[orders.Order]) -> OrderConnection:
        return cls(
            edges=edges_of(page, Order.from_domain, OrderEdge),
            page_info=page_info(page),
        )


def shows_routing(paths: frozenset[str]) -> bool:
    """Whether a connection's selection shows the orders' routing explanation: if not, the page is
    read without it (the bulk of a routed order's document)."""
    return "edges.node.routing" in paths


def _latest_eta(found: Sequence[shipments.Shipment]) -> date | None:
    etas = [s.eta for s in found if s.eta and s.status != "CANCELLED"]
    return max(etas) if etas else None


async def prefetch_order_references(info: Info, found: Sequence[orders.Order], paths: frozenset[str]) -> None:
    loaders = info.context.loaders
    keys: dict[DataLoader[Any, Any], list[Any]] = {}  # one prime per loader, however many paths use it

    def want(loader: DataLoader[Any, Any], found_keys: Iterable[Any]) -> None:
        keys.setdefault(loader, []).extend(found_keys)

    if "edges.node.customer" in paths:
        want(loaders.customer_by_id, (o.customer_id for o in found))
    if "edges.node.channel" in paths:
        want(loaders.channel_by_id, (o.channel_id for o in found))
    if "edges.node.lines.product" in paths:
        want(loaders.product_by_sku, (line.sku for o in found for line in o.lines))
    if "edges.node.allocations.location" in paths:
        want(loaders.location_by_id, (a.location_id for o in found for a in o.allocations))
    if "edges.node.delivery.pickupLocation" in paths:
        want(loaders.location_by_id, (o.delivery.pickup_location_id for o in found if o.delivery.pickup_location_id))
    if "edges.node.shipments" in paths or "edges.node.eta" in paths:
        want(loaders.shipments_by_order, (o.id for o in found))
    await asyncio.gather(*(prime(loader, loader_keys) for loader, loader_keys in keys.items()))


@strawberry.input(description="Which orders to list. All given criteria must match.")
class OrderFilterInput:
    statuses: list[OrderStatus] | None = strawberry.field(default=None, description="Any of these statuses.")
    channels: list[str] | None = strawberry.field(default=None, description="Any of these channel codes.")
    customer_id: relay.GlobalID | None = strawberry.field(default=None, description="Orders of this customer.")
    locations: list[str] | None = strawberry.field(
        default=None, description="Orders allocated to any of these location codes."
    )
    created_from: datetime | None = strawberry.field(default=None, description="Created at or after.")
    created_to: datetime | None = strawberry.field(default=None, description="Created before.")

    def to_domain(self) -> orders.OrderFilter:
        return orders.OrderFilter(
            statuses=tuple(self.statuses or ()),
            channel_ids=tuple(self.channels or ()),
            customer_id=node_id_of(self.customer_id, "Customer", field="customerId") if self.customer_id else None,
            location_ids=tuple(self.locations or ()),
            created_from=self.created_from,
            created_to=self.created_to,
        )
