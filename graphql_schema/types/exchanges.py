"""Exchanges: replacement goods for a return, the replacement order, and how the price difference is settled."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import TYPE_CHECKING, Annotated

import strawberry
from strawberry import relay

from app.domain import exchanges
from graphql_schema.context import Info
from graphql_schema.enums import ExchangeMode, ExchangeSettlement, ExchangeStatus
from graphql_schema.errors import ConflictError, InvalidInputError, NotFoundError, PermissionDeniedError, PickupUnavailableError
from graphql_schema.ids import node_id_of
from graphql_schema.prefetch import now_or_later
from graphql_schema.types.common import Money

if TYPE_CHECKING:
    from graphql_schema.types.orders import Order
    from graphql_schema.types.returns import Return

OrderRef = Annotated["Order", strawberry.lazy("graphql_schema.types.orders")]
ReturnRef = Annotated["Return", strawberry.lazy("graphql_schema.types.returns")]


@strawberry.type(description="Units of one return line replaced by another product (or another size of the same).")
class ExchangeLine:
    return_line_id: str
    order_line_id: str = strawberry.field(description="The original order's line the returned units came from.")
    returned_sku: str
    sku: str = strawberry.field(description="The replacement's SKU.")
    name: str
    quantity: int
    unit_price: Money = strawberry.field(description="The replacement's price per unit (catalog price when asked for).")
    price: Money = strawberry.field(description="Unit price × quantity.")
    credit: Money = strawberry.field(description="What the returned units were paid (price and tax): their value toward the replacement.")


@strawberry.type(description="A price difference charged through the original order's payment provider.")
class ExchangeCharge:
    provider: str
    payment_reference: str | None = strawberry.field(description="The original payment charged again.")
    amount: Money
    provider_reference: str | None = strawberry.field(description="The provider's reference of the charge.")


@strawberry.type(description="Replacement goods for a return, ordered as a new order of the same customer and channel.")
class Exchange(relay.Node):
    id: relay.NodeID[str]
    status: ExchangeStatus
    mode: ExchangeMode = strawberry.field(description="When the replacement's stock is reserved (the channel's return policy).")
    settlement: ExchangeSettlement
    difference: Money = strawberry.field(description="Charged (CHARGE) or refunded with the return (REFUND); zero when EVEN.")
    credit: Money = strawberry.field(description="What the returned units were worth.")
    credit_applied: Money = strawberry.field(description="The part of it that pays for the replacement.")
    replacement_total: Money = strawberry.field(description="What the replacement goods cost.")
    lines: list[ExchangeLine] = strawberry.field(metadata={"cost_list_size": 10})
    charge: ExchangeCharge | None
    requested_by: str
    created_at: datetime
    placed_at: datetime | None = strawberry.field(description="When the replacement order was captured.")
    return_ref: strawberry.Private[str]
    order_ref: strawberry.Private[str]
    replacement_ref: strawberry.Private[str | None]

    @classmethod
    def from_domain(cls, value: exchanges.Exchange) -> Exchange:
        charge = value.charge
        return cls(
            id=value.id,
            status=value.status,
            mode=value.mode,
            settlement=value.settlement,
            difference=Money.from_domain(value.difference),
            credit=Money.from_domain(value.credit),
            credit_applied=Money.from_domain(value.credit_applied),
            replacement_total=Money.from_domain(value.replacement_total),
            lines=[
                ExchangeLine(
                    return_line_id=line.return_line_id,
                    order_line_id=line.order_line_id,
                    returned_sku=line.returned_sku,
                    sku=line.sku,
                    name=line.name,
                    quantity=line.quantity,
                    unit_price=Money.from_domain(line.unit_price),
                    price=Money.from_domain(line.price),
                    credit=Money.from_domain(line.credit),
                )
                for line in value.lines
            ],
            charge=(
                ExchangeCharge(
                    provider=charge.provider,
                    payment_reference=charge.payment_reference,
                    amount=Money.from_domain(charge.amount),
                    provider_reference=charge.provider_reference,
                )
                if charge
                else None
            ),
            requested_by=value.requested_by,
            created_at=value.created_at,
            placed_at=value.placed_at,
            return_ref=value.return_id,
            order_ref=value.order_id,
            replacement_ref=value.replacement_order_id,
        )

    @classmethod
    async def resolve_nodes(cls, *, info: Info, node_ids: Iterable[str], required: bool = False) -> list[Exchange | None]:
        found = await info.context.loaders.exchange_by_id.load_many(list(node_ids))
        return [cls.from_domain(e) if e else None for e in found]

    @strawberry.field(name="return", description="The return whose goods are exchanged.")
    def return_(self, info: Info) -> ReturnRef | None:
        from graphql_schema.types.returns import Return

        return now_or_later(info.context.loaders.return_by_id, self.return_ref, Return.from_domain)  # type: ignore[return-value]

    @strawberry.field(description="The order the returned goods came from.")
    def original_order(self, info: Info) -> OrderRef | None:
        from graphql_schema.types.orders import Order

        return now_or_later(info.context.loaders.order_by_id, self.order_ref, Order.from_domain)  # type: ignore[return-value]

    @strawberry.field(description="The replacement order; null while PENDING (or if the caller may not see it).")
    def replacement_order(self, info: Info) -> OrderRef | None:
        from graphql_schema.types.orders import Order

        if self.replacement_ref is None:
            return None
        return now_or_later(info.context.loaders.order_by_id, self.replacement_ref, Order.from_domain)  # type: ignore[return-value]


@strawberry.input(description="Replace units of one return line with another product, or another size of the same.")
class ExchangeLineInput:
    return_line_id: str = strawberry.field(description="The return line (1, 2, ...).")
    sku: str = strawberry.field(description="The replacement SKU.")
    quantity: int | None = strawberry.field(default=None, description="Units to replace; every unit of the return line when omitted.")


@strawberry.input(
    description=(
        "Ask for replacement goods for a return: a new order on the same customer and channel, routed like any order, "
        "reserved now (EXCHANGE_ON_REQUEST) or when the return arrives (EXCHANGE_ON_RECEIPT), per the channel's return "
        "policy. The returned goods' value pays for it; a dearer replacement is charged the difference, a cheaper one "
        "refunds it with the return. One exchange per return."
    )
)
class RequestExchangeInput:
    return_id: relay.GlobalID
    lines: list[ExchangeLineInput] = strawberry.field(description="1 to 100 lines, one per return line.")

    def to_domain(self) -> exchanges.ExchangeRequest:
        return exchanges.ExchangeRequest(
            return_id=node_id_of(self.return_id, "Return", field="returnId"),
            lines=tuple(exchanges.ExchangeLineRequest(line.return_line_id, line.sku, line.quantity) for line in self.lines),
        )


@strawberry.type(description="The exchange, with its replacement order once placed.")
class RequestExchangePayload:
    exchange: Exchange


RequestExchangeResult = Annotated[
    RequestExchangePayload | InvalidInputError | NotFoundError | ConflictError | PermissionDeniedError | PickupUnavailableError,
    strawberry.union(
        "RequestExchangeResult",
        description="The exchange, or why it was refused (nothing written then): EXCHANGE_NOT_POSSIBLE, REFUND_EXCEEDS_PAID, "
        "INSUFFICIENT_STOCK (a channel that takes no backorders), ...",
    ),
]
