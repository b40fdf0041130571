"""Root resolvers for channels, locations and products."""

from __future__ import annotations

import strawberry

from graphql_schema.context import Info
from graphql_schema.enums import LocationKind
from graphql_schema.types.catalog import Channel, Location, Product


@strawberry.input(description="Which locations to list. All given criteria must match.")
class LocationFilterInput:
    kinds: list[LocationKind] | None = None
    ships: bool | None = None
    offers_pickup: bool | None = None
    accepts_returns: bool | None = None


async def channels(info: Info) -> list[Channel]:
    return [Channel.from_domain(c) for c in await info.context.services.catalog.channels()]


async def locations(info: Info, filter: LocationFilterInput | None = None) -> list[Location]:  # noqa: A002
    selection = filter or LocationFilterInput()
    found = await info.context.services.catalog.locations(
        kinds=list(selection.kinds) if selection.kinds else None,
        ships=selection.ships,
        offers_pickup=selection.offers_pickup,
        accepts_returns=selection.accepts_returns,
    )
    return [Location.from_domain(loc) for loc in found]


async def product(info: Info, sku: str) -> Product | None:
    found = await info.context.loaders.product_by_sku.load(sku)
    return Product.from_domain(found) if found else None
