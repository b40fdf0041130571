"""The routing explanation: content, limits, JSON round trip; and policy validation (pure domain)."""

from __future__ import annotations

import json
import math
from typing import Any

import bson
import pytest

from app.domain.errors import InvalidInput
from app.domain.routing.explanation import CandidateOutcome, RoutingExplanation
from app.domain.routing.plan import RoutingPlan
from app.domain.routing.stored import explanation_from_dict, explanation_to_dict
from app.domain.routing.planner import plan_routing
from app.domain.routing.policy import CostModel, CriterionWeight, RoutingCriterion as C, RoutingPolicy, validate_policy
from tests.routing_network import candidate, loc, pickup_at, policy, ship, stock


def _boston_network():  # type: ignore[no-untyped-def]
    locations = [loc("ST-MA-BOS-01", 4.2), loc("DC-OH-COL", 1050), loc("ST-MA-CAM-02", 6, ships=False)]
    network = stock("ST-MA-BOS-01", A=3, B=1, C=2) + stock("DC-OH-COL", A=90, B=90, C=90) + stock("ST-MA-CAM-02", A=9)
    return locations, network


def test_the_winner_is_explained_against_the_next_best() -> None:
    locations, network = _boston_network()
    plan = plan_routing(ship(("A", 1), ("B", 1), ("C", 2)), locations, network, policy(), policy_source="web")
    explanation = plan.explanation
    dc_total = ((5.2 / 1051) + 1) / 2  # NEAREST (4.2+1)/(1050+1), FEWEST_SHIPMENTS 1
    assert explanation.decisions[0].reason == (
        f"ST-MA-BOS-01 fills all 3 line(s) at 4.2 km; next best DC-OH-COL scores {dc_total:.2f} vs 1.00"
    )
    assert explanation.decisions[0].runner_up_id == "DC-OH-COL"
    assert explanation.decisions[0].runner_up_score == pytest.approx(dc_total, abs=1e-4)
    assert explanation.summary == "Ships from ST-MA-BOS-01 at 4.2 km."
    assert (explanation.policy_source, explanation.channel_id, explanation.max_splits) == ("web", "web", 3)
    assert explanation.criteria == RoutingPolicy().criteria

    winner = candidate(plan, "ST-MA-BOS-01")
    assert (winner.outcome, winner.rank, winner.fills_all, winner.total_score) == (CandidateOutcome.CHOSEN, 1, True, 1.0)
    assert winner.allocated == (("1", 1), ("2", 1), ("3", 2))
    assert [(f.line_id, f.wanted, f.available, f.fillable) for f in winner.fills] == [("1", 1, 3, 1), ("2", 1, 1, 1), ("3", 2, 2, 2)]
    assert [(s.criterion, s.score) for s in winner.scores] == [(C.NEAREST, 1.0), (C.FEWEST_SHIPMENTS, 1.0)]

    runner_up = candidate(plan, "DC-OH-COL")
    assert (runner_up.outcome, runner_up.rank) == (CandidateOutcome.NOT_NEEDED, 2)
    assert runner_up.note == f"Ranked 2 ({dc_total:.2f}); what it could supply came from ST-MA-BOS-01."
    assert runner_up.distance_km == pytest.approx(1050, abs=1e-3)

    excluded = candidate(plan, "ST-MA-CAM-02")
    assert excluded.outcome is CandidateOutcome.EXCLUDED
    assert excluded.note == "Excluded: does not ship to customers."
    # Eligible by rank first, then excluded.
    assert [c.location_id for c in explanation.candidates] == ["ST-MA-BOS-01", "DC-OH-COL", "ST-MA-CAM-02"]
    assert [(o.line_id, o.allocated, o.split) for o in explanation.lines] == [
        ("1", (("ST-MA-BOS-01", 1),), False),
        ("2", (("ST-MA-BOS-01", 1),), False),
        ("3", (("ST-MA-BOS-01", 2),), False),
    ]


