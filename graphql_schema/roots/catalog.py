"""Root fields: channels and locations (products: roots/products.py)."""

from __future__ import annotations

import strawberry

from graphql_schema.permissions import IsAuthenticated
from graphql_schema.types.catalog import Channel, Location
from resolvers import catalog as resolve


@strawberry.type
class CatalogQueries:
    locations: list[Location] = strawberry.field(
        resolver=resolve.locations,
        permission_classes=[IsAuthenticated],
        description="Stores, distribution centers, drop-ship partners.",
    )
    channels: list[Channel] = strawberry.field(
        resolver=resolve.channels, permission_classes=[IsAuthenticated], description="Sales channels."
    )
