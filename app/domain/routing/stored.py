"""How a routing explanation is stored on its order (`orders.routing`): a compact plain dict.

The explanation lists up to `explain_limit` candidates per side, each with its scores, fills and a
sentence, so stored as one dict per candidate (version 1) it was ~15 KB of a routed order's ~17:
BSON to encode at every capture, oplog and change-stream bytes for mongod, and decoding whenever the
order is read with its routing. Version 2 stores the same content in about a fifth of that:

- a candidate is one array (`_CANDIDATE` names the positions; trailing ones at their defaults left
  off), its fills one string `line:wanted:available:fillable;...` (the SKU is the line's, from
  `lines`) and its scores bare `[raw, score]` pairs in the order of `criteria` (criterion and
  weight are the policy's, `weighted` is weight × score);
- a note is left out (null) when the narrative's usual sentence, rebuilt from the stored figures
  on read, is exactly it: a chosen candidate's is its decision's reason, an excluded one's names
  its reasons, a not-needed one's its rank, score and the winners.

Each shortcut is taken only when writing checks that reading gives back the same value, so
`explanation_from_dict(explanation_to_dict(e)) == e` always holds, and anything unusual is stored
in full. Orders stored as version 1 read as before.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from app.domain.geocoding import PointSource
from app.domain.locations import LocationKind
from app.domain.orders import DeliveryMethod
from app.domain.routing.explanation import (
    CandidateOutcome,
    CriterionScore,
    ExclusionReason,
    ExplainedCandidate,
    LineFill,
    LineOutcome,
    RoutingDecision,
    RoutingExplanation,
)
from app.domain.routing.narrative import NOTHING_LEFT_NOTE, fixed_exclusion_note, out_of_splits_note, supplied_by_others_note
from app.domain.routing.policy import CriterionWeight, RoutingCriterion

EXPLANATION_VERSION = 2
# Positions in a stored candidate (version 2).
_CANDIDATE = (
    "location_id", "location_name", "location_kind", "priority", "distance_km", "outcome", "exclusions",
    "scores", "total_score", "rank", "fills", "fills_all", "allocated", "note",
)  # fmt: skip
# What a position holds when left off the end of a stored candidate; the first six are always there.
_DEFAULTS: list[Any] = [None, None, None, None, None, None, [], [], None, None, "", False, [], None]
_REQUIRED = 6
_SCORE_DIGITS = 4  # as app/domain/routing/scoring.py rounds what it shows


@dataclass(frozen=True, slots=True)
class _Order:
    """What reading a stored candidate needs from the rest of its explanation."""

    criteria: tuple[CriterionWeight, ...]
    skus: dict[str, str]  # line id → SKU
    reasons: dict[str, str]  # location id → the reason it was chosen
    winners: str  # the chosen location ids, in order
    used: int  # locations chosen
    max_splits: int


def _order_of(
    criteria: tuple[CriterionWeight, ...], decisions: tuple[RoutingDecision, ...], lines: tuple[LineOutcome, ...], max_splits: int
) -> _Order:
    return _Order(
        criteria=criteria,
        skus={o.line_id: o.sku for o in lines},
        reasons={d.location_id: d.reason for d in reversed(decisions)},  # the first decision of a location
        winners=", ".join(d.location_id for d in decisions),
        used=len(decisions),
        max_splits=max_splits,
    )


def explanation_to_dict(explanation: RoutingExplanation) -> dict[str, Any]:
    """A plain JSON-able dict (str keys; str/int/float/bool/None/list/dict values), version 2."""
    e = explanation
    order = _order_of(e.criteria, e.decisions, e.lines, e.max_splits)
    return {
        "v": EXPLANATION_VERSION,
        "delivery_method": e.delivery_method.value,
        "channel_id": e.channel_id,
        "policy_source": e.policy_source,
        "criteria": [[c.criterion.value, c.weight] for c in e.criteria],
        "split_only_when_needed": e.split_only_when_needed,
        "max_splits": e.max_splits,
        "summary": e.summary,
        "candidates": [_candidate_to_list(c, order) for c in e.candidates],
        "decisions": [
            [d.step, d.location_id, d.score, _flat(d.allocated), d.runner_up_id, d.runner_up_score, d.reason] for d in e.decisions
        ],
        "lines": [[o.line_id, o.sku, o.quantity, _flat(o.allocated), o.backordered, o.split] for o in e.lines],
        "omitted_candidates": e.omitted_candidates,
        "exclusion_counts": [[r.value, n] for r, n in e.exclusion_counts],
        "pickup_alternatives": list(e.pickup_alternatives),
        "destination_source": e.destination_source.value if e.destination_source else None,
    }


def explanation_from_dict(data: dict[str, Any]) -> RoutingExplanation:
    """Inverse of `explanation_to_dict`; reads version 1 (orders stored before version 2) too."""
    if data.get("v", 1) < 2:
        return _from_v1(data)
    criteria = tuple(CriterionWeight(RoutingCriterion(c), float(w)) for c, w in data.get("criteria", []))
    decisions = tuple(
        RoutingDecision(
            step=int(step),
            location_id=location_id,
            score=float(score),
            allocated=_pairs(allocated),
            runner_up_id=runner_up_id,
            runner_up_score=None if runner_up_score is None else float(runner_up_score),
            reason=reason,
        )
        for step, location_id, score, allocated, runner_up_id, runner_up_score, reason in data.get("decisions", [])
    )
    lines = tuple(
        LineOutcome(
            line_id=line_id, sku=sku, quantity=int(quantity), allocated=_pairs(allocated), backordered=int(backordered), split=bool(split)
        )
        for line_id, sku, quantity, allocated, backordered, split in data.get("lines", [])
    )
    order = _order_of(criteria, decisions, lines, int(data["max_splits"]))
    return RoutingExplanation(
        delivery_method=DeliveryMethod(data["delivery_method"]),
        channel_id=data["channel_id"],
        policy_source=data["policy_source"],
        criteria=criteria,
        split_only_when_needed=bool(data["split_only_when_needed"]),
        max_splits=int(data["max_splits"]),
        candidates=tuple(_candidate_from_list(c, order) for c in data.get("candidates", [])),
        decisions=decisions,
        lines=lines,
        summary=data["summary"],
        omitted_candidates=int(data.get("omitted_candidates", 0)),
        exclusion_counts=tuple((ExclusionReason(r), int(n)) for r, n in data.get("exclusion_counts", [])),
        pickup_alternatives=tuple(data.get("pickup_alternatives", [])),
        destination_source=PointSource(data["destination_source"]) if data.get("destination_source") else None,
    )


def _flat(pairs: tuple[tuple[str, int], ...]) -> list[Any]:
    return [item for pair in pairs for item in pair]


def _pairs(flat: list[Any]) -> tuple[tuple[str, int], ...]:
    return tuple((flat[i], int(flat[i + 1])) for i in range(0, len(flat), 2))


def _candidate_to_list(c: ExplainedCandidate, order: _Order) -> list[Any]:
    scores: list[Any] = []
    for i, s in enumerate(c.scores):
        if i >= len(order.criteria) or s.criterion is not order.criteria[i].criterion or s.weight != order.criteria[i].weight:
            break
        if s.weighted != round(s.weight * s.score, _SCORE_DIGITS):
            break
        scores += (s.raw, s.score)
    if len(scores) != 2 * len(c.scores):
        scores = [[s.criterion.value, s.weight, s.raw, s.score, s.weighted] for s in c.scores]
    skus = order.skus
    packed = []
    for f in c.fills:
        if skus.get(f.line_id) != f.sku or not f.line_id.isdecimal():
            fills: str | list[list[Any]] = [[f.line_id, f.wanted, f.available, f.fillable, f.sku] for f in c.fills]
            break
        packed.append(f"{f.line_id}:{f.wanted}:{f.available}:{f.fillable}")
    else:
        fills = ";".join(packed)
    note: str | int | None = c.note
    if c.note == _usual_note(c.outcome, c.exclusions, c.rank, c.total_score, order.reasons.get(c.location_id), order.winners):
        note = None
    elif c.outcome is CandidateOutcome.MAX_SPLITS_REACHED and (leftover := _leftover(c.note, order.used, order.max_splits)) is not None:
        note = leftover  # the units it could still have supplied: the rest of the sentence is the order's
    stored = [
        c.location_id,
        c.location_name,
        c.location_kind.value,
        c.priority,
        c.distance_km,
        c.outcome.value,
        [r.value for r in c.exclusions],
        scores,
        c.total_score,
        c.rank,
        fills,
        c.fills_all,
        _flat(c.allocated),
        note,
    ]
    # Trailing positions at their defaults are left off (an excluded candidate has no scores or fills).
    while len(stored) > _REQUIRED and stored[-1] == _DEFAULTS[len(stored) - 1]:
        stored.pop()
    return stored


def _candidate_from_list(item: list[Any], order: _Order) -> ExplainedCandidate:
    full = item + _DEFAULTS[len(item):]
    (location_id, name, kind, priority, distance, outcome_code, exclusion_codes, scores, stored_total, stored_rank, fills, fills_all,
     allocated, note) = full  # fmt: skip
    outcome = CandidateOutcome(outcome_code)
    exclusions = tuple(ExclusionReason(r) for r in exclusion_codes)
    total = None if stored_total is None else float(stored_total)
    rank = None if stored_rank is None else int(stored_rank)
    return ExplainedCandidate(
        location_id=location_id,
        location_name=name,
        location_kind=LocationKind(kind),
        priority=int(priority),
        distance_km=None if distance is None else float(distance),
        outcome=outcome,
        exclusions=exclusions,
        scores=_scores(scores, order.criteria),
        total_score=total,
        rank=rank,
        fills=_fills(fills, order.skus),
        fills_all=bool(fills_all),
        allocated=_pairs(allocated),
        note=_note(note, outcome, exclusions, rank, total, location_id, order),
    )


def _fills(stored: str | list[list[Any]], skus: dict[str, str]) -> tuple[LineFill, ...]:
    if isinstance(stored, list):
        return tuple(LineFill(line_id=f[0], sku=f[4], wanted=int(f[1]), available=int(f[2]), fillable=int(f[3])) for f in stored)
    fills = []
    for packed in stored.split(";") if stored else ():
        line_id, wanted, available, fillable = packed.split(":")
        fills.append(LineFill(line_id=line_id, sku=skus[line_id], wanted=int(wanted), available=int(available), fillable=int(fillable)))
    return tuple(fills)


def _scores(stored: list[Any], criteria: tuple[CriterionWeight, ...]) -> tuple[CriterionScore, ...]:
    if stored and isinstance(stored[0], list):
        return tuple(
            CriterionScore(criterion=RoutingCriterion(c), weight=float(w), raw=float(raw), score=float(score), weighted=float(weighted))
            for c, w, raw, score, weighted in stored
        )
    result = []
    for i in range(0, len(stored), 2):
        item = criteria[i // 2]
        score = float(stored[i + 1])
        result.append(
            CriterionScore(
                criterion=item.criterion,
                weight=item.weight,
                raw=float(stored[i]),
                score=score,
                weighted=round(item.weight * score, _SCORE_DIGITS),
            )
        )
    return tuple(result)


def _note(
    stored: str | int | None,
    outcome: CandidateOutcome,
    exclusions: tuple[ExclusionReason, ...],
    rank: int | None,
    total: float | None,
    location_id: str,
    order: _Order,
) -> str:
    if isinstance(stored, str):
        return stored
    if isinstance(stored, int) and outcome is CandidateOutcome.MAX_SPLITS_REACHED:
        return out_of_splits_note(stored, order.used, order.max_splits)
    return _usual_note(outcome, exclusions, rank, total, order.reasons.get(location_id), order.winners) or ""


def _leftover(note: str, used: int, max_locations: int) -> int | None:
    """The number in an out-of-splits note, when the note is exactly the narrative's sentence."""
    words = note.split(" ", 3)
    if len(words) < 3 or not words[2].isdecimal():
        return None
    leftover = int(words[2])
    return leftover if out_of_splits_note(leftover, used, max_locations) == note else None


