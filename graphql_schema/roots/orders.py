"""Root fields: orders."""

from __future__ import annotations

import strawberry

from graphql_schema.permissions import IsAuthenticated
from graphql_schema.types.order_capture import CaptureOrderResult
from graphql_schema.types.order_edits import EditOrderResult
from graphql_schema.types.order_lifecycle import CancelOrderResult, HoldOrderResult, ReleaseOrderHoldResult
from graphql_schema.types.orders import Order, OrderConnection
from graphql_schema.types.routing import RoutingPlan
from resolvers import order_capture as capture
from resolvers import order_edits as edits
from resolvers import order_lifecycle as lifecycle
from resolvers import orders as resolve


@strawberry.type
class OrderQueries:
    order: Order | None = strawberry.field(
        resolver=resolve.order, permission_classes=[IsAuthenticated], description="One order."
    )
    order_by_external_id: Order | None = strawberry.field(
        resolver=resolve.order_by_external_id,
        permission_classes=[IsAuthenticated],
        description="An order by its channel's own id.",
    )
    orders: OrderConnection = strawberry.field(
        resolver=resolve.orders,
        permission_classes=[IsAuthenticated],
        description="Orders, newest first, keyset-paginated.",
    )
    routing_preview: RoutingPlan = strawberry.field(
        resolver=capture.routing_preview,
        permission_classes=[IsAuthenticated],
        description=(
            "The plan captureOrder would make for this input right now (same validation, policy and planner), "
            "with its explanation. Reserves and writes nothing. Same callers as captureOrder."
        ),
    )


@strawberry.type
class OrderMutations:
    capture_order: CaptureOrderResult = strawberry.mutation(
        resolver=capture.capture_order,
        permission_classes=[IsAuthenticated],
        description=(
            "Capture an order from any channel: validated, customer matched or created, routed, stock reserved, "
            "explained, all in one transaction. Idempotent on (channel, externalId). Admins, CSRs, channel "
            "integrations (own channel) and customers (for themselves, on web and app)."
        ),
    )
    edit_order: EditOrderResult = strawberry.mutation(
        resolver=edits.edit_order,
        permission_classes=[IsAuthenticated],
        description="Change address, quantities or lines before fulfilment starts; audited. Admins and CSRs.",
    )
    cancel_order: CancelOrderResult = strawberry.mutation(
        resolver=lifecycle.cancel_order,
        permission_classes=[IsAuthenticated],
        description="Cancel an order and give back every reservation. Admins, CSRs, the order's channel and customer.",
    )
    hold_order: HoldOrderResult = strawberry.mutation(
        resolver=lifecycle.hold_order,
        permission_classes=[IsAuthenticated],
        description="Put an order on hold with a reason. Admins and CSRs.",
    )
    release_order_hold: ReleaseOrderHoldResult = strawberry.mutation(
        resolver=lifecycle.release_order_hold,
        permission_classes=[IsAuthenticated],
        description="Release a hold: the order continues where it was. Admins and CSRs.",
    )
