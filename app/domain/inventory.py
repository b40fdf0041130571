"""Stock per SKU × location."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from enum import StrEnum
from typing import Any

from app.domain.errors import Conflict, ErrorCode
from app.domain.events import Actor, DomainEvent
from app.domain.ids import new_id


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


class StockChangeCause(StrEnum):
    """Why a level changed: the `cause` of its StockLevelChanged event (the movement log)."""

    ADJUSTMENT = "ADJUSTMENT"  # counted or corrected by staff, with a reason
    RECEIPT = "RECEIPT"  # goods received
    TRANSFER_OUT = "TRANSFER_OUT"
    TRANSFER_IN = "TRANSFER_IN"
    POLICY = "POLICY"  # safety stock, reorder point or quantity changed
    RESERVATION = "RESERVATION"  # promised to an order
    RELEASE = "RELEASE"  # an order gave its reservation back (cancel, edit, re-route)
    SHIPMENT = "SHIPMENT"  # goods left: shipped or handed over; on hand and reserved fall together
    SHORT_PICK = "SHORT_PICK"  # the bin had fewer units: written off on hand with the reservation
    RETURN = "RETURN"  # a shopper's return received: restocked (on hand up) or set aside / written off (no change)
    IMPORT = "IMPORT"  # set by a bulk import (`oms import stock`, POST /imports/stock): an absolute count
    PO_RECEIPT = "PO_RECEIPT"  # received against a purchase order (payload names the PO): on hand up, incoming down
    PO_INCOMING = "PO_INCOMING"  # a purchase order submitted or cancelled: incoming changes, nothing else


@dataclass(frozen=True, slots=True)
class StockPolicy:
    """What staff configure per SKU × location; None leaves a value unchanged."""

    safety_stock: int | None = None
    reorder_point: int | None = None
    reorder_quantity: int | None = None


class InsufficientStock(Conflict):
    code = ErrorCode.INSUFFICIENT_STOCK


MAX_UNITS = 1_000_000  # per level and per movement: far above any real count, catches typos and overflow
MAX_REASON_LENGTH = 500


def empty_level(sku: str, location_id: str) -> InventoryLevel:
    return InventoryLevel(sku=sku, location_id=location_id, on_hand=0, reserved=0)


def apply_delta(level: InventoryLevel, *, on_hand: int = 0, reserved: int = 0) -> InventoryLevel:
    return replace(level, on_hand=level.on_hand + on_hand, reserved=level.reserved + reserved)


def apply_policy(level: InventoryLevel, policy: StockPolicy) -> InventoryLevel:
    return replace(
        level,
        safety_stock=level.safety_stock if policy.safety_stock is None else policy.safety_stock,
        reorder_point=level.reorder_point if policy.reorder_point is None else policy.reorder_point,
        reorder_quantity=level.reorder_quantity if policy.reorder_quantity is None else policy.reorder_quantity,
    )


def stock_level_changed(
    before: InventoryLevel,
    after: InventoryLevel,
    *,
    cause: StockChangeCause,
    actor: Actor,
    at: datetime,
    reason: str | None = None,
    order_id: str | None = None,
    customer_id: str | None = None,
    channel_id: str | None = None,
    details: dict[str, Any] | None = None,
) -> DomainEvent:
    """One movement: the level after the change, the deltas, and why (ARCHITECTURE.md, "Event flow")."""
    payload: dict[str, Any] = {
        "onHand": after.on_hand,
        "reserved": after.reserved,
        "safetyStock": after.safety_stock,
        "incoming": after.incoming,
        "available": after.available,
        "previousAvailable": before.available,
        "reorderPoint": after.reorder_point,
        "reorderQuantity": after.reorder_quantity,
        "cause": cause.value,
        "onHandDelta": after.on_hand - before.on_hand,
        "reservedDelta": after.reserved - before.reserved,
        **(details or {}),
    }
    return DomainEvent(
        id=new_id(),
        type="StockLevelChanged",
        aggregate_type="InventoryLevel",
        aggregate_id=f"{after.sku}@{after.location_id}",
        at=at,
        actor=actor,
        payload=payload,
        reason=reason,
        order_id=order_id,
        customer_id=customer_id,
        channel_id=channel_id,
        sku=after.sku,
        location_id=after.location_id,
    )


@dataclass(frozen=True, slots=True)
class ReservationMismatch:
    """A level whose `reserved` differs from the sum of OPEN allocations for it: a broken invariant."""

    sku: str
    location_id: str
    reserved: int
    allocated: int
