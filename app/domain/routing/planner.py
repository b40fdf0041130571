"""The planner: a pure function from (request, locations, stock, policy) to an explained plan."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from app.domain.geo import GeoPoint, distance_km
from app.domain.locations import Location, LocationKind
from app.domain.orders import DeliveryMethod
from app.domain.routing.explanation import ExclusionReason
from app.domain.routing.narrative import explain
from app.domain.routing.plan import (
    BackorderedLine,
    PickupAlternative,
    PickupCheck,
    PlannedAllocation,
    PlannedShipment,
    RoutingLine,
    RoutingPlan,
    RoutingRequest,
    StockAtLocation,
)
from app.domain.routing.policy import RoutingPolicy
from app.domain.routing.scoring import Round, score_round

MAX_PICKUP_ALTERNATIVES = 10


@dataclass
class _Working:
    """Mutable state of one planning run; never escapes `plan_routing`."""

    request: RoutingRequest
    policy: RoutingPolicy
    lines: tuple[RoutingLine, ...]
    stock: dict[tuple[str, str], StockAtLocation]
    available: dict[tuple[str, str], int]
    remaining: dict[str, int]
    origin: GeoPoint | None
    exclusions: dict[str, tuple[ExclusionReason, ...]] = field(default_factory=dict)
    distances: dict[str, float | None] = field(default_factory=dict)
    rounds: list[Round] = field(default_factory=list)


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
      recomputed against what is still unfilled; with `split_only_when_needed`, a candidate that
      fills everything left beats a higher-scoring partial one) until everything is placed or
      `max_splits` locations are used; the rest is backordered.
    - PICKUP_IN_STORE: only the chosen store; what it cannot fill is backordered and
      `plan.pickup` says so, listing pick-up stores nearby that could fill every line.

    Deterministic: ties are broken by priority (desc), distance (asc), location id (asc).
    Does not validate the request (the caller does); lines with quantity ≤ 0 are ignored.
    """
    lines = tuple(line for line in request.lines if line.quantity > 0)
    by_key = {(s.location_id, s.sku): s for s in stock}
    pickup_store = _pickup_store(request, locations)
    origin = request.destination
    if request.delivery_method is DeliveryMethod.PICKUP_IN_STORE:
        origin = pickup_store.point if pickup_store else None
    work = _Working(
        request=request,
        policy=policy,
        lines=lines,
        stock=by_key,
        available={key: max(0, s.available) for key, s in by_key.items()},
        remaining={line.line_id: line.quantity for line in lines},
        origin=origin,
    )
    skus = {line.sku for line in lines}
    for location in locations:
        distance = distance_km(origin, location.point) if origin else None
        work.distances[location.id] = distance
        if request.delivery_method is DeliveryMethod.PICKUP_IN_STORE and location.id != request.pickup_location_id:
            continue  # not a candidate at all: pick-up is filled at the chosen store only
        reasons = _exclusions(location, distance, request, policy)
        if not any(work.available.get((location.id, sku), 0) > 0 for sku in skus):
            reasons.append(ExclusionReason.NO_STOCK)
        work.exclusions[location.id] = tuple(reasons)

    candidates = [
        (location, work.distances[location.id])
        for location in locations
        if location.id in work.exclusions and not work.exclusions[location.id]
    ]
    _allocate(work, candidates)

    allocations = _allocations(work)
    backorders = tuple(
        BackorderedLine(line.line_id, line.sku, work.remaining[line.line_id]) for line in lines if work.remaining[line.line_id] > 0
    )
    shipments = tuple(_shipment(work, r) for r in work.rounds)
    pickup = None
    if request.delivery_method is DeliveryMethod.PICKUP_IN_STORE:
        pickup = _pickup_check(work, pickup_store, locations, backorders)
    explanation = explain(
        request=request,
        policy=policy,
        policy_source=policy_source,
        lines=lines,
        locations=[loc for loc in locations if loc.id in work.exclusions],
        distances=work.distances,
        exclusions=work.exclusions,
        rounds=work.rounds,
        remaining=work.remaining,
        available=work.available,
        pickup=pickup,
    )
    return RoutingPlan(allocations=allocations, backorders=backorders, shipments=shipments, explanation=explanation, pickup=pickup)


def find_pickup_alternatives(
    request: RoutingRequest,
    locations: Sequence[Location],
    stock: Sequence[StockAtLocation],
    policy: RoutingPolicy,
    *,
    origin: Location,
    limit: int = MAX_PICKUP_ALTERNATIVES,
) -> tuple[PickupAlternative, ...]:
    """Active pick-up stores other than `origin`, within `pickup_radius_km` of it, not excluded, that
    can fill every line of the request now; nearest first, then by id."""
    needed: dict[str, int] = {}
    for line in request.lines:
        if line.quantity > 0:
            needed[line.sku] = needed.get(line.sku, 0) + line.quantity
    have = {(s.location_id, s.sku): s.available for s in stock}
    excluded = policy.excluded_location_ids | request.excluded_location_ids
    found: list[PickupAlternative] = []
    for location in locations:
        if location.id == origin.id or location.id in excluded:
            continue
        if not (location.active and location.capabilities.offers_pickup):
            continue
        distance = distance_km(origin.point, location.point)
        if distance > policy.pickup_radius_km:
            continue
        if needed and all(have.get((location.id, sku), 0) >= q for sku, q in needed.items()):
            found.append(PickupAlternative(location_id=location.id, name=location.name, distance_km=round(distance, 3)))
    found.sort(key=lambda a: (a.distance_km, a.location_id))
    return tuple(found[:limit])


