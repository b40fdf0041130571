"""Automatic replenishment: a reorder-point crossing becomes exactly one purchase-order line.

A crossing is recognised in the StockLevelChanged event of the write that crossed (available fell
from above the reorder point to at or below it, with a reorder quantity set) and recorded as a
marker in that same transaction; a worker turns each marker into one PO line in the transaction
that marks it done. Either both happen or neither, so a crossing is replenished exactly once.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from app.domain.errors import Validator
from app.domain.events import DomainEvent, crossed_reorder_point

MAX_TRANSFER_RADIUS_KM = 5_000.0


class ReplenishmentMode(StrEnum):
    AUTO_SUBMIT = "AUTO_SUBMIT"  # each crossing's PO is submitted at once
    DRAFT_ONLY = "DRAFT_ONLY"  # lines gather on the open draft for the supplier and location


class TransferMode(StrEnum):
    OFF = "OFF"
    SUGGEST = "SUGGEST"  # record a transfer suggestion beside the PO line
    CREATE = "CREATE"  # move the stock with a transfer instead of buying


class CrossingOutcome(StrEnum):
    PENDING = "PENDING"
    PO_LINE = "PO_LINE"
    TRANSFER = "TRANSFER"
    NO_SUPPLIER = "NO_SUPPLIER"


@dataclass(frozen=True, slots=True)
class ReplenishmentPolicy:
    """Per receiving location; the built-in default when none is stored."""

    location_id: str
    mode: ReplenishmentMode = ReplenishmentMode.DRAFT_ONLY
    transfers: TransferMode = TransferMode.SUGGEST
    transfer_radius_km: float = 100.0
    allow_over_receipt: bool = False
    version: int = 0


def check_policy(policy: ReplenishmentPolicy) -> None:
    check = Validator()
    check.check(
        0 < policy.transfer_radius_km <= MAX_TRANSFER_RADIUS_KM, f"transferRadiusKm is 0-{MAX_TRANSFER_RADIUS_KM:g}", "transferRadiusKm"
    )
    check.raise_if_any()


@dataclass(frozen=True, slots=True)
class Crossing:
    """A marker: `id` is the crossing event's id, so a crossing has exactly one."""

    id: str
    sku: str
    location_id: str
    reorder_point: int
    reorder_quantity: int
    available: int
    at: datetime
    outcome: CrossingOutcome = CrossingOutcome.PENDING
    purchase_order_id: str | None = None
    transfer_from: str | None = None
    done_at: datetime | None = None


def crossing_of(event: DomainEvent) -> Crossing | None:
    """The crossing this stock movement makes, if any (only when a reorder quantity is set)."""
    if not crossed_reorder_point(event) or not event.sku or not event.location_id:
        return None
    quantity = event.payload.get("reorderQuantity")
    if not isinstance(quantity, int) or quantity <= 0:
        return None
    return Crossing(
        id=event.id,
        sku=event.sku,
        location_id=event.location_id,
        reorder_point=int(event.payload["reorderPoint"]),
        reorder_quantity=quantity,
        available=int(event.payload["available"]),
        at=event.at,
    )


@dataclass(frozen=True, slots=True)
class TransferSuggestion:
    from_location_id: str
    distance_km: float
    surplus: int  # available above its own reorder point


def pick_transfer_source(needed: int, candidates: list[TransferSuggestion], radius_km: float) -> TransferSuggestion | None:
    """The nearest location within the radius holding the needed units above its reorder point."""
    fits = [c for c in candidates if c.distance_km <= radius_km and c.surplus >= needed]
    return min(fits, key=lambda c: (c.distance_km, c.from_location_id)) if fits else None
