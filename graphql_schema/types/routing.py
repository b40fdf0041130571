"""Routing plans and their explanations, as clients see them (on `routingPreview` and on orders)."""

from __future__ import annotations

import strawberry

from app.domain.routing import explanation as ex, plan as pl, policy as po
from app.domain.routing.stored import explanation_from_dict
from graphql_schema.context import Info
from graphql_schema.enums import DeliveryMethod, LocationKind, PointSource
from graphql_schema.types.catalog import Location

RoutingCriterion = strawberry.enum(
    po.RoutingCriterion,
    description="How candidate locations are ranked: NEAREST (distance to the destination), LOWEST_COST "
    "(estimated shipping cost), OVERSTOCK_FIRST (most stock above reorder point), FEWEST_SHIPMENTS "
    "(largest share of the order one location can fill).",
)
ExclusionReason = strawberry.enum(ex.ExclusionReason, description="Why a location could not be used at all.")
CandidateOutcome = strawberry.enum(ex.CandidateOutcome, description="What became of a candidate location.")


async def _location(info: Info, code: str) -> Location | None:
    found = await info.context.loaders.location_by_id.load(code)
    return Location.from_domain(found) if found else None


@strawberry.type(description="One criterion and its relative weight.")
class CriterionWeight:
    criterion: RoutingCriterion = strawberry.field(description="The criterion.")
    weight: float = strawberry.field(description="Relative weight: scores combine as Σ weight × score / Σ weight.")

    @classmethod
    def from_domain(cls, value: po.CriterionWeight) -> CriterionWeight:
        return cls(criterion=value.criterion, weight=value.weight)


@strawberry.type(description="One quantity of one order line to reserve at one location.")
class PlannedAllocation:
    line_id: str = strawberry.field(description="The order line.")
    sku: str = strawberry.field(description="The line's SKU.")
    location_code: str = strawberry.field(description="Where to reserve it.")
    quantity: int = strawberry.field(description="How many units.")

    @classmethod
    def from_domain(cls, value: pl.PlannedAllocation) -> PlannedAllocation:
        return cls(line_id=value.line_id, sku=value.sku, location_code=value.location_id, quantity=value.quantity)

    @strawberry.field(description="The location.")
    async def location(self, info: Info) -> Location | None:
        return await _location(info, self.location_code)


@strawberry.type(description="Quantity of one line the network cannot fill now.")
class BackorderedLine:
    line_id: str = strawberry.field(description="The order line.")
    sku: str = strawberry.field(description="The line's SKU.")
    quantity: int = strawberry.field(description="Units backordered.")

    @classmethod
    def from_domain(cls, value: pl.BackorderedLine) -> BackorderedLine:
        return cls(line_id=value.line_id, sku=value.sku, quantity=value.quantity)


@strawberry.type(description="Everything one location would send (or hand over, for pick-up).")
class PlannedShipment:
    location_code: str = strawberry.field(description="The shipping location.")
    line_ids: list[str] = strawberry.field(description="Order lines (wholly or partly) in this shipment.")
    units: int = strawberry.field(description="Units in this shipment.")
    weight_grams: int = strawberry.field(description="Total weight.")
    distance_km: float | None = strawberry.field(description="Great-circle distance to the destination.")
    estimated_cost_cents: int = strawberry.field(
        description="Planning estimate from the policy's cost model (not a carrier quote)."
    )

    @classmethod
    def from_domain(cls, value: pl.PlannedShipment) -> PlannedShipment:
        return cls(
            location_code=value.location_id,
            line_ids=list(value.line_ids),
            units=value.units,
            weight_grams=value.weight_grams,
            distance_km=value.distance_km,
            estimated_cost_cents=value.estimated_cost_cents,
        )

    @strawberry.field(description="The location.")
    async def location(self, info: Info) -> Location | None:
        return await _location(info, self.location_code)


@strawberry.type(description="A pick-up store near the one asked for that can fill every line now.")
class PickupAlternative:
    location_code: str = strawberry.field(description="The store.")
    name: str = strawberry.field(description="The store's name.")
    distance_km: float = strawberry.field(description="Distance from the store the shopper chose.")

    @classmethod
    def from_domain(cls, value: pl.PickupAlternative) -> PickupAlternative:
        return cls(location_code=value.location_id, name=value.name, distance_km=value.distance_km)


@strawberry.type(description="Whether a pick-up order can be filled at the chosen store, and where else it could.")
class PickupCheck:
    location_code: str = strawberry.field(description="The store the shopper chose.")
    can_fill: bool = strawberry.field(description="True when the store can fill every line now.")
    reason: ExclusionReason | None = strawberry.field(description="Why it cannot; null when it can.")
    alternatives: list[PickupAlternative] = strawberry.field(
        description="Pick-up stores nearby that can fill every line now, nearest first."
    )

    @classmethod
    def from_domain(cls, value: pl.PickupCheck) -> PickupCheck:
        return cls(
            location_code=value.location_id,
            can_fill=value.can_fill,
            reason=value.reason,
            alternatives=[PickupAlternative.from_domain(a) for a in value.alternatives],
        )


