"""requestReturn, receiveReturn and the staff decisions on a return: inputs and results."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import strawberry
from strawberry import relay

from app.domain import returns
from graphql_schema.enums import Disposition, ReturnMethod, ReturnReason
from graphql_schema.errors import ConflictError, InvalidInputError, NotFoundError, PermissionDeniedError
from graphql_schema.ids import node_id_of
from graphql_schema.context import Info
from graphql_schema.types.returns import Return

if TYPE_CHECKING:
    from graphql_schema.types.orders import Order

OrderRef = Annotated["Order", strawberry.lazy("graphql_schema.types.orders")]

_Errors = InvalidInputError | NotFoundError | ConflictError | PermissionDeniedError


@strawberry.input(description="One order line to send or bring back.")
class ReturnLineInput:
    order_line_id: str = strawberry.field(description="The order line's id (1, 2, ...).")
    quantity: int = strawberry.field(description="Units, at most what was delivered minus what is already returned.")
    reason: ReturnReason
    note: str | None = strawberry.field(default=None, description="Free text, at most 500 characters.")
    disposition: Disposition | None = strawberry.field(
        default=None,
        description="IN_STORE at the counter only: what becomes of the units, decided on the spot. Lines whose reason "
        "the channel's policy wants inspected need one for the return to be inspected at once; the others default to RESTOCK.",
    )
    disposition_note: str | None = strawberry.field(default=None, description="Why; required for DAMAGED (the write-off reason).")

    def to_domain(self) -> returns.ReturnLineRequest:
        return returns.ReturnLineRequest(
            order_line_id=self.order_line_id,
            quantity=self.quantity,
            reason=returns.ReturnReason(self.reason),
            note=self.note,
            disposition=returns.Disposition(self.disposition) if self.disposition else None,
            disposition_note=self.disposition_note,
        )


@strawberry.input(description="Ask for a return of delivered or picked-up lines of one order.")
class RequestReturnInput:
    order_id: relay.GlobalID = strawberry.field(description="The order's global id.")
    client_key: str = strawberry.field(
        description="Your idempotency key (1-100 characters): the same key and content return the same return; "
        "the same key with other content is refused (DUPLICATE_CLIENT_KEY)."
    )
    method: ReturnMethod
    location: str | None = strawberry.field(
        default=None,
        description="IN_STORE: the store taking it. Staff at a counter: their store (may be omitted when they have one); "
        "others may name the store the shopper will visit. Not allowed for MAIL (return routing decides).",
    )
    lines: list[ReturnLineInput] = strawberry.field(description="1-100 lines, each order line at most once.")
    case_id: relay.GlobalID | None = strawberry.field(
        default=None, description="The customer service case this is done from: recorded on its thread and in the order's timeline."
    )

    def to_domain(self) -> returns.ReturnRequest:
        return returns.ReturnRequest(
            order_id=node_id_of(self.order_id, "Order", field="orderId"),
            client_key=self.client_key,
            method=returns.ReturnMethod(self.method),
            location_id=self.location,
            lines=tuple(line.to_domain() for line in self.lines),
        )


@strawberry.type(description="The return, as stored.")
class RequestReturnPayload:
    return_: Return = strawberry.field(name="return", description="The return after the request.")
    replayed: bool = strawberry.field(description="True: this client key was used before with the same content.")


@strawberry.input(description="What arrived of one return line, and what becomes of it.")
class ReceivedLineInput:
    return_line_id: str = strawberry.field(description="The return line's id (1, 2, ...).")
    quantity: int = strawberry.field(description="Units that arrived: 0 up to the quantity authorized.")
    disposition: Disposition | None = strawberry.field(
        default=None, description="Omitted: RESTOCK, unless the line's reason needs inspection (then required)."
    )
    note: str | None = strawberry.field(default=None, description="Why; required for DAMAGED (the write-off reason).")

    def to_domain(self) -> returns.ReceivedLine:
        return returns.ReceivedLine(
            return_line_id=self.return_line_id,
            quantity=self.quantity,
            disposition=returns.Disposition(self.disposition) if self.disposition else None,
            note=self.note,
        )


@strawberry.input(description="Record a return's arrival and inspection at its receiving location.")
class ReceiveReturnInput:
    return_id: relay.GlobalID = strawberry.field(description="The return's global id.")
    lines: list[ReceivedLineInput] = strawberry.field(description="Every line of the return, once each (0 for what did not arrive).")
    location: str | None = strawberry.field(
        default=None, description="Only for an IN_STORE return authorized without a store: the store receiving it."
    )

    def to_domain(self) -> list[returns.ReceivedLine]:
        return [line.to_domain() for line in self.lines]


@strawberry.type(description="The inspected return.")
class ReceiveReturnPayload:
    return_: Return = strawberry.field(name="return", description="The return after receipt: INSPECTED.")
    filled_order_ids: strawberry.Private[tuple[str, ...]]

    @strawberry.field(description="Backordered orders that took restocked units, oldest first (those the caller may see).")
    async def backorders_filled(self, info: Info) -> list[OrderRef]:
        from graphql_schema.types.orders import Order

        found = await info.context.loaders.order_by_id.load_many(list(self.filled_order_ids))
        return [Order.from_domain(o) for o in found if o is not None]


@strawberry.input(description="Approve a REQUESTED return (its channel wants approval); a MAIL return gets its label.")
class AuthorizeReturnInput:
    return_id: relay.GlobalID
    reason: str | None = strawberry.field(default=None, description="Why, for the audit trail.")


@strawberry.input(description="Refuse a REQUESTED return.")
class RejectReturnInput:
    return_id: relay.GlobalID
    reason: str = strawberry.field(description="Why; the shopper is told.")


@strawberry.input(description="Withdraw a return before anything was sent or brought; its label is voided.")
class CancelReturnInput:
    return_id: relay.GlobalID
    reason: str | None = strawberry.field(default=None, description="Why, for the audit trail.")


@strawberry.input(description="Finish an INSPECTED return without (further) refund.")
class CloseReturnInput:
    return_id: relay.GlobalID
    reason: str = strawberry.field(description="Why; kept on the return.")


@strawberry.type(description="The authorized return.")
class AuthorizeReturnPayload:
    return_: Return = strawberry.field(name="return")


@strawberry.type(description="The rejected return.")
class RejectReturnPayload:
    return_: Return = strawberry.field(name="return")


@strawberry.type(description="The cancelled return.")
class CancelReturnPayload:
    return_: Return = strawberry.field(name="return")


@strawberry.type(description="The closed return.")
class CloseReturnPayload:
    return_: Return = strawberry.field(name="return")


RequestReturnResult = Annotated[RequestReturnPayload | _Errors, strawberry.union("RequestReturnResult", description="The return, or why not.")]
ReceiveReturnResult = Annotated[ReceiveReturnPayload | _Errors, strawberry.union("ReceiveReturnResult", description="The inspected return, or why not.")]
AuthorizeReturnResult = Annotated[AuthorizeReturnPayload | _Errors, strawberry.union("AuthorizeReturnResult", description="The authorized return, or why not.")]
RejectReturnResult = Annotated[RejectReturnPayload | _Errors, strawberry.union("RejectReturnResult", description="The rejected return, or why not.")]
CancelReturnResult = Annotated[CancelReturnPayload | _Errors, strawberry.union("CancelReturnResult", description="The cancelled return, or why not.")]
CloseReturnResult = Annotated[CloseReturnPayload | _Errors, strawberry.union("CloseReturnResult", description="The closed return, or why not.")]