def _plans_of_every_kind() -> list[RoutingPlan]:
    """Chosen, not needed (ranked, preferred-single, nothing left), out of splits, excluded for fixed
    reasons and for figures (too far, low priority), split lines, backorders, pick-up, weighted criteria."""
    locations, network = _boston_network()
    wide = [loc(f"ST-{i:02}", 10 + i, priority=2) for i in range(12)] + [loc("ST-FAR", 900, priority=2), loc("ST-LOW", 12)]
    wide_stock = [s for i in range(12) for s in stock(f"ST-{i:02}", A=1)] + stock("ST-FAR", A=5, B=5) + stock("ST-LOW", A=5, B=5)
    return [
        plan_routing(ship(("A", 1), ("B", 1), ("C", 2)), locations, network, policy()),
        plan_routing(ship(("A", 5), ("B", 200), ("Z", 1)), locations, network, policy(max_splits=1)),
        plan_routing(pickup_at("ST-MA-BOS-01", ("A", 9)), locations + [loc("ST-X", 5)], network + stock("ST-X", A=9), policy()),
        plan_routing(ship(("A", 3), ("B", 1)), wide, wide_stock, policy(max_distance_km=500, min_priority=1, max_splits=2)),
        plan_routing(ship(("A", 14), ("B", 1), ("A", 2)), wide, wide_stock, policy((C.NEAREST, 2), (C.LOWEST_COST, 1), (C.OVERSTOCK_FIRST, 0.5))),
        plan_routing(ship(("A", 1)), wide, wide_stock, policy(explain_limit=3)),
    ]


def test_explanation_survives_a_json_round_trip() -> None:
    for plan in _plans_of_every_kind():
        stored = json.loads(json.dumps(explanation_to_dict(plan.explanation)))
        assert stored["v"] == 2
        assert explanation_from_dict(stored) == plan.explanation


def test_orders_stored_with_the_first_shape_read_the_same() -> None:
    for plan in _plans_of_every_kind():
        stored = json.loads(json.dumps(_first_shape(plan.explanation)))
        assert explanation_from_dict(stored) == plan.explanation


def test_the_stored_explanation_is_a_fraction_of_the_first_shape() -> None:
    locations = [loc(f"ST-{i:02}", 10 + i) for i in range(20)] + [loc(f"DC-{i:02}", 5 + i, ships=False) for i in range(5)]
    network = [s for i in range(20) for s in stock(f"ST-{i:02}", A=9, B=i % 2, C=1)] + [s for i in range(5) for s in stock(f"DC-{i:02}", A=1)]
    plan = plan_routing(ship(("A", 2), ("B", 1), ("C", 1)), locations, network, policy())
    compact, first = (len(bson.encode(shape(plan.explanation))) for shape in (explanation_to_dict, _first_shape))
    assert compact * 3 < first, (compact, first)


def _first_shape(e: RoutingExplanation) -> dict[str, Any]:
    """Version 1, as orders were stored before the compact shape: a dict per candidate, every note."""

    def pairs(items: tuple[tuple[str, int], ...], key: str) -> list[dict[str, Any]]:
        return [{key: k, "quantity": q} for k, q in items]

    return {
        "v": 1,
        "delivery_method": e.delivery_method.value,
        "channel_id": e.channel_id,
        "policy_source": e.policy_source,
        "criteria": [{"criterion": c.criterion.value, "weight": c.weight} for c in e.criteria],
        "split_only_when_needed": e.split_only_when_needed,
        "max_splits": e.max_splits,
        "summary": e.summary,
        "candidates": [
            {
                "location_id": c.location_id,
                "location_name": c.location_name,
                "location_kind": c.location_kind.value,
                "priority": c.priority,
                "distance_km": c.distance_km,
                "outcome": c.outcome.value,
                "exclusions": [r.value for r in c.exclusions],
                "scores": [
                    {"criterion": s.criterion.value, "weight": s.weight, "raw": s.raw, "score": s.score, "weighted": s.weighted}
                    for s in c.scores
                ],
                "total_score": c.total_score,
                "rank": c.rank,
                "fills": [
                    {"line_id": f.line_id, "sku": f.sku, "wanted": f.wanted, "available": f.available, "fillable": f.fillable}
                    for f in c.fills
                ],
                "fills_all": c.fills_all,
                "allocated": pairs(c.allocated, "line_id"),
                "note": c.note,
            }
            for c in e.candidates
        ],
        "decisions": [
            {
                "step": d.step,
                "location_id": d.location_id,
                "score": d.score,
                "allocated": pairs(d.allocated, "line_id"),
                "runner_up_id": d.runner_up_id,
                "runner_up_score": d.runner_up_score,
                "reason": d.reason,
            }
            for d in e.decisions
        ],
        "lines": [
            {
                "line_id": o.line_id,
                "sku": o.sku,
                "quantity": o.quantity,
                "allocated": pairs(o.allocated, "location_id"),
                "backordered": o.backordered,
                "split": o.split,
            }
            for o in e.lines
        ],
        "omitted_candidates": e.omitted_candidates,
        "exclusion_counts": [{"reason": r.value, "count": n} for r, n in e.exclusion_counts],
        "pickup_alternatives": list(e.pickup_alternatives),
        "destination_source": e.destination_source.value if e.destination_source else None,
    }


