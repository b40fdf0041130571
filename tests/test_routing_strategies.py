"""Routing strategies on hand-made networks with known right answers (pure domain, no database)."""

from __future__ import annotations

import pytest

from app.domain.routing.plan import StockAtLocation
from app.domain.routing.planner import plan_routing
from app.domain.routing.policy import CostModel, RoutingCriterion as C
from tests.routing_network import candidate, loc, placed, policy, ship, stock

NEAREST = (C.NEAREST, 1.0)


def test_cost_model_matches_its_documented_formula() -> None:
    model = CostModel()  # 500 base, 0.5/km, 80/kg, 0.05/kg/km
    # 2 kg over 100 km from a location with 200 handling: 200 + 500 + 0.5×100 + 2×(80 + 0.05×100)
    assert model.shipment_cents(distance_km=100, weight_grams=1500, handling_cost_cents=200) == 920
    # weight rounds up to whole kg, at least 1
    assert model.shipment_cents(distance_km=0, weight_grams=0, handling_cost_cents=0) == 580
    assert model.shipment_cents(distance_km=0, weight_grams=1001, handling_cost_cents=0) == 660
    custom = CostModel(base_cents=0, per_km_cents=1, per_kg_cents=0, per_kg_km_cents=0)
    assert custom.shipment_cents(distance_km=250, weight_grams=5000, handling_cost_cents=10) == 260


def test_nearest_picks_the_closest_location_that_fills_the_order() -> None:
    locations = [loc("DC-FAR", 800), loc("ST-MID", 40), loc("ST-NEAR", 12)]
    network = stock("DC-FAR", A=50) + stock("ST-MID", A=5) + stock("ST-NEAR", A=5)
    plan = plan_routing(ship(("A", 2)), locations, network, policy(NEAREST))
    assert placed(plan) == {("1", "ST-NEAR"): 2}
    near, mid, far = (candidate(plan, x) for x in ("ST-NEAR", "ST-MID", "DC-FAR"))
    assert (near.rank, mid.rank, far.rank) == (1, 2, 3)
    assert near.distance_km == pytest.approx(12, abs=1e-3)
    # (best + 1 km) / (raw + 1 km): 13/41 and 13/801
    assert mid.scores[0].raw == pytest.approx(40, abs=1e-3)
    assert mid.total_score == pytest.approx(13 / 41, abs=1e-4)
    assert far.total_score == pytest.approx(13 / 801, abs=1e-4)


def test_lowest_cost_prefers_the_cheaper_far_location_over_an_expensive_near_one() -> None:
    # 1 unit of 1 kg. Near: 3000 handling + 500 + round(0.5×10 + 80 + 0.05×10) = 3586.
    # Far: 0 + 500 + round(0.5×300 + 80 + 0.05×300) = 745.
    locations = [loc("ST-NEAR", 10, handling=3000), loc("DC-FAR", 300)]
    network = stock("ST-NEAR", A=5) + stock("DC-FAR", A=5)
    plan = plan_routing(ship(("A", 1, 1000)), locations, network, policy((C.LOWEST_COST, 1)))
    assert placed(plan) == {("1", "DC-FAR"): 1}
    assert candidate(plan, "ST-NEAR").scores[0].raw == 3586
    assert candidate(plan, "DC-FAR").scores[0].raw == 745
    assert candidate(plan, "ST-NEAR").total_score == pytest.approx(745 / 3586, abs=1e-4)
    assert plan.shipments[0].estimated_cost_cents == 745
    assert plan.estimated_cost_cents == 745


def test_lowest_cost_is_per_unit_so_a_small_partial_shipment_does_not_look_cheap() -> None:
    # ST-1 could send 1 of 4 units for 580 (580/unit); DC sends all 4 kg for 500+4×80 = 820 (205/unit).
    locations = [loc("ST-1", 0), loc("DC", 0)]
    network = stock("ST-1", A=1) + stock("DC", A=4)
    plan = plan_routing(ship(("A", 4, 1000)), locations, network, policy((C.LOWEST_COST, 1), split_only_when_needed=False))
    assert placed(plan) == {("1", "DC"): 4}
    assert candidate(plan, "ST-1").scores[0].raw == 580
    assert candidate(plan, "DC").scores[0].raw == 205


