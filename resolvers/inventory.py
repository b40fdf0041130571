"""Root resolvers for stock."""

from __future__ import annotations

from app.domain.errors import DomainError
from app.domain.inventory import StockPolicy
from graphql_schema.context import Info
from graphql_schema.errors import error_from_domain
from graphql_schema.prefetch import prime, selected_paths
from graphql_schema.types.common import GeoPointInput
from graphql_schema.types.inventory import SkuInventory, StoreAvailability
from graphql_schema.types.inventory_changes import (
    AdjustStockInput,
    AdjustStockPayload,
    AdjustStockResult,
    ReceiveStockInput,
    ReceiveStockPayload,
    ReceiveStockResult,
    SetStockPolicyInput,
    SetStockPolicyPayload,
    SetStockPolicyResult,
    TransferStockInput,
    TransferStockPayload,
    TransferStockResult,
)


async def inventory(info: Info, sku: str) -> SkuInventory | None:
    levels = await info.context.services.inventory.levels_for_skus(info.context.actor, [sku])
    product = await info.context.loaders.product_by_sku.load(sku)
    if product is None and not levels[sku]:
        return None
    return SkuInventory.from_domain(sku, levels[sku])


async def store_availability(
    info: Info,
    skus: list[str],
    near: GeoPointInput,
    radius_km: float = 50.0,
    first: int = 10,
    require_all: bool = True,
) -> list[StoreAvailability]:
    found = await info.context.services.inventory.store_availability(
        skus, near.to_domain(), radius_km, first, require_all=require_all
    )
    if "location" in selected_paths(info):
        await prime(info.context.loaders.location_by_id, (store.location_id for store in found))
    return [StoreAvailability.from_domain(store, skus) for store in found]


async def adjust_stock(info: Info, input: AdjustStockInput) -> AdjustStockResult:  # noqa: A002
    try:
        change = await info.context.services.inventory_changes.adjust(
            info.context.actor, input.sku, input.location, delta=input.delta, count=input.count, reason=input.reason
        )
    except DomainError as exc:
        return error_from_domain(exc)
    return AdjustStockPayload.from_domain(change)


async def receive_stock(info: Info, input: ReceiveStockInput) -> ReceiveStockResult:  # noqa: A002
    try:
        change = await info.context.services.inventory_changes.receive(
            info.context.actor, input.sku, input.location, input.quantity, input.reason
        )
    except DomainError as exc:
        return error_from_domain(exc)
    return ReceiveStockPayload.from_domain(change)


async def transfer_stock(info: Info, input: TransferStockInput) -> TransferStockResult:  # noqa: A002
    try:
        change = await info.context.services.inventory_changes.transfer(
            info.context.actor, input.sku, input.from_, input.to, input.quantity, input.reason
        )
    except DomainError as exc:
        return error_from_domain(exc)
    return TransferStockPayload.from_domain(change)


async def set_stock_policy(info: Info, input: SetStockPolicyInput) -> SetStockPolicyResult:  # noqa: A002
    policy = StockPolicy(
        safety_stock=input.safety_stock, reorder_point=input.reorder_point, reorder_quantity=input.reorder_quantity
    )
    try:
        change = await info.context.services.inventory_changes.set_policy(info.context.actor, input.sku, input.location, policy)
    except DomainError as exc:
        return error_from_domain(exc)
    return SetStockPolicyPayload.from_domain(change)
