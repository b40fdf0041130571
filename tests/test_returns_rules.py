"""The pure rules of returns: the state machine table, what may still be returned, return routing."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta, timezone

import pytest

from app.domain.errors import ErrorCode
from app.domain.geo import GeoPoint
from app.domain.locations import Capabilities
from app.domain.return_rules import DeliveredUnits, returnable
from app.domain.return_routing import choose_return_location
from app.domain.returns import (
    TERMINAL,
    TRANSITIONS,
    IllegalReturnTransition,
    ReturnNotAccepted,
    ReturnPolicy,
    ReturnRoutingRule,
    ReturnStatus,
    transition,
)
from tests.factories import BOSTON, CAMBRIDGE, CHICAGO, location

NOW = datetime(2026, 3, 1, 12, tzinfo=timezone.utc)


def test_the_state_machine_allows_exactly_the_documented_moves() -> None:
    allowed = {(a, b) for a, targets in TRANSITIONS.items() for b in targets}
    assert allowed == {
        (ReturnStatus.REQUESTED, ReturnStatus.AUTHORIZED), (ReturnStatus.REQUESTED, ReturnStatus.REJECTED),
        (ReturnStatus.REQUESTED, ReturnStatus.CANCELLED), (ReturnStatus.AUTHORIZED, ReturnStatus.IN_TRANSIT),
        (ReturnStatus.AUTHORIZED, ReturnStatus.RECEIVED), (ReturnStatus.AUTHORIZED, ReturnStatus.CANCELLED),
        (ReturnStatus.IN_TRANSIT, ReturnStatus.RECEIVED), (ReturnStatus.RECEIVED, ReturnStatus.INSPECTED),
        (ReturnStatus.INSPECTED, ReturnStatus.REFUNDED), (ReturnStatus.INSPECTED, ReturnStatus.CLOSED),
    }
    assert all(not TRANSITIONS[s] for s in TERMINAL)
    for current in ReturnStatus:
        for target in ReturnStatus:
            if (current, target) in allowed:
                assert transition(current, target) is target
            else:
                with pytest.raises(IllegalReturnTransition) as refused:
                    transition(current, target)
                assert refused.value.code is ErrorCode.ILLEGAL_TRANSITION


def test_what_may_be_returned_counts_the_window_and_earlier_returns_oldest_delivery_first() -> None:
    delivered = [
        DeliveredUnits("1", 2, NOW - timedelta(days=40)),  # outside a 30-day window
        DeliveredUnits("1", 3, NOW - timedelta(days=5)),
        DeliveredUnits("2", 1, NOW - timedelta(days=1)),
    ]
    fresh = returnable("1", delivered, 0, window_days=30, now=NOW)
    assert (fresh.delivered, fresh.delivered_in_window, fresh.remaining) == (5, 3, 3)
    # Two units returned back then came out of the old delivery: the recent three are all still returnable.
    assert returnable("1", delivered, 2, window_days=30, now=NOW).remaining == 3
    assert returnable("1", delivered, 4, window_days=30, now=NOW).remaining == 1
    assert returnable("1", delivered, 9, window_days=30, now=NOW).remaining == 0
    assert returnable("3", delivered, 0, window_days=30, now=NOW).delivered == 0


def test_return_routing_prefers_the_policy_centre_and_explains_passing_it_over() -> None:
    near, far = location("ST-NEAR", BOSTON), location("DC-FAR", CHICAGO)
    closed = replace(location("ST-CLOSED", CAMBRIDGE), active=False)
    shopper = GeoPoint(42.37, -71.1)

    nearest = choose_return_location(shopper, [near, far], ReturnPolicy(), channel_id="web")
    centre = choose_return_location(shopper, [near, far], ReturnPolicy(returns_centre_location_id="DC-FAR"), channel_id="web")
    fallback = choose_return_location(shopper, [near, far, closed], ReturnPolicy(returns_centre_location_id="ST-CLOSED"), channel_id="web")

    assert (nearest.rule, nearest.location_id) == (ReturnRoutingRule.NEAREST_RETURN_LOCATION, "ST-NEAR")
    assert [(c.location_id, c.outcome) for c in nearest.candidates] == [("ST-NEAR", "CHOSEN"), ("DC-FAR", "FARTHER")]
    assert (centre.rule, centre.location_id) == (ReturnRoutingRule.RETURNS_CENTRE, "DC-FAR")
    assert fallback.location_id == "ST-NEAR" and fallback.summary.startswith("The returns centre ST-CLOSED is inactive")
    assert ("ST-CLOSED", "INACTIVE") in [(c.location_id, c.outcome) for c in fallback.candidates]
    no_returns = replace(near, capabilities=Capabilities(accepts_returns=False))
    with pytest.raises(ReturnNotAccepted):
        choose_return_location(shopper, [no_returns], ReturnPolicy(), channel_id="web")