@strawberry.type(description="One criterion's part in a candidate's score.")
class CriterionScore:
    criterion: RoutingCriterion = strawberry.field(description="The criterion.")
    weight: float = strawberry.field(description="Its weight in the policy.")
    raw: float = strawberry.field(
        description="Measured value: km (NEAREST), cents (LOWEST_COST), units above reorder point "
        "(OVERSTOCK_FIRST), share of remaining units fillable 0–1 (FEWEST_SHIPMENTS)."
    )
    score: float = strawberry.field(description="Normalised to [0, 1] across eligible candidates; 1 is best.")
    weighted: float = strawberry.field(description="weight × score.")

    @classmethod
    def from_domain(cls, value: ex.CriterionScore) -> CriterionScore:
        return cls(criterion=value.criterion, weight=value.weight, raw=value.raw, score=value.score, weighted=value.weighted)


@strawberry.type(description="What a candidate could supply for one line.")
class LineFill:
    line_id: str = strawberry.field(description="The order line.")
    sku: str = strawberry.field(description="The line's SKU.")
    wanted: int = strawberry.field(description="Units still to place when the candidate was scored.")
    available: int = strawberry.field(description="Units available at the candidate.")
    fillable: int = strawberry.field(description="Units it could supply: min(wanted, available).")

    @classmethod
    def from_domain(cls, value: ex.LineFill) -> LineFill:
        return cls(line_id=value.line_id, sku=value.sku, wanted=value.wanted, available=value.available, fillable=value.fillable)


@strawberry.type(description="A quantity of one order line placed at one location.")
class LineQuantity:
    key: str = strawberry.field(description="A line id or a location code, depending on where it appears.")
    quantity: int = strawberry.field(description="Units.")


@strawberry.type(description="A location routing considered, with its scores and fate.")
class RoutingCandidate:
    location_code: str = strawberry.field(description="The location.")
    location_name: str = strawberry.field(description="Its name.")
    location_kind: LocationKind = strawberry.field(description="Store, distribution center or drop-ship partner.")
    priority: int = strawberry.field(description="Location priority (first tie-breaker, higher wins).")
    distance_km: float | None = strawberry.field(description="Great-circle distance to the destination.")
    outcome: CandidateOutcome = strawberry.field(description="Chosen, not needed, out of splits, or excluded.")
    exclusions: list[ExclusionReason] = strawberry.field(description="Every reason it could not be used; empty if eligible.")
    scores: list[CriterionScore] = strawberry.field(description="Per-criterion scores; empty when excluded.")
    total_score: float | None = strawberry.field(description="Weighted total in [0, 1]; null when excluded.")
    rank: int | None = strawberry.field(description="1 = best eligible candidate in the first round; null when excluded.")
    fills: list[LineFill] = strawberry.field(description="What it could supply per line.")
    fills_all: bool = strawberry.field(description="True when it alone could fill the whole order.")
    allocated: list[LineQuantity] = strawberry.field(description="Units per line id allocated here (chosen only).")
    note: str = strawberry.field(description="One sentence on why it was chosen, passed over or excluded.")

    @classmethod
    def from_domain(cls, value: ex.ExplainedCandidate) -> RoutingCandidate:
        return cls(
            location_code=value.location_id,
            location_name=value.location_name,
            location_kind=value.location_kind,
            priority=value.priority,
            distance_km=value.distance_km,
            outcome=value.outcome,
            exclusions=list(value.exclusions),
            scores=[CriterionScore.from_domain(s) for s in value.scores],
            total_score=value.total_score,
            rank=value.rank,
            fills=[LineFill.from_domain(f) for f in value.fills],
            fills_all=value.fills_all,
            allocated=[LineQuantity(key=line_id, quantity=q) for line_id, q in value.allocated],
            note=value.note,
        )


@strawberry.type(description="One chosen location, in the order chosen, and why it won that round.")
class RoutingDecision:
    step: int = strawberry.field(description="1 for the first location chosen, 2 for the next, ...")
    location_code: str = strawberry.field(description="The chosen location.")
    score: float = strawberry.field(description="Its weighted total in that round.")
    allocated: list[LineQuantity] = strawberry.field(description="Units per line id allocated here.")
    runner_up_code: str | None = strawberry.field(description="The best candidate not chosen in that round.")
    runner_up_score: float | None = strawberry.field(description="The runner-up's weighted total.")
    reason: str = strawberry.field(description="Why it won, in one sentence.")

    @classmethod
    def from_domain(cls, value: ex.RoutingDecision) -> RoutingDecision:
        return cls(
            step=value.step,
            location_code=value.location_id,
            score=value.score,
            allocated=[LineQuantity(key=line_id, quantity=q) for line_id, q in value.allocated],
            runner_up_code=value.runner_up_id,
            runner_up_score=value.runner_up_score,
            reason=value.reason,
        )


