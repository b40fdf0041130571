"""Why an order was routed where it was: every candidate, its scores, and why it won or lost.

Stored on the order (`orders.routing`) as the plain dict `explanation_to_dict` returns; read back
with `explanation_from_dict`. The dict is versioned (`v`) so older orders stay readable.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from app.domain.geocoding import PointSource
from app.domain.locations import LocationKind
from app.domain.orders import DeliveryMethod
from app.domain.routing.policy import CriterionWeight, RoutingCriterion

EXPLANATION_VERSION = 1


class ExclusionReason(StrEnum):
    """Why a location could not be used at all."""

    INACTIVE = "INACTIVE"
    DOES_NOT_SHIP = "DOES_NOT_SHIP"
    SHIP_FROM_STORE_DISABLED = "SHIP_FROM_STORE_DISABLED"
    NO_PICKUP = "NO_PICKUP"  # the chosen store does not offer pick-up
    TOO_FAR = "TOO_FAR"
    EXCLUDED_BY_POLICY = "EXCLUDED_BY_POLICY"
    EXCLUDED_BY_REQUEST = "EXCLUDED_BY_REQUEST"  # e.g. re-routing away from a short-picked location
    BELOW_MIN_PRIORITY = "BELOW_MIN_PRIORITY"
    NO_STOCK = "NO_STOCK"  # none of the requested SKUs available


class CandidateOutcome(StrEnum):
    CHOSEN = "CHOSEN"
    NOT_NEEDED = "NOT_NEEDED"  # eligible with stock, but chosen locations covered what it could supply
    MAX_SPLITS_REACHED = "MAX_SPLITS_REACHED"  # could have filled remaining quantity; no split left
    EXCLUDED = "EXCLUDED"  # see `exclusions`


@dataclass(frozen=True, slots=True)
class CriterionScore:
    """`raw` is in the criterion's unit: km (NEAREST), cents (LOWEST_COST), units above reorder point
    (OVERSTOCK_FIRST), share of remaining units fillable 0–1 (FEWEST_SHIPMENTS). `score` is the
    normalised value in [0, 1] (1 = best among eligible candidates), `weighted` = weight × score.
    """

    criterion: RoutingCriterion
    weight: float
    raw: float
    score: float
    weighted: float


@dataclass(frozen=True, slots=True)
class LineFill:
    """What one candidate could supply for one line when it was scored."""

    line_id: str
    sku: str
    wanted: int
    available: int
    fillable: int


@dataclass(frozen=True, slots=True)
class ExplainedCandidate:
    location_id: str
    location_name: str
    location_kind: LocationKind
    priority: int
    distance_km: float | None  # None for pick-up with no destination point
    outcome: CandidateOutcome
    exclusions: tuple[ExclusionReason, ...] = ()
    scores: tuple[CriterionScore, ...] = ()  # empty when excluded
    total_score: float | None = None  # Σ weighted / Σ weight, in [0, 1]
    rank: int | None = None  # 1 = best eligible candidate in the first round
    fills: tuple[LineFill, ...] = ()
    fills_all: bool = False
    allocated: tuple[tuple[str, int], ...] = ()  # (line_id, quantity) when chosen
    note: str = ""  # one human sentence


@dataclass(frozen=True, slots=True)
class RoutingDecision:
    """One chosen location, in the order it was chosen, and why it won that round."""

    step: int
    location_id: str
    score: float
    allocated: tuple[tuple[str, int], ...]  # (line_id, quantity)
    runner_up_id: str | None
    runner_up_score: float | None
    reason: str


@dataclass(frozen=True, slots=True)
class LineOutcome:
    line_id: str
    sku: str
    quantity: int
    allocated: tuple[tuple[str, int], ...]  # (location_id, quantity)
    backordered: int
    split: bool  # filled from more than one location


@dataclass(frozen=True, slots=True)
class RoutingExplanation:
    delivery_method: DeliveryMethod
    channel_id: str
    policy_source: str  # "global", the channel id, or "override"
    criteria: tuple[CriterionWeight, ...]
    split_only_when_needed: bool
    max_splits: int
    candidates: tuple[ExplainedCandidate, ...]  # eligible ones by rank, then excluded ones
    decisions: tuple[RoutingDecision, ...]
    lines: tuple[LineOutcome, ...]
    summary: str
    omitted_candidates: int = 0  # beyond `explain_limit`; counted in exclusion_counts when excluded
    exclusion_counts: tuple[tuple[ExclusionReason, int], ...] = ()  # over all candidates, listed or not
    pickup_alternatives: tuple[str, ...] = ()  # location ids, nearest first (PICKUP_IN_STORE only)
    # SHIP: how the destination was found. POSTAL_CODE or CITY: every distance is measured from that
    # area's centre, so it is approximate (the narrative says so). None: not known (older orders).
    destination_source: PointSource | None = None

    @property
    def approximate_distances(self) -> bool:
        return self.destination_source is not None and self.destination_source.is_centroid


def explanation_to_dict(explanation: RoutingExplanation) -> dict[str, Any]:
    """A plain JSON-able dict (str keys; str/int/float/bool/None/list/dict values)."""
    e = explanation
    return {
        "v": EXPLANATION_VERSION,
        "delivery_method": e.delivery_method.value,
        "channel_id": e.channel_id,
        "policy_source": e.policy_source,
        "criteria": [{"criterion": c.criterion.value, "weight": c.weight} for c in e.criteria],
        "split_only_when_needed": e.split_only_when_needed,
        "max_splits": e.max_splits,
        "summary": e.summary,
        "candidates": [_candidate_to_dict(c) for c in e.candidates],
        "decisions": [
            {
                "step": d.step,
                "location_id": d.location_id,
                "score": d.score,
                "allocated": _pairs_to_list(d.allocated, "line_id"),
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
                "allocated": _pairs_to_list(o.allocated, "location_id"),
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


def explanation_from_dict(data: dict[str, Any]) -> RoutingExplanation:
    """Inverse of `explanation_to_dict`."""
    return RoutingExplanation(
        delivery_method=DeliveryMethod(data["delivery_method"]),
        channel_id=data["channel_id"],
        policy_source=data.get("policy_source", "global"),
        criteria=tuple(CriterionWeight(RoutingCriterion(c["criterion"]), float(c["weight"])) for c in data.get("criteria", [])),
        split_only_when_needed=bool(data.get("split_only_when_needed", True)),
        max_splits=int(data.get("max_splits", 1)),
        summary=data.get("summary", ""),
        candidates=tuple(_candidate_from_dict(c) for c in data.get("candidates", [])),
        decisions=tuple(
            RoutingDecision(
                step=int(d["step"]),
                location_id=d["location_id"],
                score=float(d["score"]),
                allocated=_pairs_from_list(d.get("allocated", []), "line_id"),
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
                allocated=_pairs_from_list(o.get("allocated", []), "location_id"),
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


def _pairs_to_list(pairs: tuple[tuple[str, int], ...], key: str) -> list[dict[str, Any]]:
    return [{key: k, "quantity": q} for k, q in pairs]


def _pairs_from_list(items: list[dict[str, Any]], key: str) -> tuple[tuple[str, int], ...]:
    return tuple((item[key], int(item["quantity"])) for item in items)


def _candidate_to_dict(c: ExplainedCandidate) -> dict[str, Any]:
    return {
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
        "allocated": _pairs_to_list(c.allocated, "line_id"),
        "note": c.note,
    }


def _candidate_from_dict(d: dict[str, Any]) -> ExplainedCandidate:
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
        allocated=_pairs_from_list(d.get("allocated", []), "line_id"),
        note=d.get("note", ""),
    )
