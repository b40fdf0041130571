"""Schema assembly: each area declares its root fields in graphql_schema/roots/<area>.py; merged here."""

from __future__ import annotations

import strawberry
from graphql import GraphQLError
from strawberry import relay
from strawberry.extensions import SchemaExtension
from strawberry.types import ExecutionContext
from strawberry.tools import merge_types

from graphql_schema.execution import OmsExecutionContext
from graphql_schema.extension_runner import CachedHooksRunner
from graphql_schema.extensions import TypedErrors, log_errors
from graphql_schema.limits import OperationGuard
from graphql_schema.operation_cache import OperationCache
from graphql_schema.permissions import IsAuthenticated
from graphql_schema.roots.cases import CaseMutations, CaseQueries, CaseSubscriptions
from graphql_schema.roots.catalog import CatalogQueries
from graphql_schema.roots.channels import ChannelMutations
from graphql_schema.roots.customers import CustomerMutations, CustomerQueries
from graphql_schema.roots.events import EventQueries, EventSubscriptions
from graphql_schema.roots.exchanges import ExchangeMutations
from graphql_schema.roots.fulfilment import FulfilmentMutations, FulfilmentQueries
from graphql_schema.roots.inventory import InventoryMutations, InventoryQueries
from graphql_schema.roots.locations import LocationMutations
from graphql_schema.roots.orders import OrderMutations, OrderQueries
from graphql_schema.roots.products import ProductMutations, ProductQueries
from graphql_schema.roots.rate_limits import RateLimitQueries
from graphql_schema.roots.refunds import RefundMutations, RefundQueries
from graphql_schema.roots.replenishment import ReplenishmentMutations, ReplenishmentQueries, ReplenishmentSubscriptions
from graphql_schema.roots.returns import ReturnMutations, ReturnQueries, ReturnSubscriptions
from graphql_schema.roots.routing import RoutingMutations, RoutingQueries
from graphql_schema.roots.webhooks import WebhookMutations, WebhookQueries


@strawberry.type
class NodeQueries:
    node: relay.Node | None = relay.node(
        description="Any object by its global id; null when it does not exist or is not visible to the caller.",
        permission_classes=[IsAuthenticated],
    )


Query = merge_types(
    "Query",
    (
        NodeQueries,
        CustomerQueries,
        OrderQueries,
        CatalogQueries,
        ProductQueries,
        InventoryQueries,
        RoutingQueries,
        FulfilmentQueries,
        EventQueries,
        ReturnQueries,
        RefundQueries,
        CaseQueries,
        ReplenishmentQueries,
        RateLimitQueries,
        WebhookQueries,
    ),
)
Query.__strawberry_definition__.description = (  # type: ignore[attr-defined]
    "Read the OMS: customers, orders and inventory across every channel and location."
)

Mutation = merge_types(
    "Mutation",
    (OrderMutations, InventoryMutations, RoutingMutations, FulfilmentMutations, ProductMutations, ChannelMutations,
     CustomerMutations, LocationMutations, ReturnMutations, RefundMutations, ExchangeMutations, CaseMutations,
     ReplenishmentMutations, WebhookMutations),
)
Mutation.__strawberry_definition__.description = (  # type: ignore[attr-defined]
    "Change the OMS: capture and manage orders, move and count stock, configure routing, pick, pack and ship. "
    "Every mutation returns a union of its success payload and typed errors."
)

Subscription = merge_types("Subscription", (EventSubscriptions, ReturnSubscriptions, CaseSubscriptions, ReplenishmentSubscriptions))
Subscription.__strawberry_definition__.description = (  # type: ignore[attr-defined]
    "Live changes over graphql-transport-ws, resumable from a cursor without gaps or duplicates."
)

class OmsSchema(strawberry.Schema):
    """`process_errors` is Strawberry's hook for logging errors; its default logs every error, a
    client's typo included, at ERROR with a traceback. Ours: graphql_schema/extensions.py."""

    def process_errors(self, errors: list[GraphQLError], execution_context: ExecutionContext | None = None) -> None:
        log_errors(errors, execution_context)

    def create_extensions_runner(self, execution_context: ExecutionContext, extensions: list[SchemaExtension]) -> CachedHooksRunner:
        """Hooks looked up once per extension class, not per request (graphql_schema/extension_runner.py)."""
        return CachedHooksRunner(execution_context=execution_context, extensions=extensions)


# Built once per process: Relay fields are bound to their resolvers at schema build time.
# Per-deployment limits (depth, aliases, tokens, cost, budgets, introspection) are read by
# OperationGuard from the request context, not baked in here. Factories, not instances:
# Strawberry builds fresh extensions per operation. The guard's validation rules are made once
# per limit values, so the OperationCache keeps hitting.
schema = OmsSchema(
    query=Query,
    mutation=Mutation,
    subscription=Subscription,
    extensions=[
        TypedErrors,
        OperationGuard,
        OperationCache,
    ],
    execution_context_class=OmsExecutionContext,
)
