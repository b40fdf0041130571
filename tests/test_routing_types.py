"""The RoutingPlan / RoutingExplanation GraphQL types build into a schema and map plans faithfully.

`routingPreview` and `Order.routing` (the fields that expose them) belong to the orders area; this
executes the types through a throwaway schema so their mapping is tested where it is written."""

from __future__ import annotations

from typing import Any

import strawberry

from app.domain.routing.stored import explanation_to_dict
from app.domain.routing.plan import RoutingPlan as DomainPlan
from app.domain.routing.planner import plan_routing
from graphql_schema.types.routing import RoutingExplanation, RoutingPlan
from tests.routing_network import loc, pickup_at, policy, ship, stock

_PLANS: dict[str, DomainPlan] = {}


@strawberry.type
class _Query:
    @strawberry.field
    def plan(self, name: str) -> RoutingPlan:
        return RoutingPlan.from_domain(_PLANS[name])

    @strawberry.field
    def stored(self, name: str) -> RoutingExplanation | None:
        return RoutingExplanation.from_stored(explanation_to_dict(_PLANS[name].explanation))


_SCHEMA = strawberry.Schema(query=_Query)

EXPLANATION = """
  deliveryMethod channelCode policySource splitOnlyWhenNeeded maxSplits summary omittedCandidates pickupAlternatives
  criteria { criterion weight }
  candidates { locationCode locationName locationKind priority distanceKm outcome exclusions totalScore rank fillsAll note
               scores { criterion weight raw score weighted } fills { lineId sku wanted available fillable }
               allocated { key quantity } }
  exclusionCounts { reason count }
  decisions { step locationCode score runnerUpCode runnerUpScore reason allocated { key quantity } }
  lines { lineId sku quantity backordered split allocated { key quantity } }
"""

QUERY = f"""
query($name: String!) {{
  plan(name: $name) {{
    fullyAllocated estimatedCostCents
    allocations {{ lineId sku locationCode quantity }}
    backorders {{ lineId sku quantity }}
    shipments {{ locationCode lineIds units weightGrams distanceKm estimatedCostCents }}
    pickup {{ locationCode canFill reason alternatives {{ locationCode name distanceKm }} }}
    explanation {{ {EXPLANATION} }}
  }}
  stored(name: $name) {{ {EXPLANATION} }}
}}
"""


def _run(name: str) -> dict[str, Any]:
    result = _SCHEMA.execute_sync(QUERY, variable_values={"name": name})
    assert result.errors is None, result.errors
    assert result.data is not None
    return result.data


def test_a_split_and_backordered_plan_maps_to_graphql() -> None:
    locations = [loc("ST-A", 10), loc("DC-B", 200), loc("DC-X", 5, ships=False)]
    network = stock("ST-A", A=2) + stock("DC-B", A=1, B=1) + stock("DC-X", A=9)
    _PLANS["split"] = plan_routing(ship(("A", 4, 500), ("B", 1, 250)), locations, network, policy(), policy_source="web")
    data = _run("split")
    plan = data["plan"]
    assert plan["fullyAllocated"] is False
    assert plan["allocations"] == [
        {"lineId": "1", "sku": "A", "locationCode": "ST-A", "quantity": 2},
        {"lineId": "1", "sku": "A", "locationCode": "DC-B", "quantity": 1},
        {"lineId": "2", "sku": "B", "locationCode": "DC-B", "quantity": 1},
    ]
    assert plan["backorders"] == [{"lineId": "1", "sku": "A", "quantity": 1}]
    assert [s["locationCode"] for s in plan["shipments"]] == ["ST-A", "DC-B"]
    assert plan["estimatedCostCents"] == sum(s["estimatedCostCents"] for s in plan["shipments"])
    assert plan["pickup"] is None
    explanation = plan["explanation"]
    assert explanation["policySource"] == "web" and explanation["deliveryMethod"] == "SHIP"
    assert {c["locationCode"]: c["outcome"] for c in explanation["candidates"]} == {
        "ST-A": "CHOSEN", "DC-B": "CHOSEN", "DC-X": "EXCLUDED"
    }
    assert explanation["exclusionCounts"] == [{"reason": "DOES_NOT_SHIP", "count": 1}]
    assert explanation["lines"][0] == {
        "lineId": "1", "sku": "A", "quantity": 4, "backordered": 1, "split": True,
        "allocated": [{"key": "ST-A", "quantity": 2}, {"key": "DC-B", "quantity": 1}],
    }
    # What is stored on an order reads back exactly as the live plan's explanation.
    assert data["stored"] == explanation


def test_a_pickup_plan_maps_its_check_and_alternatives() -> None:
    locations = [loc("ST-PICK", 0), loc("ST-ALT", 4)]
    _PLANS["pickup"] = plan_routing(pickup_at("ST-PICK", ("A", 3)), locations, stock("ST-PICK", A=1) + stock("ST-ALT", A=3), policy())
    pickup = _run("pickup")["plan"]["pickup"]
    assert pickup["locationCode"] == "ST-PICK" and pickup["canFill"] is False and pickup["reason"] == "NO_STOCK"
    assert [(a["locationCode"], round(a["distanceKm"], 1)) for a in pickup["alternatives"]] == [("ST-ALT", 4.0)]
