"""Product import rows: one row states one whole product, as `upsertProducts` takes it.

What a row leaves out takes the input's default (currency USD, no handling flags, no barcode, no
category, active), so a row describes the product completely and re-importing the same file
changes nothing. Columns (camelCase; headers match ignoring case, spaces, `_` and `-`):

- `sku`, `name`, `weightGrams` required; the price as `priceCents` (whole minor units) or `price`
  (an amount, `19.99`); `currency` (ISO 4217, default USD);
- `lengthCm`, `widthCm`, `heightCm` (JSON Lines may nest them: `"dimensions": {"lengthCm": …}`);
- `handling`: flags separated by `|` (`FRAGILE|COLD_CHAIN`), or a JSON array;
- `barcode` (a GTIN: 8, 12, 13 or 14 digits with its check digit), `category`,
  `active` (true/false, yes/no, 1/0; false discontinues the product).
"""

from __future__ import annotations

from app.domain.imports import Column, RowIssue, RowValues, SourceRow
from app.domain.import_values import cents, decimal, flag, items, lifted, row_issues, texts
from app.domain.money import DEFAULT_CURRENCY
from app.domain.products import (
    MAX_CATEGORY_LENGTH,
    MAX_NAME_LENGTH,
    MAX_PRICE_CENTS,
    MAX_SKU_LENGTH,
    MAX_WEIGHT_GRAMS,
    Dimensions,
    Product,
    ProductDraft,
    validate_product,
)

SIDES = ("lengthCm", "widthCm", "heightCm")
PRODUCT_COLUMNS = (
    Column("sku", required=True),
    Column("name", required=True),
    Column("priceCents"),
    Column("price"),
    Column("currency"),
    Column("weightGrams", required=True),
    *(Column(side) for side in SIDES),
    Column("dimensions"),
    Column("handling"),
    Column("barcode"),
    Column("category"),
    Column("active"),
)


def draft_product(row: SourceRow) -> Product | list[RowIssue]:
    """The validated product a row describes (the rules of `upsertProducts`), or its issues, each
    named by the column at fault. Pure: whether its barcode is another product's is for the writer."""
    spread = lifted(row, {"dimensions": {side: side for side in SIDES}})
    if isinstance(spread, list):
        return spread
    values = RowValues(spread)
    sku = values.text("sku", required=True, max_length=MAX_SKU_LENGTH)
    name = values.text("name", required=True, max_length=MAX_NAME_LENGTH)
    price_column = "price" if "price" in spread.values else "priceCents"
    price_cents = _price(values)
    currency = values.text("currency", max_length=3) or DEFAULT_CURRENCY
    weight = values.count("weightGrams", required=True, maximum=MAX_WEIGHT_GRAMS)
    sides = [decimal(values, side, required=True) for side in SIDES]
    flags = items(values, "handling")
    handling = texts(values, "handling", flags) if flags is not None else []
    barcode = values.text("barcode", max_length=64)
    category = values.text("category", max_length=MAX_CATEGORY_LENGTH)
    active = flag(values, "active")
    if values.issues:
        return values.issues
    assert sku is not None and name is not None and price_cents is not None and weight is not None
    length, width, height = (side or 0.0 for side in sides)
    draft = ProductDraft(
        sku=sku,
        name=name,
        price_cents=price_cents,
        weight_grams=weight,
        dimensions=Dimensions(length, width, height),
        currency=currency,
        handling=tuple(_flag_name(flag_) for flag_ in handling or ()),
        barcode=barcode,
        category=category,
        active=True if active is None else active,
    )
    result = validate_product(draft)
    if isinstance(result, Product):
        return result
    return row_issues(row.line, result, lambda path: _column(path, price_column))


def _price(values: RowValues) -> int | None:
    given = [name for name in ("priceCents", "price") if name in values.row.values]
    if len(given) == 2:
        values.problem("price", "give price or priceCents, not both")
        return None
    if not given:
        values.problem("priceCents", "required (or price)")
        return None
    if given[0] == "price":
        return cents(values, "price")
    return values.count("priceCents", maximum=MAX_PRICE_CENTS)


def _flag_name(text: str) -> str:
    """`cold chain`, `Cold-Chain` and `COLD_CHAIN` name one flag."""
    return "_".join(text.replace("-", " ").split()).upper()


def _column(path: tuple[str, ...], price_column: str) -> tuple[str, str]:
    if not path:
        return "", ""
    if path[0] == "dimensions":
        return (path[1] if len(path) > 1 else "lengthCm"), ""
    if path[0] == "priceCents":
        return price_column, ""
    return path[0], ""