@strawberry.type(description="How one order line was placed.")
class LineRouting:
    line_id: str = strawberry.field(description="The order line.")
    sku: str = strawberry.field(description="Its SKU.")
    quantity: int = strawberry.field(description="Units routed.")
    allocated: list[LineQuantity] = strawberry.field(description="Units per location code.")
    backordered: int = strawberry.field(description="Units the network could not fill.")
    split: bool = strawberry.field(description="True when filled from more than one location.")

    @classmethod
    def from_domain(cls, value: ex.LineOutcome) -> LineRouting:
        return cls(
            line_id=value.line_id,
            sku=value.sku,
            quantity=value.quantity,
            allocated=[LineQuantity(key=loc, quantity=q) for loc, q in value.allocated],
            backordered=value.backordered,
            split=value.split,
        )


@strawberry.type(description="How many candidates were excluded for one reason.")
class ExclusionCount:
    reason: ExclusionReason = strawberry.field(description="The reason.")
    count: int = strawberry.field(description="Candidates excluded for it (listed or not).")


@strawberry.type(description="Why an order was routed where it was: every candidate, its scores, and the decisions.")
class RoutingExplanation:
    delivery_method: DeliveryMethod = strawberry.field(description="Ship or pick up in store.")
    channel_code: str = strawberry.field(description="The order's channel.")
    policy_source: str = strawberry.field(description='"global", the channel code, or "override" (preview only).')
    criteria: list[CriterionWeight] = strawberry.field(description="The weighted criteria used.")
    split_only_when_needed: bool = strawberry.field(description="Whether one location filling everything always wins.")
    max_splits: int = strawberry.field(description="Most locations the order could ship from.")
    summary: str = strawberry.field(description="The decision in one or two sentences.")
    candidates: list[RoutingCandidate] = strawberry.field(
        description="Eligible candidates by rank, then excluded ones (each list capped by the policy's explainLimit)."
    )
    omitted_candidates: int = strawberry.field(description="Candidates beyond the cap, not listed.")
    exclusion_counts: list[ExclusionCount] = strawberry.field(description="Excluded candidates per reason, listed or not.")
    decisions: list[RoutingDecision] = strawberry.field(description="Chosen locations in the order chosen.")
    lines: list[LineRouting] = strawberry.field(description="How each line was placed, split or backordered.")
    pickup_alternatives: list[str] = strawberry.field(
        description="Pick-up only: codes of nearby stores that could fill everything, nearest first."
    )
    destination_source: PointSource | None = strawberry.field(
        description=(
            "SHIP: how the destination was found. POSTAL_CODE or CITY: distances are measured from that area's centre "
            "and are approximate (the summary and reasons say so). Null for pick-up, a preview with coordinates, or "
            "orders routed before this was recorded."
        )
    )

    @classmethod
    def from_domain(cls, value: ex.RoutingExplanation) -> RoutingExplanation:
        return cls(
            delivery_method=value.delivery_method,
            channel_code=value.channel_id,
            policy_source=value.policy_source,
            criteria=[CriterionWeight.from_domain(c) for c in value.criteria],
            split_only_when_needed=value.split_only_when_needed,
            max_splits=value.max_splits,
            summary=value.summary,
            candidates=[RoutingCandidate.from_domain(c) for c in value.candidates],
            omitted_candidates=value.omitted_candidates,
            exclusion_counts=[ExclusionCount(reason=r, count=n) for r, n in value.exclusion_counts],
            decisions=[RoutingDecision.from_domain(d) for d in value.decisions],
            lines=[LineRouting.from_domain(line) for line in value.lines],
            pickup_alternatives=list(value.pickup_alternatives),
            destination_source=value.destination_source,
        )

    @classmethod
    def from_stored(cls, data: dict[str, object] | None) -> RoutingExplanation | None:
        """From the plain dict stored on an order (`Order.routing`)."""
        return cls.from_domain(explanation_from_dict(data)) if data else None  # type: ignore[arg-type]


@strawberry.type(description="Where an order would be (or was) filled from, and why.")
class RoutingPlan:
    fully_allocated: bool = strawberry.field(description="True when nothing is backordered.")
    allocations: list[PlannedAllocation] = strawberry.field(description="What to reserve where.")
    backorders: list[BackorderedLine] = strawberry.field(description="What the network cannot fill now.")
    shipments: list[PlannedShipment] = strawberry.field(description="One per chosen location, in the order chosen.")
    estimated_cost_cents: int = strawberry.field(description="Sum of the shipments' estimated costs.")
    pickup: PickupCheck | None = strawberry.field(description="Pick-up orders only: can the chosen store fill it.")
    explanation: RoutingExplanation = strawberry.field(description="Every candidate, its scores, and why the winners won.")

    @classmethod
    def from_domain(cls, value: pl.RoutingPlan) -> RoutingPlan:
        return cls(
            fully_allocated=value.fully_allocated,
            allocations=[PlannedAllocation.from_domain(a) for a in value.allocations],
            backorders=[BackorderedLine.from_domain(b) for b in value.backorders],
            shipments=[PlannedShipment.from_domain(s) for s in value.shipments],
            estimated_cost_cents=value.estimated_cost_cents,
            pickup=PickupCheck.from_domain(value.pickup) if value.pickup else None,
            explanation=RoutingExplanation.from_domain(value.explanation),
        )
