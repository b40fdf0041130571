"""Channels, locations and products."""

from __future__ import annotations

from collections.abc import Iterable

import strawberry
from strawberry import relay

from app.domain import channels, locations, products
from app.domain.money import Money as DomainMoney
from graphql_schema.context import Info
from graphql_schema.enums import BackorderPolicy, ChannelKind, HandlingFlag, LocationKind, ShippingPolicy
from graphql_schema.enums import PointSource, Weekday
from graphql_schema.types.common import Address, GeoPoint, Money


@strawberry.type(description="A sales channel: web shop, app, store POS, marketplace, phone, catalog, social.")
class Channel(relay.Node):
    id: relay.NodeID[str]
    code: str = strawberry.field(description="Short code used in inputs, e.g. `amazon`.")
    name: str
    kind: ChannelKind
    backorder_policy: BackorderPolicy = strawberry.field(
        description="Whether unfillable quantity is backordered or refused at capture."
    )
    shipping_policy: ShippingPolicy = strawberry.field(description="How a carrier service is chosen for its orders.")
    active: bool

    @classmethod
    def from_domain(cls, value: channels.Channel) -> Channel:
        return cls(
            id=value.id,
            code=value.id,
            name=value.name,
            kind=value.kind,
            backorder_policy=value.backorder_policy,
            shipping_policy=value.shipping_policy,
            active=value.active,
        )

    @classmethod
    async def resolve_nodes(cls, *, info: Info, node_ids: Iterable[str], required: bool = False) -> list[Channel | None]:
        found = await info.context.loaders.channel_by_id.load_many(list(node_ids))
        return [cls.from_domain(c) if c else None for c in found]


@strawberry.type(description="What a location can do.")
class LocationCapabilities:
    ships: bool = strawberry.field(description="Ships orders to customers.")
    offers_pickup: bool = strawberry.field(description="Hands over orders picked up in store.")
    accepts_returns: bool = strawberry.field(description="Takes returns over the counter.")


@strawberry.type(description="A pick zone, walked in `walkOrder`.")
class Zone:
    code: str
    name: str
    walk_order: int


@strawberry.type(description="A bin of the location's master list, in one of its zones.")
class LocationBin:
    code: str = strawberry.field(description="`<zone>-<aisle>-<shelf>-<bin>`, e.g. `A-01-1-07`, as on pick lists.")
    zone: str = strawberry.field(description="Code of the zone it is in.")


@strawberry.type(description="When pick-ups are handed over on one weekday, in the location's local time.")
class OpeningHours:
    weekday: Weekday
    opens: str = strawberry.field(description="Local time, HH:MM (24-hour).")
    closes: str = strawberry.field(description="Local time, HH:MM (24-hour); after `opens`, same day.")

    @classmethod
    def from_domain(cls, value: locations.OpeningHours) -> OpeningHours:
        return cls(weekday=value.weekday, opens=value.opens.strftime("%H:%M"), closes=value.closes.strftime("%H:%M"))


@strawberry.type(description="A store, distribution center or drop-ship partner that holds stock.")
class Location(relay.Node):
    id: relay.NodeID[str]
    code: str = strawberry.field(description="Short code used in inputs, e.g. `ST-BOS-01`.")
    name: str
    kind: LocationKind
    address: Address
    point: GeoPoint
    point_source: PointSource = strawberry.field(
        description="How `point` was found: given, or geocoded from the address (a postal-code or city centre)."
    )
    capabilities: LocationCapabilities
    zones: list[Zone]
    bins: list[LocationBin] = strawberry.field(
        description="The bin master list (at most 500).", metadata={"cost_list_size": 500}
    )
    handling_cost: Money = strawberry.field(description="Cost of handling one shipment here, used by routing.")
    priority: int = strawberry.field(description="Higher wins routing ties.")
    timezone: str = strawberry.field(description="IANA time zone of the opening hours, e.g. America/New_York.")
    opening_hours: list[OpeningHours] = strawberry.field(
        description="Pick-up hand-over hours per weekday (local time); empty when not published."
    )
    active: bool = strawberry.field(description="False once deactivated: never routed to, not listed for pick-up.")
    version: int = strawberry.field(description="Goes up with every change.")

    @classmethod
    def from_domain(cls, value: locations.Location) -> Location:
        return cls(
            id=value.id,
            code=value.id,
            name=value.name,
            kind=value.kind,
            address=Address.from_domain(value.address),
            point=GeoPoint.from_domain(value.point),
            capabilities=LocationCapabilities(
                ships=value.capabilities.ships,
                offers_pickup=value.capabilities.offers_pickup,
                accepts_returns=value.capabilities.accepts_returns,
            ),
            zones=[Zone(code=z.code, name=z.name, walk_order=z.walk_order) for z in value.zones],
            point_source=value.point_source,
            bins=[LocationBin(code=b.code, zone=b.zone) for b in value.bins],
            handling_cost=Money.from_domain(DomainMoney(value.handling_cost_cents)),
            priority=value.priority,
            timezone=value.timezone,
            opening_hours=[OpeningHours.from_domain(h) for h in value.opening_hours],
            active=value.active,
            version=value.version,
        )

    @classmethod
    async def resolve_nodes(cls, *, info: Info, node_ids: Iterable[str], required: bool = False) -> list[Location | None]:
        found = await info.context.loaders.location_by_id.load_many(list(node_ids))
        return [cls.from_domain(loc) if loc else None for loc in found]


@strawberry.type(description="Package dimensions in centimetres.")
class Dimensions:
    length_cm: float
    width_cm: float
    height_cm: float


@strawberry.type(description="A sellable item, identified by SKU.")
class Product(relay.Node):
    id: relay.NodeID[str]
    sku: str
    name: str
    price: Money
    weight_grams: int
    dimensions: Dimensions
    handling: list[HandlingFlag] = strawberry.field(description="Special handling: fragile, hazmat, cold chain, oversize.")
    category: str | None
    active: bool = strawberry.field(description="False once discontinued: kept for history, refused by capture.")
    barcode: str | None = strawberry.field(description="GTIN (EAN-8, UPC-A, EAN-13 or GTIN-14), as given.")

    @classmethod
    def from_domain(cls, value: products.Product) -> Product:
        return cls(
            id=value.sku,
            sku=value.sku,
            name=value.name,
            price=Money.from_domain(value.price),
            weight_grams=value.weight_grams,
            dimensions=Dimensions(
                length_cm=value.dimensions.length_cm,
                width_cm=value.dimensions.width_cm,
                height_cm=value.dimensions.height_cm,
            ),
            handling=sorted(value.handling),
            category=value.category,
            active=value.active,
            barcode=value.barcode,
        )

    @classmethod
    async def resolve_nodes(cls, *, info: Info, node_ids: Iterable[str], required: bool = False) -> list[Product | None]:
        found = await info.context.loaders.product_by_sku.load_many(list(node_ids))
        return [cls.from_domain(p) if p else None for p in found]
