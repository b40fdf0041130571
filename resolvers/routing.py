"""Root resolvers for routing policy."""

from __future__ import annotations

from app.domain.errors import DomainError
from graphql_schema.context import Info
from graphql_schema.errors import error_from_domain
from graphql_schema.types.routing_policy import (
    RoutingPolicy,
    SetRoutingPolicyInput,
    SetRoutingPolicyPayload,
    SetRoutingPolicyResult,
)


async def routing_policy(info: Info, channel: str | None = None) -> RoutingPolicy:
    configured = await info.context.services.routing.configured_policy(info.context.actor, channel)
    return RoutingPolicy.from_domain(configured)


async def set_routing_policy(info: Info, input: SetRoutingPolicyInput) -> SetRoutingPolicyResult:  # noqa: A002
    try:
        configured = await info.context.services.routing.set_policy(
            info.context.actor,
            input.channel,
            input.policy.to_domain() if input.policy else None,
            reason=input.reason,
        )
    except DomainError as exc:
        return error_from_domain(exc)
    return SetRoutingPolicyPayload(policy=RoutingPolicy.from_domain(configured))
