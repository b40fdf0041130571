"""A client's query budget, as Shopify's `throttleStatus` reports it."""

from __future__ import annotations

import strawberry

from app.domain.rate_limits import ThrottleStatus


@strawberry.type(
    description="The caller's query budget: a leaky bucket of cost units shared by every instance of the API. "
    "Each operation is charged its static cost up front (`extensions.cost.requested`), then given back what "
    "it did not use (`extensions.cost.actual` is what it kept)."
)
class RateLimit:
    maximum_available: int = strawberry.field(description="The bucket's size: the most one burst may cost.")
    currently_available: int = strawberry.field(description="Cost units left now (this query's own cost taken).")
    restore_rate: float = strawberry.field(description="Cost units given back per second.")
    maximum_cost: int = strawberry.field(description="The most one operation may cost; above it, QUERY_TOO_COMPLEX.")
    shared: bool = strawberry.field(
        description="True when the budget is shared by every instance; false when each process counts on its own "
        "(memory storage, or the shared store is unavailable right now)."
    )

    @classmethod
    def from_domain(cls, status: ThrottleStatus, *, maximum_cost: int, shared: bool) -> RateLimit:
        return cls(
            maximum_available=status.maximum_available,
            currently_available=status.currently_available,
            restore_rate=status.restore_rate,
            maximum_cost=maximum_cost,
            shared=shared,
        )
