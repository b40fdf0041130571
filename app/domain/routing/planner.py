"""The planner: a pure function from (request, locations, stock, policy) to an explained plan."""

from __future__ import annotations

from collections.abc import Sequence

from app.domain.locations import Location
from app.domain.routing.plan import RoutingPlan, RoutingRequest, StockAtLocation
from app.domain.routing.policy import RoutingPolicy


def plan_routing(
    request: RoutingRequest,
    locations: Sequence[Location],
    stock: Sequence[StockAtLocation],
    policy: RoutingPolicy,
    *,
    policy_source: str = "global",
) -> RoutingPlan:
    """Decide which locations fill which lines, and explain why.

    - SHIP: candidates are active locations that ship (stores only if `ship_from_store`), within
      `max_distance_km` of the destination, not excluded, at or above `min_priority`, with stock.
      If `split_only_when_needed` and one candidate fills every line, the best-scoring such
      candidate gets the whole order. Otherwise candidates are taken greedily by score (scores
      recomputed against what is still unfilled) until everything is placed or `max_splits`
      locations are used; the rest is backordered.
    - PICKUP_IN_STORE: only the chosen store; what it cannot fill is backordered and
      `plan.pickup` says so, listing pick-up stores nearby that could fill every line.

    Deterministic: ties are broken by priority (desc), distance (asc), location id (asc).
    Does not validate the request (the caller does); lines with quantity ≤ 0 are ignored.
    """
    raise NotImplementedError
