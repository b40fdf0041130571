"""Routing constraints, splits, backorders and pick-up in store (pure domain, no database)."""

from __future__ import annotations

from app.domain.locations import LocationKind
from app.domain.routing.explanation import CandidateOutcome, ExclusionReason as R
from app.domain.routing.planner import plan_routing
from app.domain.routing.policy import RoutingCriterion as C
from tests.routing_network import candidate, loc, pickup_at, placed, policy, ship, stock


def test_every_constraint_excludes_with_its_reason_and_the_remaining_location_wins() -> None:
    locations = [
        loc("ST-INACTIVE", 1, active=False),
        loc("DC-NOSHIP", 2, ships=False),
        loc("ST-STORE", 3),
        loc("DC-FAR", 600),
        loc("DC-POLICY", 4),
        loc("DC-REQUEST", 5),
        loc("DC-LOWPRI", 6, priority=-1),
        loc("DC-EMPTY", 7),
        loc("DC-OK", 300),
    ]
    network = [s for x in locations if x.id != "DC-EMPTY" for s in stock(x.id, A=9)] + stock("DC-EMPTY", B=9)
    rules = policy(
        (C.NEAREST, 1),
        ship_from_store=False,
        max_distance_km=500,
        excluded_location_ids=frozenset({"DC-POLICY"}),
        min_priority=0,
    )
    plan = plan_routing(ship(("A", 2), exclude=frozenset({"DC-REQUEST"})), locations, network, rules)
    assert placed(plan) == {("1", "DC-OK"): 2}
    expected = {
        "ST-INACTIVE": (R.INACTIVE, R.SHIP_FROM_STORE_DISABLED),
        "DC-NOSHIP": (R.DOES_NOT_SHIP,),
        "ST-STORE": (R.SHIP_FROM_STORE_DISABLED,),
        "DC-FAR": (R.TOO_FAR,),
        "DC-POLICY": (R.EXCLUDED_BY_POLICY,),
        "DC-REQUEST": (R.EXCLUDED_BY_REQUEST,),
        "DC-LOWPRI": (R.BELOW_MIN_PRIORITY,),
        "DC-EMPTY": (R.NO_STOCK,),
    }
    for location_id, reasons in expected.items():
        found = candidate(plan, location_id)
        assert (found.outcome, found.exclusions) == (CandidateOutcome.EXCLUDED, reasons), location_id
        assert found.scores == () and found.rank is None
    assert "600.0 km away, beyond the 500 km limit" in candidate(plan, "DC-FAR").note
    assert "priority -1 is below the minimum 0" in candidate(plan, "DC-LOWPRI").note
    counts = dict(plan.explanation.exclusion_counts)
    assert counts[R.SHIP_FROM_STORE_DISABLED] == 2 and counts[R.INACTIVE] == 1 and counts[R.NO_STOCK] == 1
    assert candidate(plan, "DC-OK").outcome is CandidateOutcome.CHOSEN
    assert plan.explanation.decisions[0].reason.endswith("the only eligible location with stock left")


def test_ship_from_store_allowed_by_default_and_distance_limit_inclusive() -> None:
    locations = [loc("ST-1", 10), loc("DC", 500)]
    network = stock("ST-1", A=1) + stock("DC", A=1)
    assert plan_routing(ship(("A", 1)), locations, network, policy((C.NEAREST, 1))).location_ids == ("ST-1",)
    only_dc = plan_routing(ship(("A", 1)), [loc("DC", 500)], stock("DC", A=1), policy(max_distance_km=500.001))
    assert only_dc.location_ids == ("DC",)