def test_overstock_first_drains_the_location_most_above_its_reorder_point() -> None:
    locations = [loc("ST-A", 5), loc("ST-B", 50), loc("DC-C", 500)]
    network = [
        StockAtLocation("A", "ST-A", available=20, on_hand=20, reorder_point=15),  # 5 above
        StockAtLocation("A", "ST-B", available=12, on_hand=12, reorder_point=2),  # 10 above
        StockAtLocation("A", "DC-C", available=30, on_hand=30, reorder_point=5),  # 25 above
    ]
    plan = plan_routing(ship(("A", 2)), locations, network, policy((C.OVERSTOCK_FIRST, 1)))
    assert placed(plan) == {("1", "DC-C"): 2}
    assert [candidate(plan, x).scores[0].raw for x in ("ST-A", "ST-B", "DC-C")] == [5, 10, 25]
    assert [candidate(plan, x).scores[0].score for x in ("ST-A", "ST-B", "DC-C")] == [0.2, 0.4, 1.0]


def test_fewest_shipments_sends_everything_from_one_location_when_one_can() -> None:
    # Two near stores together hold the order; only the far DC holds all of it.
    locations = [loc("ST-1", 5), loc("ST-2", 6), loc("DC", 900)]
    network = stock("ST-1", X=1, Y=1) + stock("ST-2", Z=1) + stock("DC", X=1, Y=1, Z=1)
    order = ship(("X", 1), ("Y", 1), ("Z", 1))
    by_count = plan_routing(order, locations, network, policy((C.FEWEST_SHIPMENTS, 1), split_only_when_needed=False))
    assert placed(by_count) == {("1", "DC"): 1, ("2", "DC"): 1, ("3", "DC"): 1}
    assert candidate(by_count, "DC").scores[0].raw == 1.0
    assert candidate(by_count, "ST-1").scores[0].raw == pytest.approx(2 / 3, abs=1e-4)
    # Pure NEAREST, allowed to split: the two near stores.
    by_distance = plan_routing(order, locations, network, policy(NEAREST, split_only_when_needed=False))
    assert placed(by_distance) == {("1", "ST-1"): 1, ("2", "ST-1"): 1, ("3", "ST-2"): 1}
    assert by_distance.location_ids == ("ST-1", "ST-2")


def test_fewest_shipments_splits_only_when_needed_taking_the_biggest_filler_first() -> None:
    locations = [loc("ST-X", 1), loc("ST-XY", 50), loc("ST-Z", 60)]
    network = stock("ST-X", X=1) + stock("ST-XY", X=1, Y=1) + stock("ST-Z", Z=1)
    plan = plan_routing(ship(("X", 1), ("Y", 1), ("Z", 1)), locations, network, policy((C.FEWEST_SHIPMENTS, 1)))
    assert plan.location_ids == ("ST-XY", "ST-Z")
    assert plan.fully_allocated
    assert candidate(plan, "ST-X").outcome == "NOT_NEEDED"


def test_split_only_when_needed_lets_a_single_full_filler_beat_higher_scoring_partial_ones() -> None:
    locations = [loc("ST-1", 5), loc("ST-2", 6), loc("DC", 900)]
    network = stock("ST-1", X=1, Y=1) + stock("ST-2", Z=1) + stock("DC", X=1, Y=1, Z=1)
    plan = plan_routing(ship(("X", 1), ("Y", 1), ("Z", 1)), locations, network, policy(NEAREST))
    assert plan.location_ids == ("DC",)
    decision = plan.explanation.decisions[0]
    assert "preferred over higher-scoring ST-1" in decision.reason
    assert "because it alone fills everything left" in decision.reason
    assert "cannot fill the whole order alone" in candidate(plan, "ST-1").note


