"""Routing policy: the configured criteria and constraints, its input, and the mutation's result."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

import strawberry

from app.domain.routing import policy as po
from graphql_schema.errors import ConflictError, InvalidInputError, NotFoundError, PermissionDeniedError
from graphql_schema.types.routing import CriterionWeight, RoutingCriterion


@strawberry.type(description="Estimated cost of one shipment, in cents: handling + base + perKm × km + "
                 "ceil(kg) × (perKg + perKgKm × km). A planning figure, not a carrier quote.")
class CostModel:
    base_cents: int = strawberry.field(description="Fixed part per shipment.")
    per_km_cents: float = strawberry.field(description="Per km of great-circle distance.")
    per_kg_cents: int = strawberry.field(description="Per started kg.")
    per_kg_km_cents: float = strawberry.field(description="Per started kg per km.")

    @classmethod
    def from_domain(cls, value: po.CostModel) -> CostModel:
        return cls(
            base_cents=value.base_cents,
            per_km_cents=value.per_km_cents,
            per_kg_cents=value.per_kg_cents,
            per_kg_km_cents=value.per_kg_km_cents,
        )


@strawberry.type(description="How orders are routed: weighted criteria and constraints, globally or for one channel.")
class RoutingPolicy:
    scope: str = strawberry.field(description='"global" or the channel code asked about.')
    source: str = strawberry.field(description='Where the policy in force comes from: "global" or the channel code.')
    inherited: bool = strawberry.field(description="True when the channel has no policy of its own.")
    criteria: list[CriterionWeight] = strawberry.field(description="Weighted ranking criteria.")
    max_distance_km: float | None = strawberry.field(description="Locations farther from the destination are excluded.")
    max_splits: int = strawberry.field(description="Most locations one order may ship from.")
    ship_from_store: bool = strawberry.field(description="Whether stores may ship orders (else only DCs and drop-ship).")
    excluded_location_codes: list[str] = strawberry.field(description="Never routed to.")
    min_priority: int | None = strawberry.field(description="Locations with a lower priority are excluded.")
    split_only_when_needed: bool = strawberry.field(
        description="True: when one location can fill the whole order, the best such one gets it all."
    )
    cost_model: CostModel = strawberry.field(description="Cost model behind LOWEST_COST.")
    pickup_radius_km: float = strawberry.field(description="How far from a pick-up store to look for alternatives.")
    explain_limit: int = strawberry.field(description="Candidates listed per outcome in stored explanations.")
    version: int = strawberry.field(description="Increases with every change; 0 for the built-in default.")
    updated_at: datetime | None = strawberry.field(description="Last change; null for the built-in default.")
    updated_by: str | None = strawberry.field(description="Who made the last change.")

    @classmethod
    def from_domain(cls, value: po.ConfiguredPolicy) -> RoutingPolicy:
        p = value.policy
        return cls(
            scope=value.scope,
            source=value.source,
            inherited=value.inherited,
            criteria=[CriterionWeight.from_domain(c) for c in p.criteria],
            max_distance_km=p.max_distance_km,
            max_splits=p.max_splits,
            ship_from_store=p.ship_from_store,
            excluded_location_codes=sorted(p.excluded_location_ids),
            min_priority=p.min_priority,
            split_only_when_needed=p.split_only_when_needed,
            cost_model=CostModel.from_domain(p.cost_model),
            pickup_radius_km=p.pickup_radius_km,
            explain_limit=p.explain_limit,
            version=value.version,
            updated_at=value.updated_at,
            updated_by=value.updated_by,
        )


@strawberry.input(description="One criterion and its relative weight (0–100).")
class CriterionWeightInput:
    criterion: RoutingCriterion = strawberry.field(description="The criterion.")
    weight: float = strawberry.field(description="Relative weight, 0–100; at least one must be above 0.")


_COST = po.CostModel()


@strawberry.input(description="Cost model behind LOWEST_COST; omitted fields take the defaults.")
class CostModelInput:
    base_cents: int = strawberry.field(default=_COST.base_cents, description="Fixed part per shipment.")
    per_km_cents: float = strawberry.field(default=_COST.per_km_cents, description="Per km.")
    per_kg_cents: int = strawberry.field(default=_COST.per_kg_cents, description="Per started kg.")
    per_kg_km_cents: float = strawberry.field(default=_COST.per_kg_km_cents, description="Per started kg per km.")

    def to_domain(self) -> po.CostModel:
        return po.CostModel(
            base_cents=self.base_cents,
            per_km_cents=self.per_km_cents,
            per_kg_cents=self.per_kg_cents,
            per_kg_km_cents=self.per_kg_km_cents,
        )


_D = po.DEFAULT_POLICY


@strawberry.input(description="A routing policy. Omitted fields take the built-in defaults (not the current values).")
class RoutingPolicyInput:
    criteria: list[CriterionWeightInput] = strawberry.field(description="Weighted ranking criteria, each at most once.")
    max_distance_km: float | None = strawberry.field(default=None, description="Exclude locations farther than this.")
    max_splits: int = strawberry.field(default=_D.max_splits, description="Most locations one order may ship from (1–10).")
    ship_from_store: bool = strawberry.field(default=_D.ship_from_store, description="Whether stores may ship orders.")
    excluded_location_codes: list[str] = strawberry.field(default_factory=list, description="Never route to these.")
    min_priority: int | None = strawberry.field(default=None, description="Exclude locations with a lower priority.")
    split_only_when_needed: bool = strawberry.field(
        default=_D.split_only_when_needed, description="When one location can fill everything, never split."
    )
    cost_model: CostModelInput | None = strawberry.field(default=None, description="Cost model; defaults when omitted.")
    pickup_radius_km: float = strawberry.field(
        default=_D.pickup_radius_km, description="How far from a pick-up store to look for alternatives (km)."
    )
    explain_limit: int = strawberry.field(
        default=_D.explain_limit, description="Candidates listed per outcome in stored explanations (1–100)."
    )

    def to_domain(self) -> po.RoutingPolicy:
        """Unvalidated: services validate (so every transport gets the same checks)."""
        return po.RoutingPolicy(
            criteria=tuple(po.CriterionWeight(po.RoutingCriterion(c.criterion), c.weight) for c in self.criteria),
            max_distance_km=self.max_distance_km,
            max_splits=self.max_splits,
            ship_from_store=self.ship_from_store,
            excluded_location_ids=frozenset(self.excluded_location_codes),
            min_priority=self.min_priority,
            split_only_when_needed=self.split_only_when_needed,
            cost_model=self.cost_model.to_domain() if self.cost_model else po.CostModel(),
            pickup_radius_km=self.pickup_radius_km,
            explain_limit=self.explain_limit,
        )


@strawberry.input(description="Set the global routing policy, or one channel's.")
class SetRoutingPolicyInput:
    channel: str | None = strawberry.field(default=None, description="Channel code; omit for the global policy.")
    policy: RoutingPolicyInput | None = strawberry.field(
        default=None, description="The new policy. Omit (with a channel) to make the channel inherit the global policy."
    )
    reason: str | None = strawberry.field(default=None, description="Why, for the audit trail.")


@strawberry.type(description="The policy now in force for the scope that was set.")
class SetRoutingPolicyPayload:
    policy: RoutingPolicy = strawberry.field(description="The policy now in force.")


SetRoutingPolicyResult = Annotated[
    SetRoutingPolicyPayload | InvalidInputError | NotFoundError | ConflictError | PermissionDeniedError,
    strawberry.union("SetRoutingPolicyResult", description="The policy in force, or why it was not changed."),
]
