"""Routing policies: one document per scope, `_id` "global" or a channel id."""

from __future__ import annotations

from typing import Any

from pymongo.asynchronous.database import AsyncDatabase

from app.domain.routing.policy import ConfiguredPolicy, CostModel, CriterionWeight, RoutingCriterion, RoutingPolicy
from app.repositories.scoped_policies import ScopedPolicyRepository


def policy_to_doc(policy: RoutingPolicy) -> dict[str, Any]:
    """The policy's settings as plain data (also the `before`/`after` of RoutingPolicyChanged)."""
    cost = policy.cost_model
    return {
        "criteria": [{"criterion": c.criterion.value, "weight": c.weight} for c in policy.criteria],
        "max_distance_km": policy.max_distance_km,
        "max_splits": policy.max_splits,
        "ship_from_store": policy.ship_from_store,
        "excluded_location_ids": sorted(policy.excluded_location_ids),
        "min_priority": policy.min_priority,
        "split_only_when_needed": policy.split_only_when_needed,
        "cost_model": {
            "base_cents": cost.base_cents,
            "per_km_cents": cost.per_km_cents,
            "per_kg_cents": cost.per_kg_cents,
            "per_kg_km_cents": cost.per_kg_km_cents,
        },
        "pickup_radius_km": policy.pickup_radius_km,
        "explain_limit": policy.explain_limit,
    }


def policy_from_doc(doc: dict[str, Any]) -> RoutingPolicy:
    default = RoutingPolicy()
    base = default.cost_model
    cost = doc.get("cost_model") or {}
    return RoutingPolicy(
        criteria=tuple(CriterionWeight(RoutingCriterion(c["criterion"]), float(c["weight"])) for c in doc["criteria"]),
        max_distance_km=doc.get("max_distance_km"),
        max_splits=int(doc.get("max_splits", default.max_splits)),
        ship_from_store=bool(doc.get("ship_from_store", default.ship_from_store)),
        excluded_location_ids=frozenset(doc.get("excluded_location_ids", [])),
        min_priority=doc.get("min_priority"),
        split_only_when_needed=bool(doc.get("split_only_when_needed", default.split_only_when_needed)),
        cost_model=CostModel(
            base_cents=int(cost.get("base_cents", base.base_cents)),
            per_km_cents=float(cost.get("per_km_cents", base.per_km_cents)),
            per_kg_cents=int(cost.get("per_kg_cents", base.per_kg_cents)),
            per_kg_km_cents=float(cost.get("per_kg_km_cents", base.per_kg_km_cents)),
        ),
        pickup_radius_km=float(doc.get("pickup_radius_km", default.pickup_radius_km)),
        explain_limit=int(doc.get("explain_limit", default.explain_limit)),
    )


def _configured(doc: dict[str, Any]) -> ConfiguredPolicy:
    return ConfiguredPolicy(
        scope=doc["_id"],
        policy=policy_from_doc(doc),
        version=int(doc.get("version", 1)),
        updated_at=doc.get("updated_at"),
        updated_by=doc.get("updated_by"),
    )


class RoutingPolicyRepository(ScopedPolicyRepository[RoutingPolicy, ConfiguredPolicy]):
    def __init__(self, db: AsyncDatabase):
        super().__init__(db, "routing_policies", to_doc=policy_to_doc, configured=_configured)
