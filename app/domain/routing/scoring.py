"""Scoring one round of candidates: what each could fill, raw criterion values, normalised scores.

Normalisation is relative to the best eligible candidate of the round, so every criterion lands in
[0, 1] with 1 for the best and weights compare like with like:

- lower is better (NEAREST km, LOWEST_COST cents per unit): score = (best + f) / (raw + f), where
  f is 1 km for distance (so 0.2 km vs 0.4 km is not a 2× difference) and 0 for cost;
- higher is better (OVERSTOCK_FIRST units, FEWEST_SHIPMENTS share): score = raw / best.

When every candidate has the same raw value (or the best is 0 for a higher-is-better criterion)
each scores 1: the criterion does not discriminate, so it does not move the ranking.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from app.domain.locations import Location
from app.domain.routing.explanation import CriterionScore, LineFill
from app.domain.routing.plan import RoutingLine, StockAtLocation
from app.domain.routing.policy import RoutingCriterion, RoutingPolicy

DISTANCE_FLOOR_KM = 1.0
_SCORE_DIGITS = 4
_RANK_DIGITS = 6  # totals compared at this precision so float noise cannot beat a tie-breaker


@dataclass(frozen=True, slots=True)
class ScoredCandidate:
    location: Location
    distance_km: float | None
    fills: tuple[LineFill, ...]
    fill_units: int
    fills_all: bool  # fills everything still unfilled in this round
    scores: tuple[CriterionScore, ...]
    total: float

    def rank_key(self) -> tuple[float, int, float, str]:
        """Best first: total desc, then priority desc, distance asc, location id asc."""
        return (-round(self.total, _RANK_DIGITS), -self.location.priority, self.distance_km or 0.0, self.location.id)


@dataclass(frozen=True, slots=True)
class Round:
    """One greedy step of the planner: who won, and the whole field it won against (best first)."""

    winner: ScoredCandidate
    field: tuple[ScoredCandidate, ...]
    allocated: tuple[tuple[str, int], ...]  # (line_id, quantity)
    preferred_single: bool  # won because it alone fills everything left, not on score alone


def line_fills(
    location_id: str,
    lines: Sequence[RoutingLine],
    remaining: Mapping[str, int],
    available: Mapping[tuple[str, str], int],
) -> tuple[LineFill, ...]:
    """Per line still open, what this location could supply; lines sharing a SKU share its stock."""
    left: dict[str, int] = {}
    fills: list[LineFill] = []
    for line in lines:
        wanted = remaining.get(line.line_id, 0)
        if wanted <= 0:
            continue
        have = left.get(line.sku, available.get((location_id, line.sku), 0))
        take = min(wanted, have)
        left[line.sku] = have - take
        fills.append(LineFill(line_id=line.line_id, sku=line.sku, wanted=wanted, available=have, fillable=take))
    return tuple(fills)


def score_round(
    candidates: Sequence[tuple[Location, float | None]],
    lines: Sequence[RoutingLine],
    remaining: Mapping[str, int],
    available: Mapping[tuple[str, str], int],
    stock: Mapping[tuple[str, str], StockAtLocation],
    policy: RoutingPolicy,
) -> list[ScoredCandidate]:
    """Scores the candidates that can supply anything still unfilled, best first."""
    weights = {line.line_id: line.weight_grams for line in lines}
    remaining_units = sum(q for q in remaining.values() if q > 0)
    measured: list[tuple[Location, float | None, tuple[LineFill, ...], int, bool, dict[RoutingCriterion, float]]] = []
    for location, distance in candidates:
        fills = line_fills(location.id, lines, remaining, available)
        units = sum(f.fillable for f in fills)
        if units <= 0:
            continue
        raw: dict[RoutingCriterion, float] = {}
        for item in policy.criteria:
            raw[item.criterion] = _raw_value(item.criterion, location, distance, fills, units, remaining_units, weights, available, stock, policy)
        fills_all = all(f.fillable == f.wanted for f in fills)
        measured.append((location, distance, fills, units, fills_all, raw))
    if not measured:
        return []

    total_weight = sum(item.weight for item in policy.criteria)
    scored: list[ScoredCandidate] = []
    for location, distance, fills, units, fills_all, raw in measured:
        scores: list[CriterionScore] = []
        weighted_sum = 0.0
        for item in policy.criteria:
            column = [m[5][item.criterion] for m in measured]
            score = _normalise(item.criterion, raw[item.criterion], column)
            weighted_sum += item.weight * score
            shown = round(score, _SCORE_DIGITS)
            scores.append(
                CriterionScore(
                    criterion=item.criterion,
                    weight=item.weight,
                    raw=round(raw[item.criterion], _SCORE_DIGITS),
                    score=shown,
                    weighted=round(item.weight * shown, _SCORE_DIGITS),  # consistent with what is shown
                )
            )
        total = weighted_sum / total_weight if total_weight > 0 else 0.0
        scored.append(ScoredCandidate(location, distance, fills, units, fills_all, tuple(scores), total))
    scored.sort(key=ScoredCandidate.rank_key)
    return scored


def _raw_value(
    criterion: RoutingCriterion,
    location: Location,
    distance: float | None,
    fills: tuple[LineFill, ...],
    units: int,
    remaining_units: int,
    weights: Mapping[str, int],
    available: Mapping[tuple[str, str], int],
    stock: Mapping[tuple[str, str], StockAtLocation],
    policy: RoutingPolicy,
) -> float:
    match criterion:
        case RoutingCriterion.NEAREST:
            return distance or 0.0
        case RoutingCriterion.LOWEST_COST:
            # Per unit shipped, so a location sending one item of five does not look cheapest.
            weight = sum(weights[f.line_id] * f.fillable for f in fills)
            cents = policy.cost_model.shipment_cents(
                distance_km=distance or 0.0, weight_grams=weight, handling_cost_cents=location.handling_cost_cents
            )
            return cents / units
        case RoutingCriterion.OVERSTOCK_FIRST:
            # Current availability (this plan's earlier picks already taken) above the reorder point.
            total = 0
            for sku in dict.fromkeys(f.sku for f in fills if f.fillable > 0):
                level = stock.get((location.id, sku))
                reorder_point = level.reorder_point if level else 0
                total += max(0, available.get((location.id, sku), 0) - reorder_point)
            return float(total)
        case RoutingCriterion.FEWEST_SHIPMENTS:
            return units / remaining_units if remaining_units else 0.0
    raise ValueError(criterion)  # pragma: no cover - exhaustive match


def _normalise(criterion: RoutingCriterion, raw: float, column: Sequence[float]) -> float:
    if criterion in (RoutingCriterion.NEAREST, RoutingCriterion.LOWEST_COST):
        floor = DISTANCE_FLOOR_KM if criterion is RoutingCriterion.NEAREST else 0.0
        best = min(column)
        if raw + floor <= 0:
            return 1.0
        return (best + floor) / (raw + floor)
    best = max(column)
    if best <= 0:
        return 1.0
    return raw / best
