"""Channels, locations and products."""

from __future__ import annotations

from collections.abc import Iterable

import strawberry
from strawberry import relay

from app.domain import channels, locations, products
from app.domain.money import Money as DomainMoney
from graphql_schema.context import Info
from graphql_schema.enums import BackorderPolicy, ChannelKind, HandlingFlag, LocationKind, ShippingPolicy
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


@strawberry.type(description="A store, distribution center or drop-ship partner that holds stock.")
class Location(relay.Node):
    id: relay.NodeID[str]
    code: str = strawberry.field(description="Short code used in inputs, e.g. `ST-BOS-01`.")
    name: str
    kind: LocationKind
    address: Address
    point: GeoPoint
    capabilities: LocationCapabilities
    zones: list[Zone]
    handling_cost: Money = strawberry.field(description="Cost of handling one shipment here, used by routing.")
    priority: int = strawberry.field(description="Higher wins routing ties.")
    active: bool

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
            handling_cost=Money.from_domain(DomainMoney(value.handling_cost_cents)),
            priority=value.priority,
            active=value.active,
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
    active: bool

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
        )

    @classmethod
    async def resolve_nodes(cls, *, info: Info, node_ids: Iterable[str], required: bool = False) -> list[Product | None]:
        found = await info.context.loaders.product_by_sku.load_many(list(node_ids))
        return [cls.from_domain(p) if p else None for p in found]
