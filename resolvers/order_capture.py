"""Root resolvers: captureOrder."""

from __future__ import annotations

from app import metrics
from app.domain.errors import DomainError
from graphql_schema.context import Info
from graphql_schema.errors import error_from_domain
from graphql_schema.types.order_capture import CaptureOrderInput, CaptureOrderPayload, CaptureOrderResult
from graphql_schema.types.orders import Order
from graphql_schema.types.routing import RoutingPlan


async def capture_order(info: Info, input: CaptureOrderInput) -> CaptureOrderResult:  # noqa: A002
    try:
        captured = await info.context.services.order_capture.capture(info.context.actor, input.to_domain())
    except DomainError as exc:
        metrics.capture_outcome(replayed=None, code=exc.code.value)
        return error_from_domain(exc)
    metrics.capture_outcome(replayed=captured.replayed)
    return CaptureOrderPayload(order=Order.from_domain(captured.order), replayed=captured.replayed)


async def routing_preview(info: Info, input: CaptureOrderInput) -> RoutingPlan:  # noqa: A002
    """Domain errors raise here and reach the client as typed GraphQL errors (code, field)."""
    plan = await info.context.services.order_capture.preview(info.context.actor, input.to_domain())
    return RoutingPlan.from_domain(plan)