def _usual_note(
    outcome: CandidateOutcome,
    exclusions: tuple[ExclusionReason, ...],
    rank: int | None,
    total: float | None,
    chosen_reason: str | None,
    winners: str,
) -> str | None:
    """The sentence the narrative writes for a candidate in the common cases, from stored figures."""
    if outcome is CandidateOutcome.CHOSEN:
        return chosen_reason
    if outcome is CandidateOutcome.EXCLUDED:
        return fixed_exclusion_note(exclusions)
    if outcome is CandidateOutcome.NOT_NEEDED:
        if rank is None or total is None:
            return NOTHING_LEFT_NOTE
        return supplied_by_others_note(rank, total, winners)
    return None


def _from_v1(data: dict[str, Any]) -> RoutingExplanation:
    """Version 1: one dict per candidate, decision, line, score and fill, every note in full."""
    return RoutingExplanation(
        delivery_method=DeliveryMethod(data["delivery_method"]),
        channel_id=data["channel_id"],
        policy_source=data.get("policy_source", "global"),
        criteria=tuple(CriterionWeight(RoutingCriterion(c["criterion"]), float(c["weight"])) for c in data.get("criteria", [])),
        split_only_when_needed=bool(data.get("split_only_when_needed", True)),
        max_splits=int(data.get("max_splits", 1)),
        summary=data.get("summary", ""),
        candidates=tuple(_v1_candidate(c) for c in data.get("candidates", [])),
        decisions=tuple(
            RoutingDecision(
                step=int(d["step"]),
                location_id=d["location_id"],
                score=float(d["score"]),
                allocated=_v1_pairs(d.get("allocated", []), "line_id"),
                runner_up_id=d.get("runner_up_id"),
                runner_up_score=None if d.get("runner_up_score") is None else float(d["runner_up_score"]),
                reason=d.get("reason", ""),
            )
            for d in data.get("decisions", [])
        ),
        lines=tuple(
            LineOutcome(
                line_id=o["line_id"],
                sku=o["sku"],
                quantity=int(o["quantity"]),
                allocated=_v1_pairs(o.get("allocated", []), "location_id"),
                backordered=int(o.get("backordered", 0)),
                split=bool(o.get("split", False)),
            )
            for o in data.get("lines", [])
        ),
        omitted_candidates=int(data.get("omitted_candidates", 0)),
        exclusion_counts=tuple((ExclusionReason(x["reason"]), int(x["count"])) for x in data.get("exclusion_counts", [])),
        pickup_alternatives=tuple(data.get("pickup_alternatives", [])),
        destination_source=PointSource(data["destination_source"]) if data.get("destination_source") else None,
    )