def test_candidate_lists_are_capped_but_counted_and_the_chosen_is_always_listed() -> None:
    locations = [loc(f"ST-{i:02}", 10 + i) for i in range(29)] + [loc("ST-29", 200)]
    locations += [loc(f"DC-{i:02}", 5 + i, ships=False) for i in range(8)]
    # Only the farthest store can fill the whole order (it ranks last); the others hold one of two SKUs.
    network = [s for i in range(29) for s in stock(f"ST-{i:02}", A=1)] + stock("ST-29", A=1, B=1)
    network += [s for i in range(8) for s in stock(f"DC-{i:02}", A=1)]
    plan = plan_routing(ship(("A", 1), ("B", 1)), locations, network, policy(explain_limit=5))
    listed = [c.location_id for c in plan.explanation.candidates]
    assert listed[:5] == ["ST-00", "ST-01", "ST-02", "ST-03", "ST-04"]
    assert listed[5] == "ST-29" and candidate(plan, "ST-29").outcome is CandidateOutcome.CHOSEN
    # (11/211 + 1)/2 = 0.526 is beaten by ST-00..ST-08, whose (11/(11+i) + 0.5)/2 is higher.
    assert candidate(plan, "ST-29").rank == 10
    assert sum(1 for c in plan.explanation.candidates if c.outcome is CandidateOutcome.EXCLUDED) == 5
    assert plan.explanation.omitted_candidates == 38 - len(listed)
    assert dict(plan.explanation.exclusion_counts) == {"DOES_NOT_SHIP": 8}


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"criteria": ()}, ("policy", "criteria")),
        ({"criteria": (CriterionWeight(C.NEAREST, -1),)}, ("policy", "criteria", "0", "weight")),
        ({"criteria": (CriterionWeight(C.NEAREST, math.nan),)}, ("policy", "criteria", "0", "weight")),
        ({"criteria": (CriterionWeight(C.NEAREST, 0), CriterionWeight(C.LOWEST_COST, 0))}, ("policy", "criteria")),
        ({"criteria": (CriterionWeight(C.NEAREST, 1), CriterionWeight(C.NEAREST, 2))}, ("policy", "criteria", "1", "criterion")),
        ({"criteria": tuple(CriterionWeight(C.NEAREST, 1) for _ in range(5000))}, ("policy", "criteria")),
        ({"excluded_location_ids": frozenset(f"L{i}" for i in range(501))}, ("policy", "excludedLocationCodes")),
        ({"max_splits": 0}, ("policy", "maxSplits")),
        ({"max_splits": 11}, ("policy", "maxSplits")),
        ({"max_distance_km": 0.0}, ("policy", "maxDistanceKm")),
        ({"cost_model": CostModel(per_km_cents=-1)}, ("policy", "costModel", "perKmCents")),
        ({"pickup_radius_km": 0.0}, ("policy", "pickupRadiusKm")),
        ({"explain_limit": 0}, ("policy", "explainLimit")),
    ],
)
def test_invalid_policies_are_refused_with_the_field_at_fault(changes: dict[str, object], field: tuple[str, ...]) -> None:
    bad = RoutingPolicy(**changes)  # type: ignore[arg-type]
    with pytest.raises(InvalidInput) as refused:
        validate_policy(bad, prefix=("policy",))
    assert field in [issue.field for issue in refused.value.issues]


def test_every_problem_is_reported_at_once_and_a_good_policy_passes() -> None:
    with pytest.raises(InvalidInput) as refused:
        validate_policy(RoutingPolicy(max_splits=0, explain_limit=0, pickup_radius_km=-1))
    assert {issue.field for issue in refused.value.issues} == {("maxSplits",), ("explainLimit",), ("pickupRadiusKm",)}
    validate_policy(RoutingPolicy())
    validate_policy(policy((C.OVERSTOCK_FIRST, 0), (C.LOWEST_COST, 100), max_distance_km=250, max_splits=10))
