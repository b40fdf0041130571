"""Purchase orders, their lines, the per-location replenishment policy, and the mutations' inputs and results."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import TYPE_CHECKING, Annotated

import strawberry
from strawberry import relay

from app.domain import purchase_orders as po_domain, replenishment
from app.domain.events import DomainEvent
from app.domain.pagination import Page
from graphql_schema.context import Info
from graphql_schema.enums import PurchaseOrderSource, PurchaseOrderStatus, ReplenishmentMode, TransferMode
from graphql_schema.errors import ConflictError, InvalidInputError, NotFoundError, PermissionDeniedError
from graphql_schema.ids import node_id_of
from graphql_schema.pagination import edges as edges_of, page_info
from graphql_schema.prefetch import now_or_later
from graphql_schema.types.catalog import Location, Product
from graphql_schema.types.events import Event

if TYPE_CHECKING:
    from graphql_schema.types.orders import Order

OrderRef = Annotated["Order", strawberry.lazy("graphql_schema.types.orders")]
_Errors = InvalidInputError | NotFoundError | ConflictError | PermissionDeniedError
LINES_COST = {"cost_list_size": 10}


@strawberry.type(description="One SKU on a purchase order.")
class PurchaseOrderLine:
    id: str = strawberry.field(description="Line id within the PO: 1, 2, ...")
    sku: str
    supplier_sku: str
    quantity: int = strawberry.field(description="Units ordered (rounded up to the pack size and minimum order quantity).")
    unit_cost_cents: int
    received: int = strawberry.field(description="Good units received so far.")
    damaged: int = strawberry.field(description="Units that arrived damaged (not put on hand).")
    open_quantity: int = strawberry.field(description="Still expected: ordered − received − damaged, never below zero.")
    crossing_id: str | None = strawberry.field(description="The reorder-point crossing that raised it; null when added by hand.")

    @strawberry.field(description="The product.")
    def product(self, info: Info) -> Product | None:
        return now_or_later(info.context.loaders.product_by_sku, self.sku, Product.from_domain)  # type: ignore[return-value]

    @classmethod
    def from_domain(cls, value: po_domain.PurchaseOrderLine) -> PurchaseOrderLine:
        return cls(
            id=value.id, sku=value.sku, supplier_sku=value.supplier_sku, quantity=value.quantity, unit_cost_cents=value.unit_cost_cents,
            received=value.received, damaged=value.damaged, open_quantity=value.open_quantity, crossing_id=value.crossing_id,
        )


@strawberry.type(description="Stock bought from one supplier for one receiving location.")
class PurchaseOrder(relay.Node):
    id: relay.NodeID[str]
    number: str = strawberry.field(description="Human-readable, printed as a barcode on the PO document.")
    status: PurchaseOrderStatus
    source: PurchaseOrderSource
    supplier_code: str
    location_code: str = strawberry.field(description="Where the goods are received.")
    currency: str
    lines: list[PurchaseOrderLine] = strawberry.field(metadata=LINES_COST)
    total_cents: int = strawberry.field(description="Σ quantity × unit cost.")
    open_quantity: int = strawberry.field(description="Units still expected while SUBMITTED or PARTIALLY_RECEIVED (they count as incoming).")
    note: str | None
    created_at: datetime
    updated_at: datetime
    submitted_at: datetime | None
    expected_at: datetime | None = strawberry.field(description="Submission + the supplier's lead time (after its cut-off: a day later).")
    version: int = strawberry.field(description="Increments with every change.")

    @strawberry.field(description="The receiving location.")
    def location(self, info: Info) -> Location | None:
        return now_or_later(info.context.loaders.location_by_id, self.location_code, Location.from_domain)  # type: ignore[return-value]

    @strawberry.field(description="The PO as a PDF with a Code 128 barcode of its number: a signed link valid for an hour.")
    def document_url(self, info: Info) -> str:
        return info.context.services.documents.purchase_order_url(info.context.actor, self.id)

    @classmethod
    def from_domain(cls, value: po_domain.PurchaseOrder) -> PurchaseOrder:
        return cls(
            id=value.id, number=value.number, status=value.status, source=value.source, supplier_code=value.supplier_code,
            location_code=value.location_id, currency=value.currency,
            lines=[PurchaseOrderLine.from_domain(line) for line in value.lines], total_cents=value.total_cents,
            open_quantity=value.open_quantity, note=value.note, created_at=value.created_at, updated_at=value.updated_at,
            submitted_at=value.submitted_at, expected_at=value.expected_at, version=value.version,
        )

    @classmethod
    async def resolve_nodes(cls, *, info: Info, node_ids: Iterable[str], required: bool = False) -> list[PurchaseOrder | None]:
        found = await info.context.loaders.purchase_order_by_id.load_many(list(node_ids))
        return [cls.from_domain(po) if po else None for po in found]


@strawberry.type
class PurchaseOrderEdge(relay.Edge[PurchaseOrder]):
    pass


@strawberry.type(description="A page of purchase orders, newest first.")
class PurchaseOrderConnection(relay.Connection[PurchaseOrder]):
    edges: list[PurchaseOrderEdge]

    @classmethod
    def from_page(cls, page: Page[po_domain.PurchaseOrder]) -> PurchaseOrderConnection:
        return cls(edges=edges_of(page, PurchaseOrder.from_domain, PurchaseOrderEdge), page_info=page_info(page))


@strawberry.input(description="Which purchase orders to list. All given criteria must match.")
class PurchaseOrderFilterInput:
    statuses: list[PurchaseOrderStatus] | None = None
    suppliers: list[str] | None = strawberry.field(default=None, description="Supplier codes.")
    locations: list[str] | None = strawberry.field(default=None, description="Receiving location codes.")
    skus: list[str] | None = strawberry.field(default=None, description="With a line for any of these SKUs.")

    def to_domain(self) -> po_domain.PurchaseOrderFilter:
        return po_domain.PurchaseOrderFilter(
            statuses=frozenset(po_domain.PurchaseOrderStatus(s) for s in self.statuses or ()),
            supplier_codes=frozenset(self.suppliers or ()),
            location_ids=frozenset(self.locations or ()),
            skus=frozenset(self.skus or ()),
        )


@strawberry.type(description="Units of one level expected on one open purchase order.")
class IncomingPurchaseOrder:
    quantity: int = strawberry.field(description="Open units of the SKU on this PO.")
    expected_at: datetime | None
    purchase_order: PurchaseOrder


@strawberry.type(description="What replenishment does at one receiving location.")
class ReplenishmentPolicy:
    location_code: str
    mode: ReplenishmentMode = strawberry.field(description="AUTO_SUBMIT: each crossing's PO is submitted at once; DRAFT_ONLY: lines gather on a draft.")
    transfers: TransferMode = strawberry.field(description="SUGGEST records nearby surplus beside the PO line; CREATE transfers it instead of buying.")
    transfer_radius_km: float
    allow_over_receipt: bool = strawberry.field(description="Whether more than the open quantity may be received (the extra becomes stock).")
    version: int = strawberry.field(description="0 while the built-in default applies.")

    @classmethod
    def from_domain(cls, value: replenishment.ReplenishmentPolicy) -> ReplenishmentPolicy:
        return cls(
            location_code=value.location_id, mode=value.mode, transfers=value.transfers, transfer_radius_km=value.transfer_radius_km,
            allow_over_receipt=value.allow_over_receipt, version=value.version,
        )


@strawberry.type(description="A purchase order changed. Resume after `cursor` to continue exactly after this one.")
class PurchaseOrderUpdate:
    cursor: str = strawberry.field(description="The event's position in the log.")
    event: Event = strawberry.field(description="What happened.")
    purchase_order_id: relay.GlobalID
    status: PurchaseOrderStatus | None = strawberry.field(description="The PO's status after this event.")

    @classmethod
    def from_domain(cls, value: DomainEvent) -> PurchaseOrderUpdate:
        status = value.payload.get("status")
        return cls(
            cursor=str(value.seq),
            event=Event.from_domain(value),
            purchase_order_id=relay.GlobalID("PurchaseOrder", value.aggregate_id),
            status=po_domain.PurchaseOrderStatus(status) if status in po_domain.PurchaseOrderStatus.__members__ else None,
        )


# --- inputs and results ----------------------------------------------------------------------------


@strawberry.input(description="One SKU to buy.")
class PurchaseOrderLineInput:
    sku: str = strawberry.field(description="Must be in the supplier's catalogue.")
    quantity: int = strawberry.field(description="Units wanted, 1-1,000,000; rounded up to packs and the minimum order quantity.")


@strawberry.input(description="A DRAFT purchase order for one supplier and one receiving location.")
class CreatePurchaseOrderInput:
    supplier: str = strawberry.field(description="The supplier's code.")
    location: str = strawberry.field(description="The receiving location's code.")
    lines: list[PurchaseOrderLineInput] = strawberry.field(description="1-100 lines, each SKU once.")
    note: str | None = None

    def to_domain(self) -> list[po_domain.LineRequest]:
        return [po_domain.LineRequest(sku=line.sku, quantity=line.quantity) for line in self.lines]


@strawberry.input(description="Send a DRAFT purchase order to its supplier: its open units become incoming.")
class SubmitPurchaseOrderInput:
    purchase_order_id: relay.GlobalID
    expected_version: int | None = strawberry.field(default=None, description="Refuse (CONFLICT) if the PO changed since you read it.")

    def id(self) -> str:
        return node_id_of(self.purchase_order_id, "PurchaseOrder", field="purchaseOrderId")


@strawberry.input(description="Cancel a DRAFT or SUBMITTED purchase order (incoming falls back).")
class CancelPurchaseOrderInput:
    purchase_order_id: relay.GlobalID
    reason: str | None = None
    expected_version: int | None = None

    def id(self) -> str:
        return node_id_of(self.purchase_order_id, "PurchaseOrder", field="purchaseOrderId")


@strawberry.input(description="The supplier confirmed another arrival date for a submitted purchase order.")
class ReschedulePurchaseOrderInput:
    purchase_order_id: relay.GlobalID
    expected_at: datetime = strawberry.field(description="The new expected arrival (with a time zone), not before submission.")
    reason: str | None = None

    def id(self) -> str:
        return node_id_of(self.purchase_order_id, "PurchaseOrder", field="purchaseOrderId")


@strawberry.input(description="What arrived of one PO line.")
class ReceivePurchaseOrderLineInput:
    line_id: str
    received: int = strawberry.field(description="Good units: they go on hand.")
    damaged: int = strawberry.field(default=0, description="Damaged units: recorded, not put on hand.")


@strawberry.input(description="Goods received against a submitted purchase order.")
class ReceivePurchaseOrderInput:
    purchase_order_id: relay.GlobalID
    lines: list[ReceivePurchaseOrderLineInput] = strawberry.field(description="1-100 lines, each PO line once.")

    def id(self) -> str:
        return node_id_of(self.purchase_order_id, "PurchaseOrder", field="purchaseOrderId")

    def to_domain(self) -> list[po_domain.LineReceipt]:
        return [po_domain.LineReceipt(line_id=line.line_id, received=line.received, damaged=line.damaged) for line in self.lines]


@strawberry.input(description="What replenishment does at one location.")
class SetReplenishmentPolicyInput:
    location: str
    mode: ReplenishmentMode = ReplenishmentMode.DRAFT_ONLY  # type: ignore[assignment]
    transfers: TransferMode = TransferMode.SUGGEST  # type: ignore[assignment]
    transfer_radius_km: float = 100.0
    allow_over_receipt: bool = False

    def to_domain(self) -> replenishment.ReplenishmentPolicy:
        return replenishment.ReplenishmentPolicy(
            location_id=self.location, mode=replenishment.ReplenishmentMode(self.mode),
            transfers=replenishment.TransferMode(self.transfers), transfer_radius_km=self.transfer_radius_km,
            allow_over_receipt=self.allow_over_receipt,
        )


@strawberry.type(description="The purchase order as stored.")
class PurchaseOrderPayload:
    purchase_order: PurchaseOrder


@strawberry.type(description="The purchase order after the receipt, and the backorders the new stock filled.")
class ReceivePurchaseOrderPayload:
    purchase_order: PurchaseOrder
    filled_order_refs: strawberry.Private[tuple[str, ...]]

    @strawberry.field(description="Backordered orders that took some of the new stock, oldest first (those the caller may see).")
    async def backorders_filled(self, info: Info) -> list[OrderRef]:
        from graphql_schema.types.orders import Order

        found = await info.context.loaders.order_by_id.load_many(list(self.filled_order_refs))
        return [Order.from_domain(order) for order in found if order is not None]


@strawberry.type(description="The policy as stored.")
class SetReplenishmentPolicyPayload:
    policy: ReplenishmentPolicy


PurchaseOrderResult = Annotated[PurchaseOrderPayload | _Errors, strawberry.union("PurchaseOrderResult", description="The purchase order, or why not.")]
ReceivePurchaseOrderResult = Annotated[
    ReceivePurchaseOrderPayload | _Errors, strawberry.union("ReceivePurchaseOrderResult", description="The received purchase order, or why not.")
]
SetReplenishmentPolicyResult = Annotated[
    SetReplenishmentPolicyPayload | _Errors, strawberry.union("SetReplenishmentPolicyResult", description="The policy, or why not.")
]
