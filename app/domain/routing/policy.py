"""Routing policy: which criteria rank candidate locations, how much each weighs, and the constraints.

A policy is configured globally (`_id` "global" in `routing_policies`) and may be overridden per
channel (a full replacement, not a merge: what a channel gets is always one readable document).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

from app.domain.errors import Validator

MAX_SPLITS_LIMIT = 10
MAX_EXCLUDED_LOCATIONS = 500
MAX_DISTANCE_LIMIT_KM = 20_040.0  # half the Earth's circumference: anything farther is not a limit
MAX_WEIGHT = 100.0
MAX_EXPLAIN_LIMIT = 100


class RoutingCriterion(StrEnum):
    """How candidate locations are ranked. Each yields a score in [0, 1], higher is better."""

    NEAREST = "NEAREST"  # great-circle distance to the destination, shorter is better
    LOWEST_COST = "LOWEST_COST"  # estimated shipping cost (CostModel), cheaper is better
    OVERSTOCK_FIRST = "OVERSTOCK_FIRST"  # units above reorder point of what it would ship, more is better
    FEWEST_SHIPMENTS = "FEWEST_SHIPMENTS"  # share of the remaining units it can fill, more is better


@dataclass(frozen=True, slots=True)
class CriterionWeight:
    criterion: RoutingCriterion
    weight: float


@dataclass(frozen=True, slots=True)
class CostModel:
    """Estimated cost of one shipment, in cents (a planning figure, not a carrier quote):

        handling_cost_cents(location) + base_cents + per_km_cents × km
        + ceil(weight_kg) × (per_kg_cents + per_kg_km_cents × km)

    Distance is great-circle km from the location to the destination; weight is the shipment's
    total (line weight × quantity), at least 1 kg.
    """

    base_cents: int = 500
    per_km_cents: float = 0.5
    per_kg_cents: int = 80
    per_kg_km_cents: float = 0.05

    def shipment_cents(self, *, distance_km: float, weight_grams: int, handling_cost_cents: int) -> int:
        kilograms = max(1, math.ceil(weight_grams / 1000))
        variable = self.per_km_cents * distance_km + kilograms * (self.per_kg_cents + self.per_kg_km_cents * distance_km)
        return handling_cost_cents + self.base_cents + round(variable)


@dataclass(frozen=True, slots=True)
class RoutingPolicy:
    """Criteria weights and constraints. Weights are relative: scores are combined as
    Σ weight × score / Σ weight, so (NEAREST 3, LOWEST_COST 1) means distance counts three times
    as much as cost. Ties are broken by location priority (desc), distance (asc), location id (asc).
    """

    criteria: tuple[CriterionWeight, ...] = (
        CriterionWeight(RoutingCriterion.NEAREST, 1.0),
        CriterionWeight(RoutingCriterion.FEWEST_SHIPMENTS, 1.0),
    )
    # Constraints
    max_distance_km: float | None = None  # None: no limit (SHIP only)
    max_splits: int = 3  # most locations one order may ship from
    ship_from_store: bool = True  # False: only distribution centers and drop-ship partners ship
    excluded_location_ids: frozenset[str] = frozenset()
    min_priority: int | None = None  # locations with a lower priority are not considered
    # True: if one eligible location fills the whole order, use the best such one and never split.
    # False: allocate greedily by score even when that splits an order one location could fill.
    split_only_when_needed: bool = True
    cost_model: CostModel = field(default_factory=CostModel)
    pickup_radius_km: float = 50.0  # how far from a pick-up store to look for alternatives
    explain_limit: int = 20  # candidates listed per outcome in the stored explanation

    def weight_of(self, criterion: RoutingCriterion) -> float:
        return sum(c.weight for c in self.criteria if c.criterion is criterion)


DEFAULT_POLICY = RoutingPolicy()
GLOBAL_SCOPE = "global"


@dataclass(frozen=True, slots=True)
class ConfiguredPolicy:
    """The policy in force for a scope. `scope` is "global" or a channel id; `inherited` is True when
    a channel has no policy of its own and gets the global one (then `source` is "global").
    `version` is 0 and `updated_*` None while nothing was ever stored (built-in DEFAULT_POLICY)."""

    scope: str
    policy: RoutingPolicy
    inherited: bool = False
    version: int = 0
    updated_at: datetime | None = None
    updated_by: str | None = None

    @property
    def source(self) -> str:
        return GLOBAL_SCOPE if self.inherited else self.scope


def validate_policy(policy: RoutingPolicy, *, prefix: tuple[str, ...] = ()) -> None:
    """Raises InvalidInput listing every problem; field paths start with `prefix` (e.g. ("policy",))."""
    check = Validator()
    check_policy(policy, check, prefix=prefix)
    check.raise_if_any()


def check_policy(policy: RoutingPolicy, check: Validator, *, prefix: tuple[str, ...] = ()) -> None:
    """Adds every problem with `policy` to `check` (field names as in the GraphQL input)."""
    p = prefix
    seen: set[RoutingCriterion] = set()
    check.check(len(policy.criteria) > 0, "give at least one criterion", *p, "criteria")
    if not check.check(
        len(policy.criteria) <= len(RoutingCriterion), f"at most {len(RoutingCriterion)} criteria, each once", *p, "criteria"
    ):
        return  # one issue, not thousands, for an oversized list
    for i, item in enumerate(policy.criteria):
        check.check(item.criterion not in seen, f"{item.criterion} is listed twice", *p, "criteria", i, "criterion")
        seen.add(item.criterion)
        check.check(
            math.isfinite(item.weight) and 0 <= item.weight <= MAX_WEIGHT,
            f"weight must be between 0 and {MAX_WEIGHT:g}",
            *p, "criteria", i, "weight",
        )
    if policy.criteria and all(math.isfinite(c.weight) and 0 <= c.weight <= MAX_WEIGHT for c in policy.criteria):
        check.check(sum(c.weight for c in policy.criteria) > 0, "at least one weight must be above 0", *p, "criteria")
    if policy.max_distance_km is not None:
        check.check(
            math.isfinite(policy.max_distance_km) and 0 < policy.max_distance_km <= MAX_DISTANCE_LIMIT_KM,
            f"maxDistanceKm must be in (0, {MAX_DISTANCE_LIMIT_KM:g}]",
            *p, "maxDistanceKm",
        )
    check.check(
        1 <= policy.max_splits <= MAX_SPLITS_LIMIT, f"maxSplits must be between 1 and {MAX_SPLITS_LIMIT}", *p, "maxSplits"
    )
    check.check(
        len(policy.excluded_location_ids) <= MAX_EXCLUDED_LOCATIONS,
        f"at most {MAX_EXCLUDED_LOCATIONS} excluded locations",
        *p, "excludedLocationCodes",
    )
    cost = policy.cost_model
    for name, value in (
        ("baseCents", cost.base_cents),
        ("perKmCents", cost.per_km_cents),
        ("perKgCents", cost.per_kg_cents),
        ("perKgKmCents", cost.per_kg_km_cents),
    ):
        check.check(math.isfinite(value) and 0 <= value <= 1_000_000, "must be between 0 and 1000000", *p, "costModel", name)
    check.check(
        math.isfinite(policy.pickup_radius_km) and 0 < policy.pickup_radius_km <= 1_000,
        "pickupRadiusKm must be in (0, 1000]",
        *p, "pickupRadiusKm",
    )
    check.check(
        1 <= policy.explain_limit <= MAX_EXPLAIN_LIMIT,
        f"explainLimit must be between 1 and {MAX_EXPLAIN_LIMIT}",
        *p, "explainLimit",
    )
