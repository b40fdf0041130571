"""Inputs and results of the stock mutations: adjustStock, receiveStock, transferStock, setStockPolicy."""

from __future__ import annotations

from typing import Annotated

import strawberry

from app.services.inventory_changes import StockChange
from graphql_schema.context import Info
from graphql_schema.errors import ConflictError, InvalidInputError, NotFoundError, PermissionDeniedError
from graphql_schema.types.inventory import InventoryLevel
from graphql_schema.types.orders import Order


@strawberry.input(description="Correct a level, or record a count. Give `delta` or `count`, and a reason.")
class AdjustStockInput:
    sku: str
    location: str = strawberry.field(description="Location code.")
    delta: int | None = strawberry.field(default=None, description="Units to add (positive) or remove (negative).")
    count: int | None = strawberry.field(default=None, description="Units counted: on hand becomes exactly this.")
    reason: str = strawberry.field(description="Why (damaged, cycle count, found, ...): kept in the movement log.")


@strawberry.input(description="Goods arrived at a location.")
class ReceiveStockInput:
    sku: str
    location: str = strawberry.field(description="Location code.")
    quantity: int = strawberry.field(description="Units received, at least 1.")
    reason: str | None = strawberry.field(default=None, description="Reference, e.g. a delivery note number.")


@strawberry.input(description="Move unreserved units from one location to another, atomically.")
class TransferStockInput:
    sku: str
    from_: str = strawberry.field(name="from", description="Location code units leave.")
    to: str = strawberry.field(description="Location code units arrive at.")
    quantity: int = strawberry.field(description="Units to move, at least 1.")
    reason: str | None = strawberry.field(default=None, description="Why the units move.")


@strawberry.input(description="Set safety stock and reorder settings of one SKU at one location; omitted values stay.")
class SetStockPolicyInput:
    sku: str
    location: str = strawberry.field(description="Location code.")
    safety_stock: int | None = strawberry.field(default=None, description="Units held back from promising.")
    reorder_point: int | None = strawberry.field(default=None, description="Reorder when available falls to this.")
    reorder_quantity: int | None = strawberry.field(default=None, description="Units to reorder.")


@strawberry.interface(description="A stock change that went through: the levels after it and any backorders it filled.")
class StockChangePayload:
    filled_order_ids: strawberry.Private[tuple[str, ...]]

    @strawberry.field(description="Backordered orders that received stock from this change, oldest first.")
    async def backorders_filled(self, info: Info) -> list[Order]:
        found = await info.context.loaders.order_by_id.load_many(list(self.filled_order_ids))
        return [Order.from_domain(o) for o in found if o is not None]


@strawberry.type(description="The level after the adjustment.")
class AdjustStockPayload(StockChangePayload):
    level: InventoryLevel

    @classmethod
    def from_domain(cls, change: StockChange) -> AdjustStockPayload:
        return cls(level=InventoryLevel.from_domain(change.levels[0]), filled_order_ids=change.filled_order_ids)


@strawberry.type(description="The level after the receipt.")
class ReceiveStockPayload(StockChangePayload):
    level: InventoryLevel

    @classmethod
    def from_domain(cls, change: StockChange) -> ReceiveStockPayload:
        return cls(level=InventoryLevel.from_domain(change.levels[0]), filled_order_ids=change.filled_order_ids)


@strawberry.type(description="Both levels after the transfer.")
class TransferStockPayload(StockChangePayload):
    from_level: InventoryLevel = strawberry.field(description="The sending location's level.")
    to_level: InventoryLevel = strawberry.field(description="The receiving location's level.")

    @classmethod
    def from_domain(cls, change: StockChange) -> TransferStockPayload:
        source, target = change.levels
        return cls(
            from_level=InventoryLevel.from_domain(source),
            to_level=InventoryLevel.from_domain(target),
            filled_order_ids=change.filled_order_ids,
        )


@strawberry.type(description="The level with its new policy.")
class SetStockPolicyPayload(StockChangePayload):
    level: InventoryLevel

    @classmethod
    def from_domain(cls, change: StockChange) -> SetStockPolicyPayload:
        return cls(level=InventoryLevel.from_domain(change.levels[0]), filled_order_ids=change.filled_order_ids)


_Errors = InvalidInputError | NotFoundError | ConflictError | PermissionDeniedError
AdjustStockResult = Annotated[AdjustStockPayload | _Errors, strawberry.union("AdjustStockResult", description="The adjusted level, or why not.")]
ReceiveStockResult = Annotated[ReceiveStockPayload | _Errors, strawberry.union("ReceiveStockResult", description="The level after receipt, or why not.")]
TransferStockResult = Annotated[TransferStockPayload | _Errors, strawberry.union("TransferStockResult", description="Both levels, or why not.")]
SetStockPolicyResult = Annotated[
    SetStockPolicyPayload | _Errors, strawberry.union("SetStockPolicyResult", description="The level with its policy, or why not.")
]
