"""What the planner is asked (RoutingRequest, stock per location) and what it answers (RoutingPlan)."""

from __future__ import annotations

from dataclasses import dataclass

from app.domain.geo import GeoPoint
from app.domain.geocoding import PointSource
from app.domain.inventory import InventoryLevel
from app.domain.orders import DeliveryMethod
from app.domain.routing.explanation import ExclusionReason, RoutingExplanation


@dataclass(frozen=True, slots=True)
class RoutingLine:
    line_id: str
    sku: str
    quantity: int  # open quantity to place, > 0
    weight_grams: int = 0  # per unit


@dataclass(frozen=True, slots=True)
class RoutingRequest:
    """One order to place. SHIP needs `destination`; PICKUP_IN_STORE needs `pickup_location_id`.
    `excluded_location_ids` adds to the policy's exclusions (re-routing away from a location)."""

    lines: tuple[RoutingLine, ...]
    delivery_method: DeliveryMethod
    channel_id: str
    destination: GeoPoint | None = None
    # How `destination` was found; a postal-code or city centre makes distances approximate, which
    # the explanation says. None: exact (sent by the caller).
    destination_source: PointSource | None = None
    pickup_location_id: str | None = None
    excluded_location_ids: frozenset[str] = frozenset()

    @property
    def skus(self) -> tuple[str, ...]:
        """Distinct SKUs in line order."""
        return tuple(dict.fromkeys(line.sku for line in self.lines))


@dataclass(frozen=True, slots=True)
class StockAtLocation:
    """Stock of one SKU at one location, as routing sees it. `available` already excludes reserved
    and safety stock (on hand − reserved − safety stock, floored at 0)."""

    sku: str
    location_id: str
    available: int
    on_hand: int = 0
    reorder_point: int = 0

    @classmethod
    def from_level(cls, level: InventoryLevel) -> StockAtLocation:
        return cls(
            sku=level.sku,
            location_id=level.location_id,
            available=level.available,
            on_hand=level.on_hand,
            reorder_point=level.reorder_point,
        )


@dataclass(frozen=True, slots=True)
class PlannedAllocation:
    """Reserve `quantity` of line `line_id` at `location_id`."""

    line_id: str
    sku: str
    location_id: str
    quantity: int


@dataclass(frozen=True, slots=True)
class BackorderedLine:
    line_id: str
    sku: str
    quantity: int


@dataclass(frozen=True, slots=True)
class PlannedShipment:
    """Everything one location sends (or hands over, for pick-up)."""

    location_id: str
    line_ids: tuple[str, ...]
    units: int
    weight_grams: int
    distance_km: float | None
    estimated_cost_cents: int  # CostModel estimate; handling cost only for pick-up


@dataclass(frozen=True, slots=True)
class PickupAlternative:
    location_id: str
    name: str
    distance_km: float  # from the store the shopper chose


@dataclass(frozen=True, slots=True)
class PickupCheck:
    """PICKUP_IN_STORE only. When `can_fill` is False the order cannot be picked up where asked:
    `reason` says why (NO_STOCK when stock is short, NO_PICKUP/INACTIVE/... when the store itself
    is unusable, None when the store is unknown) and `alternatives` lists pick-up stores within
    the policy's `pickup_radius_km` that can fill every line now, nearest first."""

    location_id: str
    can_fill: bool
    reason: ExclusionReason | None = None
    alternatives: tuple[PickupAlternative, ...] = ()


@dataclass(frozen=True, slots=True)
class RoutingPlan:
    """Allocations (at most `max_splits` locations) plus what is left over, and the explanation."""

    allocations: tuple[PlannedAllocation, ...]
    backorders: tuple[BackorderedLine, ...]
    shipments: tuple[PlannedShipment, ...]
    explanation: RoutingExplanation
    pickup: PickupCheck | None = None

    @property
    def fully_allocated(self) -> bool:
        return not self.backorders

    @property
    def location_ids(self) -> tuple[str, ...]:
        """Chosen locations in the order they were chosen."""
        return tuple(s.location_id for s in self.shipments)

    @property
    def estimated_cost_cents(self) -> int:
        return sum(s.estimated_cost_cents for s in self.shipments)

    def allocated_quantity(self, line_id: str) -> int:
        return sum(a.quantity for a in self.allocations if a.line_id == line_id)

    def backordered_quantity(self, line_id: str) -> int:
        return sum(b.quantity for b in self.backorders if b.line_id == line_id)
