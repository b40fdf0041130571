"""editOrder: input and result."""

from __future__ import annotations

from typing import Annotated

import strawberry
from strawberry import relay

from app.domain import order_capture, order_edits
from graphql_schema.errors import ConflictError, InvalidInputError, NotFoundError, PermissionDeniedError, PickupUnavailableError
from graphql_schema.types.common import AddressInput, GeoPointInput
from graphql_schema.types.order_capture import OrderLineInput
from graphql_schema.types.orders import Order


@strawberry.input(description="A line's new ordered quantity.")
class OrderLineQuantityInput:
    line_id: str = strawberry.field(description="The line's id on the order.")
    quantity: int = strawberry.field(description="At least 1 and at least what was already fulfilled.")


@strawberry.input(
    description=(
        "Change an order before fulfilment starts (statuses SCHEDULED, BACKORDERED, PARTIALLY_ALLOCATED, ALLOCATED, "
        "ON_HOLD). Reservations follow atomically; a new address re-routes when that changes the best location."
    )
)
class EditOrderInput:
    order_id: relay.GlobalID = strawberry.field(description="The order's global id.")
    reason: str = strawberry.field(description="Why; kept with the actor in the order's timeline.")
    shipping_address: AddressInput | None = strawberry.field(
        default=None, description="New address (SHIP orders); with `point` if known, else it is geocoded like captureOrder's."
    )
    point: GeoPointInput | None = strawberry.field(
        default=None, description="The new address's coordinates; without them its ZIP code's or city's centre is used."
    )
    lines: list[OrderLineQuantityInput] | None = strawberry.field(default=None, description="New quantities of existing lines.")
    add_lines: list[OrderLineInput] | None = strawberry.field(default=None, description="Lines to add, one per new SKU.")
    cancel_lines: list[str] | None = strawberry.field(default=None, description="Line ids to cancel (kept on the order as cancelled).")
    remove_lines: list[str] | None = strawberry.field(default=None, description="Line ids to delete (entered by mistake; nothing fulfilled).")
    case_id: relay.GlobalID | None = strawberry.field(
        default=None, description="The customer service case this is done from: recorded on its thread and in the order's timeline."
    )

    def to_domain(self) -> order_edits.OrderEdit:
        return order_edits.OrderEdit(
            reason=self.reason,
            address=self.shipping_address.to_domain() if self.shipping_address else None,
            point=self.point.to_domain() if self.point else None,
            quantities=tuple(order_edits.LineQuantity(q.line_id, q.quantity) for q in self.lines or ()),
            add_lines=tuple(order_capture.LineRequest(a.sku, a.quantity, a.unit_price_cents) for a in self.add_lines or ()),
            cancel_line_ids=tuple(self.cancel_lines or ()),
            remove_line_ids=tuple(self.remove_lines or ()),
        )


@strawberry.type(description="The edited order.")
class EditOrderPayload:
    order: Order = strawberry.field(description="The order after the edit.")


EditOrderResult = Annotated[
    EditOrderPayload | InvalidInputError | NotFoundError | ConflictError | PermissionDeniedError | PickupUnavailableError,
    strawberry.union("EditOrderResult", description="The edited order, or why not (nothing written then)."),
]
