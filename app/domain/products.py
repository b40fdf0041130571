"""The catalog as the OMS needs it: what a SKU weighs, measures and needs handled with care.

Products are never deleted: orders, stock and events keep referring to their SKU. Discontinuing
one sets `active` false, which capture and order edits refuse.

Validation is split so a bulk importer can reuse it: `validate_product` checks ONE draft (field
paths relative to the item, e.g. ("priceCents",)); `validate_products` checks a batch (paths
("products", "<index>", ...), duplicate SKUs and barcodes) for the `upsertProducts` mutation.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from app.domain.errors import ErrorCode, FieldIssue, Validator
from app.domain.events import Actor, DomainEvent, field_changes
from app.domain.gtin import gtin14, gtin_problem
from app.domain.ids import new_id
from app.domain.money import DEFAULT_CURRENCY, Money

MAX_BATCH = 500
MAX_SKU_LENGTH = 100  # what order capture accepts on a line
MAX_NAME_LENGTH = 200
MAX_CATEGORY_LENGTH = 100
MAX_PRICE_CENTS = 100_000_000
MAX_WEIGHT_GRAMS = 1_000_000
MAX_SIDE_CM = 1_000.0
MAX_SEARCH_LENGTH = 100
MAX_SEARCH_WORDS = 6

PRODUCT_CREATED = "ProductCreated"
PRODUCT_UPDATED = "ProductUpdated"
PRODUCT_AGGREGATE = "Product"


class HandlingFlag(StrEnum):
    FRAGILE = "FRAGILE"
    HAZMAT = "HAZMAT"
    COLD_CHAIN = "COLD_CHAIN"
    OVERSIZE = "OVERSIZE"


_FLAGS = frozenset(flag.value for flag in HandlingFlag)


@dataclass(frozen=True, slots=True)
class Dimensions:
    length_cm: float
    width_cm: float
    height_cm: float


@dataclass(frozen=True, slots=True)
class Product:
    sku: str
    name: str
    price: Money
    weight_grams: int
    dimensions: Dimensions
    handling: frozenset[HandlingFlag] = frozenset()
    category: str | None = None
    active: bool = True
    barcode: str | None = None  # a GTIN, as given (8, 12, 13 or 14 digits)


@dataclass(frozen=True, slots=True)
class ProductDraft:
    """One product as a client or an import row states it, before validation. Strings are
    trimmed by validation; `handling` holds flag names so an unknown one can be reported."""

    sku: str
    name: str
    price_cents: int
    weight_grams: int
    dimensions: Dimensions | None
    currency: str = DEFAULT_CURRENCY
    handling: tuple[str, ...] = ()
    barcode: str | None = None
    category: str | None = None
    active: bool = True


@dataclass(frozen=True, slots=True)
class ProductFilter:
    """Selects products; every given criterion must hold. `search` matches a SKU prefix, a barcode
    exactly, or name words by prefix (every word given)."""

    search: str | None = None
    active: bool | None = None
    category: str | None = None
    handling: HandlingFlag | None = None


@dataclass(frozen=True, slots=True)
class ProductUpsert:
    """What a batch did: `products` in input order as now stored; SKUs by outcome."""

    products: tuple[Product, ...]
    created: tuple[str, ...]
    updated: tuple[str, ...]
    unchanged: tuple[str, ...]


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _text(check: Validator, value: str | None, limit: int, name: str, *, required: bool) -> str | None:
    """The trimmed text, or None when absent (an issue when required) or refused."""
    stripped = value.strip() if isinstance(value, str) else ""
    if not stripped:
        check.check(not required, "is required", name)
        return None
    ok = check.check(len(stripped) <= limit, f"is longer than {limit} characters", name)
    ok = check.check(stripped.isprintable(), "contains control characters", name) and ok
    return stripped if ok else None


def validate_product(draft: ProductDraft) -> Product | tuple[FieldIssue, ...]:
    """The product, or every issue with its field path relative to the item (("priceCents",),
    ("dimensions", "lengthCm"), ("handling", "1"), ...). Pure: no uniqueness across products."""
    check = Validator()
    sku = _text(check, draft.sku, MAX_SKU_LENGTH, "sku", required=True)
    if sku is not None:
        # Inventory levels are keyed `SKU@LOCATION`; whitespace inside a SKU is a typo in practice.
        check.check(not any(c.isspace() for c in sku) and "@" not in sku, "a SKU has no spaces and no @", "sku")
    name = _text(check, draft.name, MAX_NAME_LENGTH, "name", required=True)
    check.check(
        _is_int(draft.price_cents) and 0 <= draft.price_cents <= MAX_PRICE_CENTS,
        "price must be between 0 and 1,000,000.00",
        "priceCents",
    )
    currency = draft.currency.strip().upper() if isinstance(draft.currency, str) else ""
    check.check(len(currency) == 3 and currency.isascii() and currency.isalpha(), "currency is a 3-letter ISO code", "currency")
    check.check(
        _is_int(draft.weight_grams) and 1 <= draft.weight_grams <= MAX_WEIGHT_GRAMS,
        f"weight must be between 1 and {MAX_WEIGHT_GRAMS:,} grams",
        "weightGrams",
    )
    dimensions = draft.dimensions
    if check.check(dimensions is not None, "is required", "dimensions"):
        assert dimensions is not None
        for field, side in (
            ("lengthCm", dimensions.length_cm),
            ("widthCm", dimensions.width_cm),
            ("heightCm", dimensions.height_cm),
        ):
            check.check(
                isinstance(side, (int, float)) and not isinstance(side, bool) and math.isfinite(side) and 0 < side <= MAX_SIDE_CM,
                f"must be above 0 and at most {MAX_SIDE_CM:g} cm",
                "dimensions",
                field,
            )
    handling: set[HandlingFlag] = set()
    for index, flag in enumerate(draft.handling):
        if check.check(flag in _FLAGS, f"unknown handling flag {flag!r}", "handling", index):
            handling.add(HandlingFlag(flag))
    barcode = _text(check, draft.barcode, 64, "barcode", required=False)
    if barcode is not None:
        problem = gtin_problem(barcode)
        check.check(problem is None, problem or "", "barcode")
    category = _text(check, draft.category, MAX_CATEGORY_LENGTH, "category", required=False)
    check.check(isinstance(draft.active, bool), "active is true or false", "active")
    if check.issues:
        return tuple(check.issues)
    assert sku is not None and name is not None and dimensions is not None
    return Product(
        sku=sku,
        name=name,
        price=Money(draft.price_cents, currency),
        weight_grams=draft.weight_grams,
        dimensions=Dimensions(float(dimensions.length_cm), float(dimensions.width_cm), float(dimensions.height_cm)),
        handling=frozenset(handling),
        category=category,
        active=draft.active,
        barcode=barcode,
    )


def validate_products(drafts: Sequence[ProductDraft]) -> tuple[Product, ...]:
    """Every draft valid, SKUs and barcodes unique within the batch; else InvalidInput listing every
    issue at ("products", "<index>", <field>...). All or nothing: one bad item refuses the batch."""
    check = Validator()
    if not 1 <= len(drafts) <= MAX_BATCH:
        check.add(f"send 1 to {MAX_BATCH} products", "products")
        check.raise_if_any()
    products: list[Product] = []
    for index, draft in enumerate(drafts):
        result = validate_product(draft)
        if isinstance(result, Product):
            products.append(result)
        else:
            check.issues.extend(FieldIssue(i.code, i.message, ("products", str(index), *i.field)) for i in result)
    check.issues.extend(duplicate_issues(drafts))
    check.raise_if_any()
    return tuple(products)


def duplicate_issues(items: Sequence[ProductDraft | Product]) -> list[FieldIssue]:
    """A SKU or barcode given twice in one batch: the later item is at fault."""
    issues: list[FieldIssue] = []
    first_sku: dict[str, int] = {}
    first_barcode: dict[str, int] = {}
    for index, item in enumerate(items):
        sku = item.sku.strip() if isinstance(item.sku, str) else ""
        if sku:
            if sku in first_sku:
                issues.append(_issue(f"SKU {sku} is also item {first_sku[sku]}", index, "sku"))
            first_sku.setdefault(sku, index)
        barcode = item.barcode.strip() if isinstance(item.barcode, str) else ""
        if barcode and gtin_problem(barcode) is None:
            key = gtin14(barcode)
            if key in first_barcode:
                issues.append(_issue(f"barcode {barcode} is also on item {first_barcode[key]}", index, "barcode"))
            first_barcode.setdefault(key, index)
    return issues


def check_batch(products: Sequence[Product]) -> None:
    """For batches of already-validated products: 1..MAX_BATCH, SKUs and barcodes unique."""
    check = Validator()
    if not 1 <= len(products) <= MAX_BATCH:
        check.add(f"send 1 to {MAX_BATCH} products", "products")
    check.issues.extend(duplicate_issues(products))
    check.raise_if_any()


def _issue(message: str, index: int, *field: str) -> FieldIssue:
    return FieldIssue(ErrorCode.INVALID_INPUT, message, ("products", str(index), *field))


def barcode_taken_issues(products: Sequence[Product], holders: Mapping[str, str]) -> list[FieldIssue]:
    """`holders`: GTIN-14 → SKU of the product that holds it once the batch is written."""
    issues = []
    for index, product in enumerate(products):
        if product.barcode:
            holder = holders.get(gtin14(product.barcode), product.sku)
            if holder != product.sku:
                issues.append(_issue(f"barcode {product.barcode} already belongs to {holder}", index, "barcode"))
    return issues


def check_filter(selection: ProductFilter) -> None:
    check = Validator()
    if selection.search is not None:
        check.check(len(selection.search) <= MAX_SEARCH_LENGTH, f"search is at most {MAX_SEARCH_LENGTH} characters", "filter", "search")
    if selection.category is not None:
        check.check(len(selection.category) <= MAX_CATEGORY_LENGTH, "category is too long", "filter", "category")
    check.raise_if_any()


_WORD = re.compile(r"\w+")


def search_words(text: str) -> list[str]:
    """Lower-case words of a name or a search, in order, without repeats."""
    return list(dict.fromkeys(_WORD.findall(text.lower())))


def search_terms(product: Product) -> list[str]:
    """What a search matches by prefix: the SKU (lower case, whole) and the words of the name."""
    return sorted({product.sku.lower(), *search_words(product.name)})


# --- audit: what changed, as JSON data for events ------------------------------------------------


def product_data(product: Product) -> dict[str, Any]:
    """The product in the API's field names, for event payloads."""
    return {
        "sku": product.sku,
        "name": product.name,
        "priceCents": product.price.cents,
        "currency": product.price.currency,
        "weightGrams": product.weight_grams,
        "dimensions": {
            "lengthCm": product.dimensions.length_cm,
            "widthCm": product.dimensions.width_cm,
            "heightCm": product.dimensions.height_cm,
        },
        "handling": sorted(flag.value for flag in product.handling),
        "barcode": product.barcode,
        "category": product.category,
        "active": product.active,
    }


