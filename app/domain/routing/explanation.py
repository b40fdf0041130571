"""Why an order was routed where it was: every candidate, its scores, and why it won or lost.

Stored on the order (`orders.routing`) in the compact shape of app/domain/routing/stored.py.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from app.domain.geocoding import PointSource
from app.domain.locations import LocationKind
from app.domain.orders import DeliveryMethod
from app.domain.routing.policy import CriterionWeight, RoutingCriterion

class ExclusionReason(StrEnum):
    """Why a location could not be used at all."""

    INACTIVE = "INACTIVE"
    DOES_NOT_SHIP = "DOES_NOT_SHIP"
    SHIP_FROM_STORE_DISABLED = "SHIP_FROM_STORE_DISABLED"
    NO_PICKUP = "NO_PICKUP"  # the chosen store does not offer pick-up
    TOO_FAR = "TOO_FAR"
    EXCLUDED_BY_POLICY = "EXCLUDED_BY_POLICY"
    EXCLUDED_BY_REQUEST = "EXCLUDED_BY_REQUEST"  # e.g. re-routing away from a short-picked location
    BELOW_MIN_PRIORITY = "BELOW_MIN_PRIORITY"
    NO_STOCK = "NO_STOCK"  # none of the requested SKUs available


class CandidateOutcome(StrEnum):
    CHOSEN = "CHOSEN"
    NOT_NEEDED = "NOT_NEEDED"  # eligible with stock, but chosen locations covered what it could supply
    MAX_SPLITS_REACHED = "MAX_SPLITS_REACHED"  # could have filled remaining quantity; no split left
    EXCLUDED = "EXCLUDED"  # see `exclusions`


@dataclass(frozen=True, slots=True)
class CriterionScore:
    """`raw` is in the criterion's unit: km (NEAREST), cents (LOWEST_COST), units above reorder point
    (OVERSTOCK_FIRST), share of remaining units fillable 0–1 (FEWEST_SHIPMENTS). `score` is the
    normalised value in [0, 1] (1 = best among eligible candidates), `weighted` = weight × score.
    """

    criterion: RoutingCriterion
    weight: float
    raw: float
    score: float
    weighted: float


@dataclass(frozen=True, slots=True)
class LineFill:
    """What one candidate could supply for one line when it was scored."""

    line_id: str
    sku: str
    wanted: int
    available: int
    fillable: int


@dataclass(frozen=True, slots=True)
class ExplainedCandidate:
    location_id: str
    location_name: str
    location_kind: LocationKind
    priority: int
    distance_km: float | None  # None for pick-up with no destination point
    outcome: CandidateOutcome
    exclusions: tuple[ExclusionReason, ...] = ()
    scores: tuple[CriterionScore, ...] = ()  # empty when excluded
    total_score: float | None = None  # Σ weighted / Σ weight, in [0, 1]
    rank: int | None = None  # 1 = best eligible candidate in the first round
    fills: tuple[LineFill, ...] = ()
    fills_all: bool = False
    allocated: tuple[tuple[str, int], ...] = ()  # (line_id, quantity) when chosen
    note: str = ""  # one human sentence


@dataclass(frozen=True, slots=True)
class RoutingDecision:
    """One chosen location, in the order it was chosen, and why it won that round."""

    step: int
    location_id: str
    score: float
    allocated: tuple[tuple[str, int], ...]  # (line_id, quantity)
    runner_up_id: str | None
    runner_up_score: float | None
    reason: str


@dataclass(frozen=True, slots=True)
class LineOutcome:
    line_id: str
    sku: str
    quantity: int
    allocated: tuple[tuple[str, int], ...]  # (location_id, quantity)
    backordered: int
    split: bool  # filled from more than one location


@dataclass(frozen=True, slots=True)
class RoutingExplanation:
    delivery_method: DeliveryMethod
    channel_id: str
    policy_source: str  # "global", the channel id, or "override"
    criteria: tuple[CriterionWeight, ...]
    split_only_when_needed: bool
    max_splits: int
    candidates: tuple[ExplainedCandidate, ...]  # eligible ones by rank, then excluded ones
    decisions: tuple[RoutingDecision, ...]
    lines: tuple[LineOutcome, ...]
    summary: str
    omitted_candidates: int = 0  # beyond `explain_limit`; counted in exclusion_counts when excluded
    exclusion_counts: tuple[tuple[ExclusionReason, int], ...] = ()  # over all candidates, listed or not
    pickup_alternatives: tuple[str, ...] = ()  # location ids, nearest first (PICKUP_IN_STORE only)
    # SHIP: how the destination was found. POSTAL_CODE or CITY: every distance is measured from that
    # area's centre, so it is approximate (the narrative says so). None: not known (older orders).
    destination_source: PointSource | None = None

    @property
    def approximate_distances(self) -> bool:
        return self.destination_source is not None and self.destination_source.is_centroid