@pytest.mark.parametrize(
    ("nearest", "cost", "winner"),
    [(1, 0, "ST-NEAR"), (0, 1, "DC-FAR"), (1, 1, "ST-NEAR"), (1, 3, "DC-FAR"), (3, 1, "ST-NEAR")],
)
def test_weights_trade_distance_against_cost(nearest: float, cost: float, winner: str) -> None:
    # NEAREST: near 1, far 11/301. LOWEST_COST: far 1, near 745/3586.
    #  1:1 → near (1 + .2078)/2 = .604 vs far (.0365 + 1)/2 = .518;  1:3 → near .406 vs far .759.
    locations = [loc("ST-NEAR", 10, handling=3000), loc("DC-FAR", 300)]
    network = stock("ST-NEAR", A=5) + stock("DC-FAR", A=5)
    weights = [(c, w) for c, w in ((C.NEAREST, nearest), (C.LOWEST_COST, cost)) if w]
    plan = plan_routing(ship(("A", 1, 1000)), locations, network, policy(*weights))
    assert plan.location_ids == (winner,)
    near_cost, far_near = 745 / 3586, 11 / 301
    expected_near = (nearest * 1 + cost * near_cost) / (nearest + cost)
    expected_far = (nearest * far_near + cost * 1) / (nearest + cost)
    assert candidate(plan, "ST-NEAR").total_score == pytest.approx(expected_near, abs=1e-4)
    assert candidate(plan, "DC-FAR").total_score == pytest.approx(expected_far, abs=1e-4)
    for scored in candidate(plan, "ST-NEAR").scores:
        assert scored.weighted == pytest.approx(scored.weight * scored.score, abs=1e-4)


def test_a_zero_weight_criterion_is_reported_but_does_not_rank() -> None:
    locations = [loc("ST-NEAR", 10, handling=3000), loc("DC-FAR", 300)]
    network = stock("ST-NEAR", A=5) + stock("DC-FAR", A=5)
    plan = plan_routing(ship(("A", 1, 1000)), locations, network, policy((C.NEAREST, 0), (C.LOWEST_COST, 1)))
    assert plan.location_ids == ("DC-FAR",)
    assert [s.criterion for s in candidate(plan, "ST-NEAR").scores] == [C.NEAREST, C.LOWEST_COST]
    assert candidate(plan, "ST-NEAR").scores[0].weighted == 0


def test_ties_go_to_higher_priority_then_shorter_distance_then_location_id() -> None:
    overstock = policy((C.OVERSTOCK_FIRST, 1))  # every candidate below holds the same 10 units
    by_priority = plan_routing(
        ship(("A", 1)), [loc("DC-LOW", 10, priority=0), loc("DC-HIGH", 100, priority=5)],
        stock("DC-LOW", A=10) + stock("DC-HIGH", A=10), overstock,
    )
    assert by_priority.location_ids == ("DC-HIGH",)
    assert "tie broken by priority 5 vs 0" in by_priority.explanation.decisions[0].reason

    by_distance = plan_routing(
        ship(("A", 1)), [loc("DC-B", 20), loc("DC-A", 30)], stock("DC-B", A=10) + stock("DC-A", A=10), overstock
    )
    assert by_distance.location_ids == ("DC-B",)
    assert "tie broken by distance" in by_distance.explanation.decisions[0].reason

    by_id = plan_routing(
        ship(("A", 1)), [loc("DC-B", 20), loc("DC-A", 20)], stock("DC-B", A=10) + stock("DC-A", A=10), overstock
    )
    assert by_id.location_ids == ("DC-A",)
    assert "tie broken by location id" in by_id.explanation.decisions[0].reason


def test_plans_do_not_depend_on_input_order() -> None:
    locations = [loc(f"ST-{i:02}", 10 + (i % 7), handling=i * 10) for i in range(20)]
    network = [s for i in range(20) for s in stock(f"ST-{i:02}", A=i % 3, B=(i + 1) % 4)]
    order = ship(("A", 3), ("B", 4))
    weights = policy((C.NEAREST, 2), (C.LOWEST_COST, 1), (C.FEWEST_SHIPMENTS, 1))
    forward = plan_routing(order, locations, network, weights)
    backward = plan_routing(order, list(reversed(locations)), list(reversed(network)), weights)
    assert forward == backward
