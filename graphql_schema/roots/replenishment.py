"""Root fields: replenishment (suppliers, purchase orders, receiving, per-location policy)."""

from __future__ import annotations

from collections.abc import AsyncGenerator

import strawberry

from graphql_schema.permissions import IsAuthenticated
from graphql_schema.types.purchase_orders import (
    PurchaseOrder,
    PurchaseOrderConnection,
    PurchaseOrderResult,
    PurchaseOrderUpdate,
    ReceivePurchaseOrderResult,
    ReplenishmentPolicy,
    SetReplenishmentPolicyResult,
)
from graphql_schema.types.suppliers import SaveSupplierResult, SetSupplierItemResult, Supplier
from resolvers import replenishment as resolve
from subscriptions import replenishment as live

_RESUME = (
    " Each item carries a `cursor`; subscribe again with `after: <cursor>` to receive every later matching"
    " event exactly once, in order (CURSOR_EXPIRED when that history is no longer retained)."
)


@strawberry.type
class ReplenishmentQueries:
    suppliers: list[Supplier] = strawberry.field(
        resolver=resolve.suppliers,
        permission_classes=[IsAuthenticated],
        description="Every supplier, by code (at most 1,000). Admins.",
        metadata={"cost_list_size": 20},
    )
    purchase_order: PurchaseOrder | None = strawberry.field(
        resolver=resolve.purchase_order,
        permission_classes=[IsAuthenticated],
        description="One purchase order; null when it does not exist or is not visible (admins; staff of its receiving location).",
    )
    purchase_orders: PurchaseOrderConnection = strawberry.field(
        resolver=resolve.purchase_orders,
        permission_classes=[IsAuthenticated],
        description="Purchase orders, newest first, keyset-paginated. Admins all; warehouse and store staff those "
        "received at their locations; others FORBIDDEN.",
    )
    replenishment_policy: ReplenishmentPolicy = strawberry.field(
        resolver=resolve.replenishment_policy,
        permission_classes=[IsAuthenticated],
        description="What replenishment does at a location (the built-in default until one is set). Admins; staff of the location.",
    )


@strawberry.type
class ReplenishmentMutations:
    save_supplier: SaveSupplierResult = strawberry.mutation(
        resolver=resolve.save_supplier,
        permission_classes=[IsAuthenticated],
        description="Create a supplier or change its terms, by code (SupplierCreated / SupplierUpdated). Admins.",
    )
    set_supplier_item: SetSupplierItemResult = strawberry.mutation(
        resolver=resolve.set_supplier_item,
        permission_classes=[IsAuthenticated],
        description="Put a SKU in a supplier's catalogue or change its cost, pack size, MOQ or preferred flag (SupplierItemSet). Admins.",
    )
    create_purchase_order: PurchaseOrderResult = strawberry.mutation(
        resolver=resolve.create_purchase_order,
        permission_classes=[IsAuthenticated],
        description="A DRAFT purchase order; quantities are rounded up to the supplier's pack size and minimum order quantity. Admins.",
    )
    submit_purchase_order: PurchaseOrderResult = strawberry.mutation(
        resolver=resolve.submit_purchase_order,
        permission_classes=[IsAuthenticated],
        description="Send a draft to its supplier: expected date = now + lead time, its units become `incoming`. Admins.",
    )
    cancel_purchase_order: PurchaseOrderResult = strawberry.mutation(
        resolver=resolve.cancel_purchase_order,
        permission_classes=[IsAuthenticated],
        description="Cancel a DRAFT or SUBMITTED purchase order; `incoming` falls by its open units. Admins.",
    )
    reschedule_purchase_order: PurchaseOrderResult = strawberry.mutation(
        resolver=resolve.reschedule_purchase_order,
        permission_classes=[IsAuthenticated],
        description="Record the arrival date the supplier confirmed for a submitted PO (PurchaseOrderRescheduled); "
        "backordered order lines' promise dates follow it. Admins.",
    )
    receive_purchase_order: ReceivePurchaseOrderResult = strawberry.mutation(
        resolver=resolve.receive_purchase_order,
        permission_classes=[IsAuthenticated],
        description="Record what arrived per line (good and damaged): on hand rises (movement PO_RECEIPT naming the PO), "
        "incoming falls, backorders for the SKUs are filled oldest first, all in one transaction. Over-receipt per the "
        "location's policy. Staff of the receiving location, admins.",
    )
    set_replenishment_policy: SetReplenishmentPolicyResult = strawberry.mutation(
        resolver=resolve.set_replenishment_policy,
        permission_classes=[IsAuthenticated],
        description="Set a location's replenishment policy: AUTO_SUBMIT or DRAFT_ONLY, transfers, over-receipt; audited. Admins.",
    )


@strawberry.type
class ReplenishmentSubscriptions:
    purchase_order_updated: AsyncGenerator[PurchaseOrderUpdate, None] = strawberry.subscription(
        resolver=live.purchase_order_updated,
        permission_classes=[IsAuthenticated],
        description="Changes to purchase orders: one PO, a location's, or POs reaching given statuses. Admins; staff "
        "of the receiving locations." + _RESUME,
    )
