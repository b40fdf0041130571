"""Root resolver for the caller's query budget."""

from __future__ import annotations

from graphql_schema.context import Info
from graphql_schema.types.rate_limits import RateLimit


async def rate_limit(info: Info) -> RateLimit | None:
    context = info.context
    budget = context.budget
    if budget is None or not budget.enabled:
        return None
    status = await budget.status(context.client)
    return RateLimit.from_domain(
        status, maximum_cost=context.limits.max_cost, shared=budget.storage != "memory" and not budget.degraded
    )
