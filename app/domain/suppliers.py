"""Suppliers and their catalogue: who sells us a SKU, at what cost, in what packs, how fast."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

from app.domain.errors import Validator

CODE = re.compile(r"^[A-Z0-9][A-Z0-9-]{1,39}$")
CUTOFF = re.compile(r"^([01][0-9]|2[0-3]):[0-5][0-9]$")
CURRENCY = re.compile(r"^[A-Z]{3}$")
MAX_LEAD_TIME_DAYS = 365
MAX_PACK = 100_000
MAX_COST_CENTS = 100_000_000


@dataclass(frozen=True, slots=True)
class Supplier:
    code: str
    name: str
    contact_email: str | None
    contact_phone: str | None
    lead_time_days: int
    order_cutoff: str  # "HH:MM" UTC: a PO submitted after it counts from the next day
    min_order_value_cents: int
    currency: str
    version: int = 1
    updated_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class SupplierItem:
    """One SKU in a supplier's catalogue. At most one supplier is `preferred` per SKU: replenishment buys there."""

    supplier_code: str
    sku: str
    supplier_sku: str
    unit_cost_cents: int
    pack_size: int
    min_order_quantity: int
    preferred: bool


def check_supplier(supplier: Supplier) -> None:
    check = Validator()
    check.check(bool(CODE.match(supplier.code)), "code is 2-40 characters A-Z, 0-9 and -", "code")
    check.check(0 < len(supplier.name.strip()) <= 200, "name is 1-200 characters", "name")
    if supplier.contact_email is not None:
        check.check("@" in supplier.contact_email and len(supplier.contact_email) <= 254, "not an e-mail address", "contactEmail")
    if supplier.contact_phone is not None:
        check.check(0 < len(supplier.contact_phone) <= 40, "phone is 1-40 characters", "contactPhone")
    check.check(0 <= supplier.lead_time_days <= MAX_LEAD_TIME_DAYS, f"leadTimeDays is 0-{MAX_LEAD_TIME_DAYS}", "leadTimeDays")
    check.check(bool(CUTOFF.match(supplier.order_cutoff)), "orderCutoff is HH:MM (UTC)", "orderCutoff")
    check.check(0 <= supplier.min_order_value_cents <= MAX_COST_CENTS, "minOrderValue is out of range", "minOrderValueCents")
    check.check(bool(CURRENCY.match(supplier.currency)), "currency is a 3-letter ISO code", "currency")
    check.raise_if_any()


def check_item(item: SupplierItem) -> None:
    check = Validator()
    check.check(0 < len(item.supplier_sku.strip()) <= 64, "supplierSku is 1-64 characters", "supplierSku")
    check.check(0 <= item.unit_cost_cents <= MAX_COST_CENTS, "unitCostCents is out of range", "unitCostCents")
    check.check(1 <= item.pack_size <= MAX_PACK, f"packSize is 1-{MAX_PACK}", "packSize")
    check.check(1 <= item.min_order_quantity <= MAX_PACK, f"minOrderQuantity is 1-{MAX_PACK}", "minOrderQuantity")
    check.raise_if_any()


def order_quantity(needed: int, *, pack_size: int, min_order_quantity: int) -> int:
    """What to buy for `needed` units: at least the MOQ, rounded up to whole packs."""
    wanted = max(needed, min_order_quantity, 1)
    return -(-wanted // pack_size) * pack_size