def _v1_pairs(items: list[dict[str, Any]], key: str) -> tuple[tuple[str, int], ...]:
    return tuple((item[key], int(item["quantity"])) for item in items)


def _v1_candidate(d: dict[str, Any]) -> ExplainedCandidate:
    return ExplainedCandidate(
        location_id=d["location_id"],
        location_name=d.get("location_name", d["location_id"]),
        location_kind=LocationKind(d["location_kind"]),
        priority=int(d.get("priority", 0)),
        distance_km=None if d.get("distance_km") is None else float(d["distance_km"]),
        outcome=CandidateOutcome(d["outcome"]),
        exclusions=tuple(ExclusionReason(r) for r in d.get("exclusions", [])),
        scores=tuple(
            CriterionScore(
                criterion=RoutingCriterion(s["criterion"]),
                weight=float(s["weight"]),
                raw=float(s["raw"]),
                score=float(s["score"]),
                weighted=float(s["weighted"]),
            )
            for s in d.get("scores", [])
        ),
        total_score=None if d.get("total_score") is None else float(d["total_score"]),
        rank=None if d.get("rank") is None else int(d["rank"]),
        fills=tuple(
            LineFill(
                line_id=f["line_id"], sku=f["sku"], wanted=int(f["wanted"]), available=int(f["available"]), fillable=int(f["fillable"])
            )
            for f in d.get("fills", [])
        ),
        fills_all=bool(d.get("fills_all", False)),
        allocated=_v1_pairs(d.get("allocated", []), "line_id"),
        note=d.get("note", ""),
    )
