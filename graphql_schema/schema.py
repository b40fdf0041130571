"""Schema assembly: each area declares its root fields in graphql_schema/roots/<area>.py; merged here."""

from __future__ import annotations

import strawberry
from strawberry import relay
from strawberry.extensions import (
    AddValidationRules,
    MaxAliasesLimiter,
    MaxTokensLimiter,
    ParserCache,
    QueryDepthLimiter,
    ValidationCache,
)
from strawberry.tools import merge_types

from graphql_schema.extensions import TypedErrors
from graphql_schema.permissions import IsAuthenticated
from graphql_schema.roots.catalog import CatalogQueries
from graphql_schema.roots.customers import CustomerQueries
from graphql_schema.roots.fulfilment import FulfilmentMutations, FulfilmentQueries
from graphql_schema.roots.inventory import InventoryMutations, InventoryQueries
from graphql_schema.roots.orders import OrderMutations, OrderQueries
from graphql_schema.roots.routing import RoutingMutations, RoutingQueries


@strawberry.type
class NodeQueries:
    node: relay.Node | None = relay.node(
        description="Any object by its global id; null when it does not exist or is not visible to the caller.",
        permission_classes=[IsAuthenticated],
    )


Query = merge_types(
    "Query",
    (NodeQueries, CustomerQueries, OrderQueries, CatalogQueries, InventoryQueries, RoutingQueries, FulfilmentQueries),
)
Query.__strawberry_definition__.description = (  # type: ignore[attr-defined]
    "Read the OMS: customers, orders and inventory across every channel and location."
)

Mutation = merge_types("Mutation", (OrderMutations, InventoryMutations, RoutingMutations, FulfilmentMutations))
Mutation.__strawberry_definition__.description = (  # type: ignore[attr-defined]
    "Change the OMS: capture and manage orders, move and count stock, configure routing, pick, pack and ship. "
    "Every mutation returns a union of its success payload and typed errors."
)

# The depth and alias limiters are validation rules, and each limiter instance makes new rule
# classes. ValidationCache keys on the rules, so rules made per operation would miss the cache on
# every request (full re-validation, ~a quarter of a small mutation's CPU). Made once, here.
_LIMIT_RULES = [
    *QueryDepthLimiter(max_depth=12).validation_rules,
    *MaxAliasesLimiter(max_alias_count=30).validation_rules,
]

# Built once per process: Relay fields are bound to their resolvers at schema build time.
# Per-deployment switches (production hardening) read the request context, not the schema.
# Factories, not instances: Strawberry builds fresh extensions per operation.
schema = strawberry.Schema(
    query=Query,
    mutation=Mutation,
    extensions=[
        TypedErrors,
        lambda: AddValidationRules(_LIMIT_RULES),
        lambda: MaxTokensLimiter(max_token_count=4_000),
        lambda: ParserCache(maxsize=1_000),
        lambda: ValidationCache(maxsize=1_000),
    ],
)
