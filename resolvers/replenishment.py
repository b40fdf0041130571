"""Root resolvers for replenishment: suppliers, purchase orders, receiving, the per-location policy."""

from __future__ import annotations

from strawberry import relay

from app.domain.errors import DomainError
from app.domain.purchase_orders import PurchaseOrderFilter
from graphql_schema.context import Info
from graphql_schema.errors import error_from_domain
from graphql_schema.ids import node_id_of
from graphql_schema.pagination import page_request
from graphql_schema.types.purchase_orders import (
    CancelPurchaseOrderInput,
    CreatePurchaseOrderInput,
    PurchaseOrder,
    PurchaseOrderConnection,
    PurchaseOrderFilterInput,
    PurchaseOrderPayload,
    PurchaseOrderResult,
    ReceivePurchaseOrderInput,
    ReceivePurchaseOrderPayload,
    ReceivePurchaseOrderResult,
    ReplenishmentPolicy,
    ReschedulePurchaseOrderInput,
    SetReplenishmentPolicyInput,
    SetReplenishmentPolicyPayload,
    SetReplenishmentPolicyResult,
    SubmitPurchaseOrderInput,
)
from graphql_schema.types.suppliers import (
    SaveSupplierInput,
    SaveSupplierPayload,
    SaveSupplierResult,
    SetSupplierItemInput,
    SetSupplierItemPayload,
    SetSupplierItemResult,
    Supplier,
)

# --- reads ---------------------------------------------------------------------------------------


async def suppliers(info: Info) -> list[Supplier]:
    return [Supplier.from_domain(s) for s in await info.context.services.suppliers.all(info.context.actor)]


async def purchase_order(info: Info, id: relay.GlobalID) -> PurchaseOrder | None:  # noqa: A002
    found = await info.context.loaders.purchase_order_by_id.load(node_id_of(id, "PurchaseOrder"))
    return PurchaseOrder.from_domain(found) if found else None


async def purchase_orders(
    info: Info,
    filter: PurchaseOrderFilterInput | None = None,  # noqa: A002
    first: int | None = None,
    after: str | None = None,
) -> PurchaseOrderConnection:
    selection = filter.to_domain() if filter else PurchaseOrderFilter()
    page = await info.context.services.purchase_orders.page(info.context.actor, selection, page_request(first, after))
    return PurchaseOrderConnection.from_page(page)


async def replenishment_policy(info: Info, location: str) -> ReplenishmentPolicy:
    return ReplenishmentPolicy.from_domain(await info.context.services.replenishment.policy(info.context.actor, location))


# --- mutations -----------------------------------------------------------------------------------


async def save_supplier(info: Info, input: SaveSupplierInput) -> SaveSupplierResult:  # noqa: A002
    try:
        saved = await info.context.services.suppliers.save(info.context.actor, input.to_domain())
    except DomainError as exc:
        return error_from_domain(exc)
    return SaveSupplierPayload(supplier=Supplier.from_domain(saved))


async def set_supplier_item(info: Info, input: SetSupplierItemInput) -> SetSupplierItemResult:  # noqa: A002
    from graphql_schema.types.suppliers import SupplierItem

    try:
        saved = await info.context.services.suppliers.save_item(info.context.actor, input.to_domain())
    except DomainError as exc:
        return error_from_domain(exc)
    return SetSupplierItemPayload(item=SupplierItem.from_domain(saved))


async def create_purchase_order(info: Info, input: CreatePurchaseOrderInput) -> PurchaseOrderResult:  # noqa: A002
    try:
        po = await info.context.services.purchase_orders.create(
            info.context.actor, input.supplier, input.location, input.to_domain(), input.note
        )
    except DomainError as exc:
        return error_from_domain(exc)
    return PurchaseOrderPayload(purchase_order=PurchaseOrder.from_domain(po))


async def submit_purchase_order(info: Info, input: SubmitPurchaseOrderInput) -> PurchaseOrderResult:  # noqa: A002
    try:
        po = await info.context.services.purchase_orders.submit(info.context.actor, input.id(), input.expected_version)
    except DomainError as exc:
        return error_from_domain(exc)
    return PurchaseOrderPayload(purchase_order=PurchaseOrder.from_domain(po))


async def cancel_purchase_order(info: Info, input: CancelPurchaseOrderInput) -> PurchaseOrderResult:  # noqa: A002
    try:
        po = await info.context.services.purchase_orders.cancel(info.context.actor, input.id(), input.reason, input.expected_version)
    except DomainError as exc:
        return error_from_domain(exc)
    return PurchaseOrderPayload(purchase_order=PurchaseOrder.from_domain(po))


async def reschedule_purchase_order(info: Info, input: ReschedulePurchaseOrderInput) -> PurchaseOrderResult:  # noqa: A002
    try:
        po = await info.context.services.purchase_orders.reschedule(info.context.actor, input.id(), input.expected_at, input.reason)
    except DomainError as exc:
        return error_from_domain(exc)
    return PurchaseOrderPayload(purchase_order=PurchaseOrder.from_domain(po))


async def receive_purchase_order(info: Info, input: ReceivePurchaseOrderInput) -> ReceivePurchaseOrderResult:  # noqa: A002
    try:
        receipt = await info.context.services.purchase_order_receiving.receive(info.context.actor, input.id(), input.to_domain())
    except DomainError as exc:
        return error_from_domain(exc)
    return ReceivePurchaseOrderPayload(
        purchase_order=PurchaseOrder.from_domain(receipt.purchase_order), filled_order_refs=receipt.filled_order_ids
    )


async def set_replenishment_policy(info: Info, input: SetReplenishmentPolicyInput) -> SetReplenishmentPolicyResult:  # noqa: A002
    try:
        policy = await info.context.services.replenishment.set_policy(info.context.actor, input.to_domain())
    except DomainError as exc:
        return error_from_domain(exc)
    return SetReplenishmentPolicyPayload(policy=ReplenishmentPolicy.from_domain(policy))
