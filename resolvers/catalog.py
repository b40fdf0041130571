"""Root resolvers for channels and locations."""

from __future__ import annotations

import strawberry

from graphql_schema.context import Info
from graphql_schema.enums import LocationKind
from graphql_schema.types.catalog import Channel, Location


@strawberry.input(description="Which locations to list. All given criteria must match.")
class LocationFilterInput:
    kinds: list[LocationKind] | None = None
    ships: bool | None = None
    offers_pickup: bool | None = None
    accepts_returns: bool | None = None
    include_inactive: bool = strawberry.field(default=False, description="Also list deactivated locations.")


async def channels(info: Info) -> list[Channel]:
    return [Channel.from_domain(c) for c in await info.context.services.catalog.channels()]


async def locations(info: Info, filter: LocationFilterInput | None = None) -> list[Location]:  # noqa: A002
    selection = filter or LocationFilterInput()
    found = await info.context.services.catalog.locations(
        kinds=list(selection.kinds) if selection.kinds else None,
        ships=selection.ships,
        offers_pickup=selection.offers_pickup,
        accepts_returns=selection.accepts_returns,
        include_inactive=selection.include_inactive,
    )
    return [Location.from_domain(loc) for loc in found]
