"""Turns a planning run into a RoutingExplanation: candidates with scores and fates, decisions with
reasons, per-line outcomes, and a summary a person can read."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence

from app.domain.geocoding import PointSource
from app.domain.locations import Location
from app.domain.orders import DeliveryMethod
from app.domain.routing.explanation import (
    CandidateOutcome,
    ExclusionReason,
    ExplainedCandidate,
    LineOutcome,
    RoutingDecision,
    RoutingExplanation,
)
from app.domain.routing.plan import PickupCheck, RoutingLine, RoutingRequest
from app.domain.routing.policy import RoutingPolicy
from app.domain.routing.scoring import Round, ScoredCandidate, line_fills

_SCORE = "{:.2f}"


def explain(
    *,
    request: RoutingRequest,
    policy: RoutingPolicy,
    policy_source: str,
    lines: Sequence[RoutingLine],
    locations: Sequence[Location],
    distances: Mapping[str, float | None],
    exclusions: Mapping[str, tuple[ExclusionReason, ...]],
    rounds: Sequence[Round],
    remaining: Mapping[str, int],
    available: Mapping[tuple[str, str], int],
    pickup: PickupCheck | None,
) -> RoutingExplanation:
    """`locations` are the candidates considered (all of them for SHIP, the chosen store for pick-up);
    `remaining` and `available` are the state after the last round."""
    pickup_order = request.delivery_method is DeliveryMethod.PICKUP_IN_STORE
    source = None if pickup_order else request.destination_source
    max_locations = 1 if pickup_order else policy.max_splits
    first = {c.location.id: (rank, c) for rank, c in enumerate(rounds[0].field, start=1)} if rounds else {}
    chosen = {r.winner.location.id: (step, r) for step, r in enumerate(rounds, start=1)}
    out_of_splits = len(rounds) >= max_locations and any(q > 0 for q in remaining.values())
    decisions = tuple(_decision(step, r, lines, pickup_order, source) for step, r in enumerate(rounds, start=1))

    # Choose what to list before building it: with thousands of candidates only a few are shown.
    eligible: list[Location] = []
    excluded: list[Location] = []
    for location in locations:
        (excluded if exclusions.get(location.id) else eligible).append(location)

    def eligible_order(location: Location) -> tuple[bool, int, float, str]:
        rank = first[location.id][0] if location.id in first else None
        return (rank is None, rank or 0, distances.get(location.id) or 0.0, location.id)

    def excluded_order(location: Location) -> tuple[bool, bool, float, str]:
        # Excluded candidates that had stock are the interesting ones ("nearest store has it but cannot ship").
        distance = distances.get(location.id)
        return (ExclusionReason.NO_STOCK in exclusions[location.id], distance is None, distance or 0.0, location.id)

    limit = policy.explain_limit
    eligible.sort(key=eligible_order)
    excluded.sort(key=excluded_order)
    shown = eligible[:limit] + [loc for loc in eligible[limit:] if loc.id in chosen] + excluded[:limit]
    winners = ", ".join(r.winner.location.id for r in rounds)
    listed: list[ExplainedCandidate] = []
    for location in shown:
        distance = distances.get(location.id)
        reasons = exclusions.get(location.id, ())
        base = dict(
            location_id=location.id,
            location_name=location.name,
            location_kind=location.kind,
            priority=location.priority,
            distance_km=None if distance is None else round(distance, 3),
        )
        if reasons:
            note = _excluded_note(location, distance, reasons, policy, source)
            listed.append(ExplainedCandidate(**base, outcome=CandidateOutcome.EXCLUDED, exclusions=reasons, note=note))  # type: ignore[arg-type]
            continue
        rank, scored = first.get(location.id, (None, None))
        outcome = CandidateOutcome.NOT_NEEDED
        allocated: tuple[tuple[str, int], ...] = ()
        if location.id in chosen:
            step, r = chosen[location.id]
            outcome, allocated, note = CandidateOutcome.CHOSEN, r.allocated, decisions[step - 1].reason
        elif out_of_splits and (leftover := sum(f.fillable for f in line_fills(location.id, lines, remaining, available))) > 0:
            outcome = CandidateOutcome.MAX_SPLITS_REACHED
            note = out_of_splits_note(leftover, len(rounds), max_locations)
        else:
            note = _not_needed_note(scored, rank, rounds, winners)
        listed.append(
            ExplainedCandidate(
                **base,  # type: ignore[arg-type]
                outcome=outcome,
                scores=scored.scores if scored else (),
                total_score=round(scored.total, 4) if scored else None,
                rank=rank,
                fills=scored.fills if scored else (),
                fills_all=scored.fills_all if scored else False,
                allocated=allocated,
                note=note,
            )
        )
    counts = Counter(reason for loc in excluded for reason in exclusions[loc.id])
    line_outcomes = _line_outcomes(lines, rounds, remaining)
    return RoutingExplanation(
        delivery_method=request.delivery_method,
        channel_id=request.channel_id,
        policy_source=policy_source,
        criteria=policy.criteria,
        split_only_when_needed=policy.split_only_when_needed,
        max_splits=max_locations,
        candidates=tuple(listed),
        decisions=decisions,
        lines=line_outcomes,
        summary=_summary(request, rounds, line_outcomes, pickup, source),
        omitted_candidates=len(eligible) + len(excluded) - len(listed),
        exclusion_counts=tuple((reason, counts[reason]) for reason in ExclusionReason if counts[reason]),
        pickup_alternatives=tuple(a.location_id for a in pickup.alternatives) if pickup else (),
        destination_source=source,
    )


# What a distance is measured from when the address came without coordinates.
_CENTRES = {PointSource.POSTAL_CODE: "the postal code's centre", PointSource.CITY: "the city's centre"}


def _km(distance: float | None, source: PointSource | None = None) -> str:
    if distance is None:
        return ""
    if source in _CENTRES:
        return f" at ~{distance:.1f} km (from {_CENTRES[source]})"
    return f" at {distance:.1f} km"


def _decision(
    step: int, r: Round, lines: Sequence[RoutingLine], pickup_order: bool, source: PointSource | None
) -> RoutingDecision:
    winner = r.winner
    wid = winner.location.id
    open_lines = len(winner.fills)
    full_lines = sum(1 for f in winner.fills if f.fillable == f.wanted)
    if winner.fills_all and step == 1 and open_lines == len(lines):
        what = f"fills all {open_lines} line(s)"
    elif winner.fills_all:
        what = f"fills everything left ({open_lines} line(s))"
    else:
        wanted = sum(f.wanted for f in winner.fills)
        what = f"supplies {winner.fill_units} of {wanted} open unit(s), {full_lines} of {open_lines} line(s) in full"
    prefix = f"{wid}, the chosen pick-up store," if pickup_order else wid
    reason = f"{prefix} {what}{'' if pickup_order else _km(winner.distance_km, source)}"
    others = [c for c in r.field if c.location.id != wid]
    runner_up = others[0] if others else None
    if r.preferred_single and runner_up is not None and runner_up.total > winner.total:
        reason += (
            f"; preferred over higher-scoring {runner_up.location.id} ({_SCORE.format(runner_up.total)} vs "
            f"{_SCORE.format(winner.total)}) because it alone fills everything left"
        )
    elif runner_up is not None:
        reason += (
            f"; next best {runner_up.location.id} scores {_SCORE.format(runner_up.total)} vs {_SCORE.format(winner.total)}"
        )
        if round(runner_up.total, 6) == round(winner.total, 6):
            reason += f" ({_tie_break(winner, runner_up)})"
    elif not pickup_order:
        reason += "; the only eligible location with stock left"
    return RoutingDecision(
        step=step,
        location_id=wid,
        score=round(winner.total, 4),
        allocated=r.allocated,
        runner_up_id=runner_up.location.id if runner_up else None,
        runner_up_score=round(runner_up.total, 4) if runner_up else None,
        reason=reason,
    )


def _tie_break(winner: ScoredCandidate, other: ScoredCandidate) -> str:
    if winner.location.priority != other.location.priority:
        return f"tie broken by priority {winner.location.priority} vs {other.location.priority}"
    if (winner.distance_km or 0.0) != (other.distance_km or 0.0):
        return "tie broken by distance"
    return "tie broken by location id"


def out_of_splits_note(leftover: int, used: int, max_locations: int) -> str:
    return f"Could supply {leftover} more unit(s), but the order already uses {used} location(s) (maxSplits {max_locations})."


NOTHING_LEFT_NOTE = "Eligible, but there was nothing left for it to supply."


def supplied_by_others_note(rank: int, total: float, winners: str) -> str:
    """The usual note of a candidate that was not needed (rebuilt from the stored figures on read)."""
    return f"Ranked {rank} ({_SCORE.format(total)}); what it could supply came from {winners}."


def _not_needed_note(scored: ScoredCandidate | None, rank: int | None, rounds: Sequence[Round], winners: str) -> str:
    if scored is None or rank is None:
        return NOTHING_LEFT_NOTE
    first = rounds[0]
    if first.preferred_single and scored.total > first.winner.total:
        return (
            f"Ranked {rank} ({_SCORE.format(scored.total)}), above {first.winner.location.id} "
            f"({_SCORE.format(first.winner.total)}), but cannot fill the whole order alone and "
            f"{first.winner.location.id} can."
        )
    return supplied_by_others_note(rank, scored.total, winners)


_PHRASES = {
    ExclusionReason.INACTIVE: "inactive",
    ExclusionReason.DOES_NOT_SHIP: "does not ship to customers",
    ExclusionReason.SHIP_FROM_STORE_DISABLED: "a store, and ship-from-store is off",
    ExclusionReason.NO_PICKUP: "does not offer pick-up",
    ExclusionReason.EXCLUDED_BY_POLICY: "excluded by the routing policy",
    ExclusionReason.EXCLUDED_BY_REQUEST: "excluded for this order",
    ExclusionReason.NO_STOCK: "none of the ordered SKUs available",
}


def _excluded_note(
    location: Location,
    distance: float | None,
    reasons: Sequence[ExclusionReason],
    policy: RoutingPolicy,
    source: PointSource | None,
) -> str:
    parts = []
    for reason in reasons:
        if reason is ExclusionReason.TOO_FAR:
            away = f"~{distance or 0.0:.1f} km away (from {_CENTRES[source]})" if source in _CENTRES else f"{distance or 0.0:.1f} km away"
            parts.append(f"{away}, beyond the {policy.max_distance_km:g} km limit")
        elif reason is ExclusionReason.BELOW_MIN_PRIORITY:
            parts.append(f"priority {location.priority} is below the minimum {policy.min_priority}")
        else:
            parts.append(_PHRASES[reason])
    return _excluded_text(parts)


def fixed_exclusion_note(reasons: Sequence[ExclusionReason]) -> str | None:
    """The note of a candidate excluded only for reasons that need no figures (rebuilt on read);
    None when one of them does (too far, below the minimum priority)."""
    if not reasons or any(reason not in _PHRASES for reason in reasons):
        return None
    return _excluded_text([_PHRASES[reason] for reason in reasons])


def _excluded_text(parts: Sequence[str]) -> str:
    return "Excluded: " + "; ".join(parts) + "."


def _line_outcomes(lines: Sequence[RoutingLine], rounds: Sequence[Round], remaining: Mapping[str, int]) -> tuple[LineOutcome, ...]:
    outcomes = []
    for line in lines:
        placed = tuple(
            (r.winner.location.id, q) for r in rounds for line_id, q in r.allocated if line_id == line.line_id
        )
        outcomes.append(
            LineOutcome(
                line_id=line.line_id,
                sku=line.sku,
                quantity=line.quantity,
                allocated=placed,
                backordered=max(0, remaining.get(line.line_id, 0)),
                split=len(placed) > 1,
            )
        )
    return tuple(outcomes)


def _summary(
    request: RoutingRequest,
    rounds: Sequence[Round],
    outcomes: Sequence[LineOutcome],
    pickup: PickupCheck | None,
    source: PointSource | None,
) -> str:
    if not outcomes:
        return "No open quantity to route."
    backordered = [o for o in outcomes if o.backordered > 0]
    if pickup is not None:
        if pickup.can_fill:
            text = f"Pick-up at {pickup.location_id}: it fills every line."
        elif pickup.reason is None:
            text = f"Pick-up store {pickup.location_id} is unknown."
        else:
            text = f"Pick-up at {pickup.location_id} cannot fill the order ({pickup.reason.value})."
            if pickup.alternatives:
                names = ", ".join(f"{a.location_id} ({a.distance_km:.1f} km)" for a in pickup.alternatives[:3])
                text += f" Nearby pick-up stores that can: {names}."
            else:
                text += " No pick-up store nearby can fill every line."
    elif not rounds:
        text = "Nothing can be allocated now."
    elif len(rounds) == 1:
        r = rounds[0]
        text = f"Ships from {r.winner.location.id}{_km(r.winner.distance_km, source)}."
    else:
        parts = ", ".join(
            f"{r.winner.location.id} (line{'s' if len(r.allocated) > 1 else ''} {', '.join(line for line, _ in r.allocated)})"
            for r in rounds
        )
        text = f"Split across {len(rounds)} locations: {parts}."
    if source in _CENTRES and not (len(rounds) == 1 and rounds[0].winner.distance_km is not None):
        text += f" Distances are approximate: the address came without coordinates, so they are measured from {_CENTRES[source]}."
    split = [o.line_id for o in outcomes if o.split]
    if split:
        text += f" Line{'s' if len(split) > 1 else ''} {', '.join(split)} split across locations."
    if backordered:
        text += " Backordered: " + ", ".join(f"{o.backordered} of line {o.line_id} ({o.sku})" for o in backordered) + "."
    return text