def test_no_single_location_fills_so_the_order_splits_and_a_line_can_split() -> None:
    # 10 units of A: ST-A has 6 (nearest, biggest), then ST-C (4) fills everything left and is
    # preferred over the nearer ST-B (3) that would need a third location.
    locations = [loc("ST-A", 10), loc("ST-B", 20), loc("ST-C", 30)]
    network = stock("ST-A", A=6) + stock("ST-B", A=3) + stock("ST-C", A=4)
    plan = plan_routing(ship(("A", 10)), locations, network, policy())
    assert placed(plan) == {("1", "ST-A"): 6, ("1", "ST-C"): 4}
    assert plan.fully_allocated and not plan.backorders
    line = plan.explanation.lines[0]
    assert line.split and line.allocated == (("ST-A", 6), ("ST-C", 4)) and line.backordered == 0
    assert [d.location_id for d in plan.explanation.decisions] == ["ST-A", "ST-C"]
    assert "fills everything left" in plan.explanation.decisions[1].reason
    assert candidate(plan, "ST-B").outcome is CandidateOutcome.NOT_NEEDED
    assert "Line 1 split across locations" in plan.explanation.summary


def test_what_the_network_cannot_fill_is_backordered_per_line() -> None:
    locations = [loc("ST-A", 10), loc("DC", 300)]
    network = stock("ST-A", A=2, B=1) + stock("DC", A=1)
    plan = plan_routing(ship(("A", 5), ("B", 1), ("C", 2)), locations, network, policy())
    assert placed(plan) == {("1", "ST-A"): 2, ("2", "ST-A"): 1, ("1", "DC"): 1}
    assert {(b.line_id, b.sku, b.quantity) for b in plan.backorders} == {("1", "A", 2), ("3", "C", 2)}
    assert (plan.backordered_quantity("1"), plan.allocated_quantity("1")) == (2, 3)
    assert not plan.fully_allocated
    assert [o.backordered for o in plan.explanation.lines] == [2, 0, 2]
    assert "Backordered: 2 of line 1 (A), 2 of line 3 (C)." in plan.explanation.summary


def test_nothing_in_stock_backorders_everything() -> None:
    plan = plan_routing(ship(("A", 1), ("B", 2)), [loc("DC", 10)], stock("DC", C=5), policy())
    assert plan.allocations == () and plan.shipments == ()
    assert [(b.line_id, b.quantity) for b in plan.backorders] == [("1", 1), ("2", 2)]
    assert candidate(plan, "DC").exclusions == (R.NO_STOCK,)
    assert plan.explanation.summary.startswith("Nothing can be allocated now.")


def test_lines_of_the_same_sku_share_one_locations_stock() -> None:
    locations = [loc("ST-A", 10), loc("ST-B", 20)]
    network = stock("ST-A", A=4) + stock("ST-B", A=2)
    plan = plan_routing(ship(("A", 3), ("A", 3)), locations, network, policy())
    assert placed(plan) == {("1", "ST-A"): 3, ("2", "ST-A"): 1, ("2", "ST-B"): 2}
    per_location: dict[str, int] = {}
    for a in plan.allocations:
        per_location[a.location_id] = per_location.get(a.location_id, 0) + a.quantity
    assert per_location == {"ST-A": 4, "ST-B": 2}


def test_max_splits_caps_the_locations_and_backorders_the_rest() -> None:
    locations = [loc("ST-X", 10), loc("ST-Y", 20), loc("ST-Z", 30)]
    network = stock("ST-X", X=1) + stock("ST-Y", Y=1) + stock("ST-Z", Z=1)
    order = ship(("X", 1), ("Y", 1), ("Z", 1))
    plan = plan_routing(order, locations, network, policy(max_splits=2))
    assert plan.location_ids == ("ST-X", "ST-Y")
    assert [(b.line_id, b.quantity) for b in plan.backorders] == [("3", 1)]
    blocked = candidate(plan, "ST-Z")
    assert blocked.outcome is CandidateOutcome.MAX_SPLITS_REACHED
    assert "maxSplits 2" in blocked.note
    assert plan_routing(order, locations, network, policy(max_splits=3)).fully_allocated


