"""Root fields: routing policy. (`routingPreview` lives with orders; it returns types.routing.RoutingPlan.)"""

from __future__ import annotations

import strawberry

from graphql_schema.permissions import IsAuthenticated
from graphql_schema.types.routing_policy import RoutingPolicy, SetRoutingPolicyResult
from resolvers import routing as resolve


@strawberry.type
class RoutingQueries:
    routing_policy: RoutingPolicy = strawberry.field(
        resolver=resolve.routing_policy,
        permission_classes=[IsAuthenticated],
        description="The routing policy in force: the global one, or a channel's (its own or inherited). "
        "For staff, and for a channel integration its own channel.",
    )


@strawberry.type
class RoutingMutations:
    set_routing_policy: SetRoutingPolicyResult = strawberry.mutation(
        resolver=resolve.set_routing_policy,
        permission_classes=[IsAuthenticated],
        description="Set the global routing policy or a channel's (ADMIN only; audited as RoutingPolicyChanged). "
        "Omit `policy` with a channel to make it inherit the global policy again.",
    )
