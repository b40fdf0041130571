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
from app.domain.routing.policy import CriterionWeight, RoutingCriterion, RoutingPolicy

DISTANCE_FLOOR_KM = 1.0
_SCORE_DIGITS = 4
_RANK_DIGITS = 6  # totals compared at this precision so float noise cannot beat a tie-breaker


# (line_id, sku, wanted, available, fillable): plain tuples while scoring, LineFill when explained.
Fill = tuple[str, str, int, int, int]


@dataclass(frozen=True, slots=True)
class ScoredCandidate:
    """One candidate in one round. Raw numbers are kept; the explanation's objects are built on
    demand (`fills`, `scores`), since only the listed few of possibly thousands are ever shown."""

    location: Location
    distance_km: float | None
    raw_fills: tuple[Fill, ...]
    fill_units: int
    fills_all: bool  # fills everything still unfilled in this round
    criteria: tuple[CriterionWeight, ...]
    raw: tuple[float, ...]  # per criterion, in `criteria` order
    normalised: tuple[float, ...]
    total: float

    def rank_key(self) -> tuple[float, int, float, str]:
        """Best first: total desc, then priority desc, distance asc, location id asc."""
        return (-round(self.total, _RANK_DIGITS), -self.location.priority, self.distance_km or 0.0, self.location.id)

    @property
    def fills(self) -> tuple[LineFill, ...]:
        return tuple(LineFill(line_id=f[0], sku=f[1], wanted=f[2], available=f[3], fillable=f[4]) for f in self.raw_fills)

    @property
    def scores(self) -> tuple[CriterionScore, ...]:
        result = []
        for item, raw, score in zip(self.criteria, self.raw, self.normalised):
            shown = round(score, _SCORE_DIGITS)
            result.append(
                CriterionScore(
                    criterion=item.criterion,
                    weight=item.weight,
                    raw=round(raw, _SCORE_DIGITS),
                    score=shown,
                    weighted=round(item.weight * shown, _SCORE_DIGITS),  # consistent with what is shown
                )
            )
        return tuple(result)


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
    return tuple(LineFill(*f) for f in _fills(location_id, lines, remaining, available))


def _fills(
    location_id: str,
    lines: Sequence[RoutingLine],
    remaining: Mapping[str, int],
    available: Mapping[tuple[str, str], int],
) -> tuple[Fill, ...]:
    left: dict[str, int] = {}
    fills: list[Fill] = []
    for line in lines:
        wanted = remaining.get(line.line_id, 0)
        if wanted <= 0:
            continue
        sku = line.sku
        have = left[sku] if sku in left else available.get((location_id, sku), 0)
        take = wanted if wanted < have else have
        left[sku] = have - take
        fills.append((line.line_id, sku, wanted, have, take))
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
    criteria = policy.criteria
    measured: list[tuple[Location, float | None, tuple[Fill, ...], int, bool, tuple[float, ...]]] = []
    for location, distance in candidates:
        fills = _fills(location.id, lines, remaining, available)
        units = 0
        fills_all = True
        for f in fills:
            units += f[4]
            fills_all = fills_all and f[4] == f[2]
        if units <= 0:
            continue
        raw = tuple([
            _raw_value(item.criterion, location, distance, fills, units, remaining_units, weights, available, stock, policy)
            for item in criteria
        ])
        measured.append((location, distance, fills, units, fills_all, raw))
    if not measured:
        return []

    total_weight = sum(item.weight for item in criteria)
    best = [_best(item.criterion, [m[5][i] for m in measured]) for i, item in enumerate(criteria)]
    scored: list[ScoredCandidate] = []
    kinds = [(item.criterion, item.weight, b) for item, b in zip(criteria, best)]
    for location, distance, fills, units, fills_all, raw in measured:
        normalised = tuple([_normalise(kind, value, b) for (kind, _, b), value in zip(kinds, raw)])
        weighted_sum = 0.0
        for (_, weight, _), score in zip(kinds, normalised):
            weighted_sum += weight * score
        total = weighted_sum / total_weight if total_weight > 0 else 0.0
        scored.append(ScoredCandidate(location, distance, fills, units, fills_all, criteria, raw, normalised, total))
    scored.sort(key=ScoredCandidate.rank_key)
    return scored


def _raw_value(
    criterion: RoutingCriterion,
    location: Location,
    distance: float | None,
    fills: tuple[Fill, ...],
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
            weight = sum(weights[f[0]] * f[4] for f in fills)
            cents = policy.cost_model.shipment_cents(
                distance_km=distance or 0.0, weight_grams=weight, handling_cost_cents=location.handling_cost_cents
            )
            return cents / units
        case RoutingCriterion.OVERSTOCK_FIRST:
            # Current availability (this plan's earlier picks already taken) above the reorder point.
            total = 0
            for sku in dict.fromkeys(f[1] for f in fills if f[4] > 0):
                level = stock.get((location.id, sku))
                reorder_point = level.reorder_point if level else 0
                total += max(0, available.get((location.id, sku), 0) - reorder_point)
            return float(total)
        case RoutingCriterion.FEWEST_SHIPMENTS:
            return units / remaining_units if remaining_units else 0.0
    raise ValueError(criterion)  # pragma: no cover - exhaustive match


_LOWER_IS_BETTER = frozenset({RoutingCriterion.NEAREST, RoutingCriterion.LOWEST_COST})


def _best(criterion: RoutingCriterion, column: Sequence[float]) -> float:
    return min(column) if criterion in _LOWER_IS_BETTER else max(column)


def _normalise(criterion: RoutingCriterion, raw: float, best: float) -> float:
    if criterion in _LOWER_IS_BETTER:
        floor = DISTANCE_FLOOR_KM if criterion is RoutingCriterion.NEAREST else 0.0
        if raw + floor <= 0:
            return 1.0
        return (best + floor) / (raw + floor)
    if best <= 0:
        return 1.0
    return raw / best
