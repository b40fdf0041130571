"""Stock import rows: what a row says (a draft), and what it does to a level.

A row sets a level's on-hand count absolutely (a count, not a delta: re-importing the same file
changes nothing) and, when given, its safety stock, reorder point and quantity, and bin. It never
touches `reserved`: those units belong to open orders. A count below what is reserved is refused
for that row (`INSUFFICIENT_STOCK`), where a staff count (`adjustStock`) records it as counted: a
feed that disagrees with open orders is more likely stale than a real shrinkage, and the rest of
the file still goes in.
"""

from __future__ import annotations

from dataclasses import dataclass

from app.domain.errors import ErrorCode
from app.domain.imports import Column, RowIssue, RowValues, SourceRow
from app.domain.inventory import MAX_UNITS, BinLocation, InventoryLevel, StockPolicy

STOCK_COLUMNS = (
    Column("sku", required=True),
    Column("location", required=True),
    Column("onHand", required=True),
    Column("safetyStock"),
    Column("reorderPoint"),
    Column("reorderQuantity"),
    Column("bin"),
)


@dataclass(frozen=True, slots=True)
class StockDraft:
    """One valid row: `policy` fields and `bin` left None are left as they are."""

    sku: str
    location_id: str
    on_hand: int
    policy: StockPolicy = StockPolicy()
    bin: BinLocation | None = None

    @property
    def key(self) -> tuple[str, str]:
        return (self.sku, self.location_id)


def parse_bin(code: str) -> BinLocation | None:
    """`zone-aisle-shelf-bin`, e.g. `A-03-2-15` (the zone may itself contain dashes)."""
    parts = code.rsplit("-", 3)
    if len(parts) != 4 or not all(part.strip() for part in parts):
        return None
    zone, aisle, shelf, bin_ = (part.strip() for part in parts)
    return BinLocation(zone=zone, aisle=aisle, shelf=shelf, bin=bin_)


def draft_stock(row: SourceRow) -> StockDraft | list[RowIssue]:
    values = RowValues(row)
    sku = values.text("sku", required=True)
    location_id = values.text("location", required=True)
    on_hand = values.count("onHand", required=True, maximum=MAX_UNITS)
    policy = StockPolicy(
        safety_stock=values.count("safetyStock", maximum=MAX_UNITS),
        reorder_point=values.count("reorderPoint", maximum=MAX_UNITS),
        reorder_quantity=values.count("reorderQuantity", maximum=MAX_UNITS),
    )
    bin_code = values.text("bin")
    bin_ = parse_bin(bin_code) if bin_code else None
    if bin_code and bin_ is None:
        values.problem("bin", f"must be zone-aisle-shelf-bin, e.g. A-03-2-15; got {bin_code!r}")
    if values.issues:
        return values.issues
    assert sku is not None and location_id is not None and on_hand is not None
    return StockDraft(sku=sku, location_id=location_id, on_hand=on_hand, policy=policy, bin=bin_)


def imported_level(level: InventoryLevel, draft: StockDraft) -> InventoryLevel:
    """The level once the row is applied; `reserved` and `incoming` as they were. (One constructor
    call rather than `replace` per field: a million rows make that count.)"""
    policy = draft.policy
    return InventoryLevel(
        sku=level.sku,
        location_id=level.location_id,
        on_hand=draft.on_hand,
        reserved=level.reserved,
        safety_stock=level.safety_stock if policy.safety_stock is None else policy.safety_stock,
        incoming=level.incoming,
        reorder_point=level.reorder_point if policy.reorder_point is None else policy.reorder_point,
        reorder_quantity=level.reorder_quantity if policy.reorder_quantity is None else policy.reorder_quantity,
        bin=level.bin if draft.bin is None else draft.bin,
        updated_at=level.updated_at,
    )


def same_stock(a: InventoryLevel, b: InventoryLevel) -> bool:
    """Whether a row would change nothing an import sets (the idempotency test)."""
    return (a.on_hand, a.safety_stock, a.reorder_point, a.reorder_quantity, a.bin) == (
        b.on_hand,
        b.safety_stock,
        b.reorder_point,
        b.reorder_quantity,
        b.bin,
    )


def below_reserved(line: int, level: InventoryLevel, draft: StockDraft) -> RowIssue | None:
    if draft.on_hand >= level.reserved:
        return None
    return RowIssue(
        line,
        "onHand",
        f"{draft.on_hand} on hand is below the {level.reserved} units reserved for open orders of "
        f"{draft.sku} at {draft.location_id}; import at least {level.reserved}, or release those orders first",
        ErrorCode.INSUFFICIENT_STOCK,
    )