def _pickup_store(request: RoutingRequest, locations: Sequence[Location]) -> Location | None:
    if request.delivery_method is not DeliveryMethod.PICKUP_IN_STORE:
        return None
    return next((loc for loc in locations if loc.id == request.pickup_location_id), None)


def _exclusions(
    location: Location, distance: float | None, request: RoutingRequest, policy: RoutingPolicy
) -> list[ExclusionReason]:
    reasons: list[ExclusionReason] = []
    if not location.active:
        reasons.append(ExclusionReason.INACTIVE)
    if request.delivery_method is DeliveryMethod.PICKUP_IN_STORE:
        if not location.capabilities.offers_pickup:
            reasons.append(ExclusionReason.NO_PICKUP)
    else:
        if not location.capabilities.ships:
            reasons.append(ExclusionReason.DOES_NOT_SHIP)
        if location.kind is LocationKind.STORE and not policy.ship_from_store:
            reasons.append(ExclusionReason.SHIP_FROM_STORE_DISABLED)
        if policy.max_distance_km is not None and distance is not None and distance > policy.max_distance_km:
            reasons.append(ExclusionReason.TOO_FAR)
        # The shopper chose the pick-up store; a priority floor is about which DCs/stores ship.
        if policy.min_priority is not None and location.priority < policy.min_priority:
            reasons.append(ExclusionReason.BELOW_MIN_PRIORITY)
    if location.id in policy.excluded_location_ids:
        reasons.append(ExclusionReason.EXCLUDED_BY_POLICY)
    if location.id in request.excluded_location_ids:
        reasons.append(ExclusionReason.EXCLUDED_BY_REQUEST)
    return reasons


def _allocate(work: _Working, candidates: list[tuple[Location, float | None]]) -> None:
    """Greedy rounds; each takes one location and everything it can supply of what is left."""
    max_locations = 1 if work.request.delivery_method is DeliveryMethod.PICKUP_IN_STORE else work.policy.max_splits
    pool = list(candidates)
    while pool and len(work.rounds) < max_locations and any(q > 0 for q in work.remaining.values()):
        field_ = score_round(pool, work.lines, work.remaining, work.available, work.stock, work.policy)
        if not field_:
            return
        winner = field_[0]
        preferred_single = False
        if work.policy.split_only_when_needed and not winner.fills_all:
            complete = next((c for c in field_ if c.fills_all), None)
            if complete is not None:
                winner, preferred_single = complete, True
        allocated = tuple((f.line_id, f.fillable) for f in winner.fills if f.fillable > 0)
        for fill in winner.fills:
            if fill.fillable > 0:
                work.remaining[fill.line_id] -= fill.fillable
                key = (winner.location.id, fill.sku)
                work.available[key] = work.available.get(key, 0) - fill.fillable
        work.rounds.append(Round(winner=winner, field=tuple(field_), allocated=allocated, preferred_single=preferred_single))
        pool = [(loc, d) for loc, d in pool if loc.id != winner.location.id]


def _allocations(work: _Working) -> tuple[PlannedAllocation, ...]:
    sku_of = {line.line_id: line.sku for line in work.lines}
    return tuple(
        PlannedAllocation(line_id=line_id, sku=sku_of[line_id], location_id=r.winner.location.id, quantity=quantity)
        for r in work.rounds
        for line_id, quantity in r.allocated
    )


def _shipment(work: _Working, r: Round) -> PlannedShipment:
    grams = {line.line_id: line.weight_grams for line in work.lines}
    units = sum(q for _, q in r.allocated)
    weight = sum(grams[line_id] * q for line_id, q in r.allocated)
    location = r.winner.location
    if work.request.delivery_method is DeliveryMethod.PICKUP_IN_STORE:
        cost = location.handling_cost_cents  # handed over at the counter: no carrier
    else:
        cost = work.policy.cost_model.shipment_cents(
            distance_km=r.winner.distance_km or 0.0, weight_grams=weight, handling_cost_cents=location.handling_cost_cents
        )
    return PlannedShipment(
        location_id=location.id,
        line_ids=tuple(line_id for line_id, _ in r.allocated),
        units=units,
        weight_grams=weight,
        distance_km=None if r.winner.distance_km is None else round(r.winner.distance_km, 3),
        estimated_cost_cents=cost,
    )


def _pickup_check(
    work: _Working, store: Location | None, locations: Sequence[Location], backorders: tuple[BackorderedLine, ...]
) -> PickupCheck:
    store_id = work.request.pickup_location_id or ""
    if store is None:
        return PickupCheck(location_id=store_id, can_fill=False)
    if not backorders:
        return PickupCheck(location_id=store_id, can_fill=True)
    reasons = [r for r in work.exclusions.get(store_id, ()) if r is not ExclusionReason.NO_STOCK]
    reason = reasons[0] if reasons else ExclusionReason.NO_STOCK
    stock = list(work.stock.values())
    alternatives = find_pickup_alternatives(work.request, locations, stock, work.policy, origin=store)
    return PickupCheck(location_id=store_id, can_fill=False, reason=reason, alternatives=alternatives)
