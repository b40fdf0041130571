"""Suppliers, their catalogue entries, and the admin inputs that maintain them."""

from __future__ import annotations

from typing import Annotated

import strawberry

from app.domain import suppliers
from graphql_schema.context import Info
from graphql_schema.errors import ConflictError, InvalidInputError, NotFoundError, PermissionDeniedError
from graphql_schema.prefetch import now_or_later
from graphql_schema.types.catalog import Product

_Errors = InvalidInputError | NotFoundError | ConflictError | PermissionDeniedError


@strawberry.type(description="One SKU in a supplier's catalogue: what we pay and how it is packed.")
class SupplierItem:
    supplier_code: str
    sku: str
    supplier_sku: str = strawberry.field(description="The supplier's own code for it (printed on POs).")
    unit_cost_cents: int = strawberry.field(description="Cost per unit, in the supplier's currency (minor units).")
    pack_size: int = strawberry.field(description="Sold in multiples of this many units.")
    min_order_quantity: int = strawberry.field(description="Order at least this many units.")
    preferred: bool = strawberry.field(description="Replenishment buys the SKU from its preferred supplier (at most one).")

    @strawberry.field(description="The product.")
    def product(self, info: Info) -> Product | None:
        return now_or_later(info.context.loaders.product_by_sku, self.sku, Product.from_domain)  # type: ignore[return-value]

    @classmethod
    def from_domain(cls, value: suppliers.SupplierItem) -> SupplierItem:
        return cls(
            supplier_code=value.supplier_code, sku=value.sku, supplier_sku=value.supplier_sku, unit_cost_cents=value.unit_cost_cents,
            pack_size=value.pack_size, min_order_quantity=value.min_order_quantity, preferred=value.preferred,
        )


@strawberry.type(description="Who sells us stock: lead time, order cut-off, minimum order value.")
class Supplier:
    code: str
    name: str
    contact_email: str | None
    contact_phone: str | None
    lead_time_days: int = strawberry.field(description="Days from submission to expected arrival.")
    order_cutoff: str = strawberry.field(description="HH:MM UTC: a PO submitted later counts from the next day.")
    min_order_value_cents: int = strawberry.field(description="A PO below this total cannot be submitted.")
    currency: str
    version: int

    @strawberry.field(description="The supplier's catalogue, by SKU (at most 1,000 entries). Admins.", metadata={"cost_list_size": 50})
    async def items(self, info: Info) -> list[SupplierItem]:
        found = await info.context.services.suppliers.items_of(info.context.actor, self.code)
        return [SupplierItem.from_domain(item) for item in found]

    @classmethod
    def from_domain(cls, value: suppliers.Supplier) -> Supplier:
        return cls(
            code=value.code, name=value.name, contact_email=value.contact_email, contact_phone=value.contact_phone,
            lead_time_days=value.lead_time_days, order_cutoff=value.order_cutoff,
            min_order_value_cents=value.min_order_value_cents, currency=value.currency, version=value.version,
        )


@strawberry.input(description="Create a supplier, or replace the terms of an existing one (by code).")
class SaveSupplierInput:
    code: str = strawberry.field(description="2-40 characters A-Z, 0-9 and -.")
    name: str
    contact_email: str | None = None
    contact_phone: str | None = None
    lead_time_days: int = strawberry.field(description="0-365.")
    order_cutoff: str = strawberry.field(default="23:59", description="HH:MM UTC.")
    min_order_value_cents: int = 0
    currency: str = "USD"

    def to_domain(self) -> suppliers.Supplier:
        return suppliers.Supplier(
            code=self.code.strip().upper(), name=self.name.strip(), contact_email=self.contact_email, contact_phone=self.contact_phone,
            lead_time_days=self.lead_time_days, order_cutoff=self.order_cutoff, min_order_value_cents=self.min_order_value_cents,
            currency=self.currency,
        )


@strawberry.type(description="The supplier as stored.")
class SaveSupplierPayload:
    supplier: Supplier


SaveSupplierResult = Annotated[SaveSupplierPayload | _Errors, strawberry.union("SaveSupplierResult", description="The supplier, or why not.")]


@strawberry.input(description="Put a SKU in a supplier's catalogue or change its terms.")
class SetSupplierItemInput:
    supplier: str = strawberry.field(description="The supplier's code.")
    sku: str
    supplier_sku: str
    unit_cost_cents: int
    pack_size: int = 1
    min_order_quantity: int = 1
    preferred: bool = strawberry.field(default=False, description="True takes the flag from the SKU's other suppliers.")

    def to_domain(self) -> suppliers.SupplierItem:
        return suppliers.SupplierItem(
            supplier_code=self.supplier, sku=self.sku, supplier_sku=self.supplier_sku, unit_cost_cents=self.unit_cost_cents,
            pack_size=self.pack_size, min_order_quantity=self.min_order_quantity, preferred=self.preferred,
        )


@strawberry.type(description="The catalogue entry as stored.")
class SetSupplierItemPayload:
    item: SupplierItem


SetSupplierItemResult = Annotated[
    SetSupplierItemPayload | _Errors, strawberry.union("SetSupplierItemResult", description="The catalogue entry, or why not.")
]
