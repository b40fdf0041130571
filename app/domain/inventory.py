"""Stock per SKU × location."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True, slots=True)
class BinLocation:
    """Where a SKU sits in a location: zone, aisle, shelf, bin. Sorts in walking order by zone."""

    zone: str
    aisle: str
    shelf: str
    bin: str

    @property
    def code(self) -> str:
        return f"{self.zone}-{self.aisle}-{self.shelf}-{self.bin}"


@dataclass(frozen=True, slots=True)
class InventoryLevel:
    sku: str
    location_id: str
    on_hand: int
    reserved: int
    safety_stock: int = 0
    incoming: int = 0
    reorder_point: int = 0
    reorder_quantity: int = 0
    bin: BinLocation | None = None
    updated_at: datetime | None = None

    @property
    def available(self) -> int:
        return available(self.on_hand, self.reserved, self.safety_stock)


def available(on_hand: int, reserved: int, safety_stock: int) -> int:
    """What can still be promised: never below zero."""
    return max(0, on_hand - reserved - safety_stock)


@dataclass(frozen=True, slots=True)
class NetworkTotals:
    sku: str
    on_hand: int
    reserved: int
    safety_stock: int
    incoming: int
    available: int
    location_count: int


def network_totals(sku: str, levels: list[InventoryLevel]) -> NetworkTotals:
    return NetworkTotals(
        sku=sku,
        on_hand=sum(level.on_hand for level in levels),
        reserved=sum(level.reserved for level in levels),
        safety_stock=sum(level.safety_stock for level in levels),
        incoming=sum(level.incoming for level in levels),
        # Summed per location: surplus at one location cannot cover a deficit counted at another.
        available=sum(level.available for level in levels),
        location_count=len(levels),
    )


@dataclass(frozen=True, slots=True)
class StoreStock:
    """One store near a point that has the asked-for items available now."""

    location_id: str
    distance_km: float
    quantities: dict[str, int]  # sku -> available