def test_pickup_allocates_only_at_the_chosen_store() -> None:
    locations = [loc("ST-PICK", 0, handling=150), loc("DC", 1)]
    network = stock("ST-PICK", A=2) + stock("DC", A=100)
    plan = plan_routing(pickup_at("ST-PICK", ("A", 2)), locations, network, policy((C.OVERSTOCK_FIRST, 1)))
    assert placed(plan) == {("1", "ST-PICK"): 2}
    assert plan.pickup is not None and plan.pickup.can_fill and plan.pickup.alternatives == ()
    assert plan.shipments[0].estimated_cost_cents == 150  # handed over: handling only
    assert [c.location_id for c in plan.explanation.candidates] == ["ST-PICK"]
    assert plan.explanation.decisions[0].reason.startswith("ST-PICK, the chosen pick-up store, fills all 1 line(s)")


def test_pickup_short_names_nearby_stores_that_can_fill_everything_nearest_first() -> None:
    origin = 100.0
    locations = [
        loc("ST-PICK", origin),
        loc("ST-ALT-5", origin + 5),
        loc("ST-ALT-2", origin - 2),
        loc("ST-PARTIAL", origin + 1),  # has A but not B
        loc("ST-NOPICK", origin + 1, pickup=False),
        loc("ST-CLOSED", origin + 1, active=False),
        loc("ST-FAR", origin + 80),  # beyond the 50 km pick-up radius
        loc("DC", origin + 1, LocationKind.DISTRIBUTION_CENTER),
    ]
    full = {"A": 5, "B": 5}
    network = (
        stock("ST-PICK", A=1, B=3)
        + [s for x in ("ST-ALT-5", "ST-ALT-2", "ST-NOPICK", "ST-CLOSED", "ST-FAR", "DC") for s in stock(x, **full)]
        + stock("ST-PARTIAL", A=5)
    )
    plan = plan_routing(pickup_at("ST-PICK", ("A", 2), ("B", 1)), locations, network, policy())
    assert plan.pickup is not None
    assert (plan.pickup.can_fill, plan.pickup.reason) == (False, R.NO_STOCK)
    assert [(a.location_id, round(a.distance_km, 1)) for a in plan.pickup.alternatives] == [("ST-ALT-2", 2.0), ("ST-ALT-5", 5.0)]
    # What the store has is still planned there; the orders service decides to refuse or backorder.
    assert placed(plan) == {("1", "ST-PICK"): 1, ("2", "ST-PICK"): 1}
    assert [(b.line_id, b.quantity) for b in plan.backorders] == [("1", 1)]
    assert plan.explanation.pickup_alternatives == ("ST-ALT-2", "ST-ALT-5")
    assert "Nearby pick-up stores that can: ST-ALT-2 (2.0 km), ST-ALT-5 (5.0 km)." in plan.explanation.summary


def test_pickup_at_a_store_without_pickup_or_unknown() -> None:
    locations = [loc("ST-NOPICK", 0, pickup=False), loc("ST-OK", 3)]
    network = stock("ST-NOPICK", A=5) + stock("ST-OK", A=5)
    plan = plan_routing(pickup_at("ST-NOPICK", ("A", 1)), locations, network, policy())
    assert plan.allocations == ()
    assert plan.pickup is not None and (plan.pickup.can_fill, plan.pickup.reason) == (False, R.NO_PICKUP)
    assert [a.location_id for a in plan.pickup.alternatives] == ["ST-OK"]
    assert candidate(plan, "ST-NOPICK").exclusions == (R.NO_PICKUP,)

    unknown = plan_routing(pickup_at("ST-GONE", ("A", 1)), locations, network, policy())
    assert unknown.pickup is not None and (unknown.pickup.can_fill, unknown.pickup.reason) == (False, None)
    assert unknown.allocations == () and unknown.backorders[0].quantity == 1
    assert "unknown" in unknown.explanation.summary
