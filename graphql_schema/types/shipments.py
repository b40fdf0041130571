"""Shipments: lines, packages, label, tracking, promise dates and their documents."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime
from typing import TYPE_CHECKING, Annotated

import strawberry
from strawberry import relay

from app.domain import carriers, shipments
from app.domain.pagination import Page
from app.services.documents import DocumentKind
from graphql_schema.context import Info
from graphql_schema.enums import FulfilmentMethod, HandlingFlag, ServiceLevel, ShipmentStatus, TrackingEventKind
from graphql_schema.ids import node_id_of
from graphql_schema.pagination import edges as edges_of, page_info
from graphql_schema.prefetch import now_or_later
from graphql_schema.types.catalog import Location, Product
from graphql_schema.types.common import Address, Money

if TYPE_CHECKING:
    from graphql_schema.types.orders import Order

OrderRef = Annotated["Order", strawberry.lazy("graphql_schema.types.orders")]


@strawberry.type(description="Units of one order line in this shipment (one reservation).")
class ShipmentLine:
    id: str = strawberry.field(description="Line id within the shipment (its allocation id); used by confirmPick.")
    line_id: str = strawberry.field(description="The order line.")
    sku: str
    name: str
    quantity: int = strawberry.field(description="Units to ship (after a short pick: the units picked).")
    picked_quantity: int | None = strawberry.field(description="Units the picker confirmed; null until picked.")
    handling: list[HandlingFlag] = strawberry.field(description="Special handling of the item.")

    @strawberry.field(description="The product.")
    def product(self, info: Info) -> Product | None:
        return now_or_later(info.context.loaders.product_by_sku, self.sku, Product.from_domain)  # type: ignore[return-value]


@strawberry.type(description="A packed box.")
class ShipmentPackage:
    number: int
    weight_grams: int
    length_cm: float
    width_cm: float
    height_cm: float


@strawberry.type(description="The carrier label bought for a shipment.")
class ShippingLabel:
    carrier: str = strawberry.field(description="Carrier code, e.g. `ups`.")
    service: str = strawberry.field(description="Carrier service code, e.g. `UPS_GROUND`.")
    service_name: str
    tracking_number: str
    cost: Money
    billable_weight_grams: int = strawberry.field(description="Max of actual and dimensional weight, rounded up to a pound.")
    zone: int = strawberry.field(description="Carrier zone from origin-destination distance (2-8).")
    estimated_delivery: date
    purchased_at: datetime


@strawberry.type(description="One carrier scan.")
class TrackingEvent:
    id: str = strawberry.field(description="The carrier's event id.")
    kind: TrackingEventKind
    occurred_at: datetime
    received_at: datetime
    description: str | None
    location: str | None
    estimated_delivery: date | None = strawberry.field(description="The carrier's new estimate, if it sent one.")


@strawberry.type(description="What leaves one location for one order: picked, packed, labelled, tracked.")
class Shipment(relay.Node):
    id: relay.NodeID[str]
    number: str = strawberry.field(description="Human-readable: the order's external id and a sequence.")
    status: ShipmentStatus
    method: FulfilmentMethod
    on_hold: bool = strawberry.field(description="The order is scheduled or on hold: not pickable or shippable yet.")
    location_code: str
    order_ref: strawberry.Private[str]
    lines: list[ShipmentLine]
    packages: list[ShipmentPackage]
    label: ShippingLabel | None
    tracking_number: str | None
    tracking_events: list[TrackingEvent] = strawberry.field(description="Carrier scans, in the order they happened.")
    destination: Address | None = strawberry.field(description="Where it goes: the shopper, or the pick-up store.")
    promised_date: date | None = strawberry.field(description="What the shopper was promised: requested date or first ETA.")
    eta: date | None = strawberry.field(description="Current delivery (or pick-up) estimate; follows tracking events.")
    late: bool = strawberry.field(description="The current ETA is after the promised date.")
    handling: list[HandlingFlag] = strawberry.field(description="Every special handling any item needs.")
    item_count: int
    status_at: datetime | None = strawberry.field(description="When the current status was reached.")
    created_at: datetime
    updated_at: datetime
    version: int

    @classmethod
    def from_domain(cls, value: shipments.Shipment) -> Shipment:
        label = value.label
        return cls(
            id=value.id,
            number=value.number,
            status=value.status,
            method=value.method,
            on_hold=value.held,
            location_code=value.location_id,
            order_ref=value.order_id,
            lines=[
                ShipmentLine(
                    id=line.allocation_id, line_id=line.line_id, sku=line.sku, name=line.name, quantity=line.quantity,
                    picked_quantity=line.picked_quantity, handling=sorted(line.handling),
                )
                for line in value.lines
            ],
            packages=[ShipmentPackage(number=p.number, weight_grams=p.weight_grams, length_cm=p.length_cm, width_cm=p.width_cm,
                                      height_cm=p.height_cm) for p in value.packages],
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
            tracking_number=value.tracking_number,
            tracking_events=[
                TrackingEvent(id=e.id, kind=e.kind, occurred_at=e.occurred_at, received_at=e.received_at, description=e.description,
                              location=e.location, estimated_delivery=e.estimated_delivery)
                for e in sorted(value.tracking, key=lambda e: (e.occurred_at, e.id))
            ],
            destination=Address.from_domain(value.destination) if value.destination else None,
            promised_date=value.promised_date,
            eta=value.eta,
            late=bool(value.eta and value.promised_date and value.eta > value.promised_date),
            handling=sorted(value.handling),
            item_count=value.item_count,
            status_at=value.status_at,
            created_at=value.created_at,
            updated_at=value.updated_at,
            version=value.version,
        )

    @classmethod
    async def resolve_nodes(cls, *, info: Info, node_ids: Iterable[str], required: bool = False) -> list[Shipment | None]:
        found = await info.context.loaders.shipment_by_id.load_many(list(node_ids))
        return [cls.from_domain(s) if s else None for s in found]

    @strawberry.field(description="The location it ships from (or is picked up at).")
    def location(self, info: Info) -> Location | None:
        return now_or_later(info.context.loaders.location_by_id, self.location_code, Location.from_domain)  # type: ignore[return-value]

    @strawberry.field(description="The order (null if the caller may not see it).")
    def order(self, info: Info) -> OrderRef | None:
        from graphql_schema.types.orders import Order

        return now_or_later(info.context.loaders.order_by_id, self.order_ref, Order.from_domain)  # type: ignore[return-value]

    @strawberry.field(description="Packing slip PDF: a signed URL, valid for 15 minutes, relative to the API's origin.")
    def packing_slip_url(self, info: Info) -> str:
        return info.context.services.documents.shipment_url(info.context.actor, self.id, DocumentKind.PACKING_SLIP)

    @strawberry.field(description="Shipping label PDF (4x6 in, Code 128 tracking barcode): a signed URL; null until shipped.")
    def label_url(self, info: Info) -> str | None:
        if self.label is None:
            return None
        return info.context.services.documents.shipment_url(info.context.actor, self.id, DocumentKind.LABEL)


@strawberry.type
class ShipmentEdge(relay.Edge[Shipment]):
    pass


@strawberry.type(description="A page of shipments, newest first.")
class ShipmentConnection(relay.Connection[Shipment]):
    edges: list[ShipmentEdge]

    @classmethod
    def from_page(cls, page: Page[shipments.Shipment]) -> ShipmentConnection:
        return cls(
            edges=edges_of(page, Shipment.from_domain, ShipmentEdge),
            page_info=page_info(page),
        )


@strawberry.input(description="Which shipments to list. All given criteria must match.")
class ShipmentFilterInput:
    statuses: list[ShipmentStatus] | None = strawberry.field(default=None, description="Any of these statuses.")
    locations: list[str] | None = strawberry.field(default=None, description="Shipping from any of these location codes.")
    order_id: relay.GlobalID | None = strawberry.field(default=None, description="Shipments of this order.")
    tracking_number: str | None = strawberry.field(default=None, description="The shipment with this tracking number.")

    def to_domain(self) -> shipments.ShipmentFilter:
        return shipments.ShipmentFilter(
            statuses=tuple(self.statuses or ()),
            location_ids=tuple(self.locations or ()),
            order_id=node_id_of(self.order_id, "Order", field="orderId") if self.order_id else None,
            tracking_number=self.tracking_number,
        )


@strawberry.type(description="One carrier service's price and delivery estimate for a shipment.")
class ShippingQuote:
    carrier: str
    service: str
    service_name: str
    level: ServiceLevel
    amount: Money
    zone: int
    billable_weight_grams: int
    transit_days: int = strawberry.field(description="Business days in transit.")
    estimated_delivery: date
    meets_promise: bool = strawberry.field(description="Delivers by the shipment's promised date.")

    @classmethod
    def from_domain(cls, quote: carriers.Quote, promised: date | None) -> ShippingQuote:
        return cls(
            carrier=quote.carrier, service=quote.service, service_name=quote.service_name, level=quote.level,
            amount=Money.from_domain(quote.amount), zone=quote.zone, billable_weight_grams=quote.billable_weight_grams,
            transit_days=quote.transit_days, estimated_delivery=quote.estimated_delivery,
            meets_promise=promised is None or quote.estimated_delivery <= promised,
        )


@strawberry.type(description="Quotes from every carrier for one shipment, cheapest first, and the policy's choice.")
class ShippingRates:
    shipment: Shipment
    quotes: list[ShippingQuote]
    policy: str = strawberry.field(description="The shipment's selection policy (from its channel).")
    recommended: ShippingQuote | None = strawberry.field(description="The quote shipShipment would buy by default.")
