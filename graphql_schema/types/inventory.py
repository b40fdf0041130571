"""Stock per SKU × location, network totals, and stores near a point."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import TYPE_CHECKING, Annotated

import strawberry
from strawberry import relay

from app.domain import inventory
from app.domain.events import DomainEvent
from graphql_schema.context import Info
from graphql_schema.pagination import edges as edges_of, page_info, page_request
from graphql_schema.prefetch import now_or_later
from graphql_schema.types.catalog import Location, Product
from graphql_schema.types.events import Actor

if TYPE_CHECKING:
    from graphql_schema.types.orders import Order
    from graphql_schema.types.purchase_orders import IncomingPurchaseOrder, PurchaseOrder

IncomingRef = Annotated["IncomingPurchaseOrder", strawberry.lazy("graphql_schema.types.purchase_orders")]
PurchaseOrderRef = Annotated["PurchaseOrder", strawberry.lazy("graphql_schema.types.purchase_orders")]


@strawberry.type(description="Where a SKU sits in a location.")
class BinLocation:
    zone: str
    aisle: str
    shelf: str
    bin: str
    code: str = strawberry.field(description="zone-aisle-shelf-bin, as printed on labels.")

    @classmethod
    def from_domain(cls, value: inventory.BinLocation | None) -> BinLocation | None:
        return cls(zone=value.zone, aisle=value.aisle, shelf=value.shelf, bin=value.bin, code=value.code) if value else None


@strawberry.type(description="Stock of one SKU at one location.")
class InventoryLevel(relay.Node):
    id: relay.NodeID[str]
    sku: str
    location_code: str
    on_hand: int = strawberry.field(description="Units physically there.")
    reserved: int = strawberry.field(description="Units promised to open orders.")
    safety_stock: int = strawberry.field(description="Units held back from promising.")
    incoming: int = strawberry.field(description="Units on open purchase orders or transfers.")
    available: int = strawberry.field(description="On hand − reserved − safety stock, never below zero.")
    reorder_point: int
    reorder_quantity: int
    bin: BinLocation | None
    updated_at: datetime | None

    @classmethod
    def from_domain(cls, value: inventory.InventoryLevel) -> InventoryLevel:
        return cls(
            id=f"{value.sku}@{value.location_id}",
            sku=value.sku,
            location_code=value.location_id,
            on_hand=value.on_hand,
            reserved=value.reserved,
            safety_stock=value.safety_stock,
            incoming=value.incoming,
            available=value.available,
            reorder_point=value.reorder_point,
            reorder_quantity=value.reorder_quantity,
            bin=BinLocation.from_domain(value.bin),
            updated_at=value.updated_at,
        )

    @classmethod
    async def resolve_nodes(
        cls, *, info: Info, node_ids: Iterable[str], required: bool = False
    ) -> list[InventoryLevel | None]:
        keys = [tuple(node_id.rsplit("@", 1)) if "@" in node_id else ("", node_id) for node_id in node_ids]
        found = await info.context.loaders.inventory_by_sku_location.load_many(keys)  # type: ignore[arg-type]
        return [cls.from_domain(level) if level else None for level in found]

    @strawberry.field(description="The location.")
    def location(self, info: Info) -> Location | None:
        return now_or_later(info.context.loaders.location_by_id, self.location_code, Location.from_domain)  # type: ignore[return-value]

    @strawberry.field(
        description="`incoming` broken down by open purchase order, earliest expected first (POs the caller may see).",
        metadata={"cost_list_size": 5},
    )
    async def incoming_purchase_orders(self, info: Info) -> list[IncomingRef]:
        from graphql_schema.types.purchase_orders import IncomingPurchaseOrder, PurchaseOrder

        found = await info.context.loaders.open_purchase_orders_by_sku.load(self.sku)
        return [
            IncomingPurchaseOrder(
                quantity=sum(line.open_quantity for line in po.lines if line.sku == self.sku),
                expected_at=po.expected_at,
                purchase_order=PurchaseOrder.from_domain(po),
            )
            for po in found
            if po.location_id == self.location_code
        ]

    @strawberry.field(description="Every change to this level, newest first: the movement log (staff and integrations).")
    async def movements(
        self, info: Info, first: int | None = None, after: str | None = None
    ) -> StockMovementConnection:
        page = await info.context.services.inventory.movements(
            info.context.actor, self.sku, self.location_code, page_request(first, after)
        )
        return StockMovementConnection(
            edges=edges_of(page, StockMovement.from_domain, StockMovementEdge),
            page_info=page_info(page),
        )


StockChangeCause = strawberry.enum(inventory.StockChangeCause, description="Why a stock level changed.")


@strawberry.type(description="One change to one stock level: what moved, the level after it, who and why.")
class StockMovement:
    id: strawberry.ID = strawberry.field(description="The StockLevelChanged event's id.")
    at: datetime = strawberry.field(description="When it happened.")
    cause: StockChangeCause = strawberry.field(description="Why the level changed.")
    on_hand_delta: int = strawberry.field(description="Change in units on hand (negative: removed).")
    reserved_delta: int = strawberry.field(description="Change in units reserved for orders.")
    on_hand: int = strawberry.field(description="On hand after the change.")
    reserved: int = strawberry.field(description="Reserved after the change.")
    safety_stock: int = strawberry.field(description="Safety stock after the change.")
    available: int = strawberry.field(description="Available after the change.")
    actor: Actor = strawberry.field(description="Who made the change (or SYSTEM).")
    reason: str | None = strawberry.field(description="Why, when a reason was given.")
    order_ref: strawberry.Private[str | None]
    transfer_id: str | None = strawberry.field(description="Pairs the two sides of a transfer.")

    @strawberry.field(description="The order that caused it (reservations and releases), if visible to the caller.")
    def order(self, info: Info) -> Annotated[Order, strawberry.lazy("graphql_schema.types.orders")] | None:
        from graphql_schema.types.orders import Order

        if self.order_ref is None:
            return None
        return now_or_later(info.context.loaders.order_by_id, self.order_ref, Order.from_domain)  # type: ignore[return-value]

    @classmethod
    def from_domain(cls, event: DomainEvent) -> StockMovement:
        p = event.payload
        return cls(
            id=strawberry.ID(event.id),
            at=event.at,
            cause=inventory.StockChangeCause(p.get("cause", inventory.StockChangeCause.ADJUSTMENT)),
            on_hand_delta=int(p.get("onHandDelta", 0)),
            reserved_delta=int(p.get("reservedDelta", 0)),
            on_hand=int(p.get("onHand", 0)),
            reserved=int(p.get("reserved", 0)),
            safety_stock=int(p.get("safetyStock", 0)),
            available=int(p.get("available", 0)),
            actor=Actor(subject=event.actor.subject, role=event.actor.role),
            reason=event.reason,
            order_ref=event.order_id,
            transfer_id=p.get("transferId"),
        )


@strawberry.type(description="A stock movement and its cursor.")
class StockMovementEdge(relay.Edge[StockMovement]):
    pass


@strawberry.type(description="A page of stock movements, newest first.")
class StockMovementConnection(relay.Connection[StockMovement]):
    edges: list[StockMovementEdge] = strawberry.field(description="The movements on this page.")


@strawberry.type(description="Totals for one SKU across the whole network.")
class NetworkTotals:
    on_hand: int
    reserved: int
    safety_stock: int
    incoming: int
    available: int = strawberry.field(description="Sum of each location's available.")
    location_count: int = strawberry.field(description="Locations that stock the SKU.")


@strawberry.type(description="Stock of one SKU everywhere.")
class SkuInventory:
    sku: str
    totals: NetworkTotals
    levels: list[InventoryLevel] = strawberry.field(description="Per location, by location code.")

    @strawberry.field(description="The product.")
    def product(self, info: Info) -> Product | None:
        return now_or_later(info.context.loaders.product_by_sku, self.sku, Product.from_domain)  # type: ignore[return-value]

    @strawberry.field(
        description="Submitted or partially received purchase orders with units of this SKU still to come, earliest "
        "expected first (admins all; location staff those to their locations).",
        metadata={"cost_list_size": 5},
    )
    async def open_purchase_orders(self, info: Info) -> list[PurchaseOrderRef]:
        from graphql_schema.types.purchase_orders import PurchaseOrder

        return [PurchaseOrder.from_domain(po) for po in await info.context.loaders.open_purchase_orders_by_sku.load(self.sku)]

    @classmethod
    def from_domain(cls, sku: str, levels: list[inventory.InventoryLevel]) -> SkuInventory:
        totals = inventory.network_totals(sku, levels)
        return cls(
            sku=sku,
            totals=NetworkTotals(
                on_hand=totals.on_hand,
                reserved=totals.reserved,
                safety_stock=totals.safety_stock,
                incoming=totals.incoming,
                available=totals.available,
                location_count=totals.location_count,
            ),
            levels=[InventoryLevel.from_domain(level) for level in levels],
        )


@strawberry.type(description="Units of one SKU available now at a store.")
class AvailableQuantity:
    sku: str
    available: int


@strawberry.type(description="A store near the asked-for point with the items available now.")
class StoreAvailability:
    location_code: str
    distance_km: float = strawberry.field(description="Great-circle distance from the point.")
    items: list[AvailableQuantity] = strawberry.field(description="Per asked-for SKU that is available here.")
    has_all_items: bool = strawberry.field(description="Every asked-for SKU is available here.")

    @strawberry.field(description="The store.")
    def location(self, info: Info) -> Location | None:
        return now_or_later(info.context.loaders.location_by_id, self.location_code, Location.from_domain)  # type: ignore[return-value]

    @classmethod
    def from_domain(cls, value: inventory.StoreStock, asked: list[str]) -> StoreAvailability:
        return cls(
            location_code=value.location_id,
            distance_km=round(value.distance_km, 3),
            items=[AvailableQuantity(sku=sku, available=value.quantities[sku]) for sku in asked if sku in value.quantities],
            has_all_items=all(sku in value.quantities for sku in asked),
        )