def plan_upsert(batch: Sequence[Product], stored: Mapping[str, Product]) -> ProductUpsert:
    """Create what is new, replace what differs, leave what is equal alone."""
    created = tuple(p.sku for p in batch if p.sku not in stored)
    updated = tuple(p.sku for p in batch if p.sku in stored and stored[p.sku] != p)
    unchanged = tuple(p.sku for p in batch if p.sku in stored and stored[p.sku] == p)
    return ProductUpsert(products=tuple(batch), created=created, updated=updated, unchanged=unchanged)


def upsert_events(
    outcome: ProductUpsert, stored: Mapping[str, Product], *, actor: Actor, at: datetime, reason: str | None
) -> list[DomainEvent]:
    """One event per product created (`ProductCreated`, the whole product) or changed
    (`ProductUpdated`, only what changed); none for unchanged ones."""
    by_sku = {p.sku: p for p in outcome.products}
    events = []
    for sku in (*outcome.created, *outcome.updated):
        product = by_sku[sku]
        before = stored.get(sku)
        payload: dict[str, Any] = (
            {"product": product_data(product)}
            if before is None
            else {"changes": field_changes(product_data(before), product_data(product))}
        )
        events.append(
            DomainEvent(
                id=new_id(),
                type=PRODUCT_CREATED if before is None else PRODUCT_UPDATED,
                aggregate_type=PRODUCT_AGGREGATE,
                aggregate_id=sku,
                at=at,
                actor=actor,
                payload=payload,
                reason=reason,
                sku=sku,
            )
        )
    return events
