"""Root fields: the caller's query budget."""

from __future__ import annotations

import strawberry

from graphql_schema.permissions import IsAuthenticated
from graphql_schema.types.rate_limits import RateLimit
from resolvers import rate_limits as resolve


@strawberry.type
class RateLimitQueries:
    rate_limit: RateLimit | None = strawberry.field(
        resolver=resolve.rate_limit,
        permission_classes=[IsAuthenticated],
        description="The caller's query budget now (every response also carries it in `extensions.cost."
        "throttleStatus`); null when rate limiting is off.",
    )
