"""routingPolicy / setRoutingPolicy over HTTP on the real app and database."""

from __future__ import annotations

from typing import Any

from app.domain.principals import Role
from app.repositories.database import Mongo
from app.services.container import Services
from tests.conftest import GraphQLClient
from tests.factories import World, location
from tests.routing_network import at_km

POLICY_FIELDS = """
  scope source inherited version updatedBy maxSplits maxDistanceKm shipFromStore splitOnlyWhenNeeded
  excludedLocationCodes minPriority pickupRadiusKm explainLimit
  criteria { criterion weight } costModel { baseCents perKmCents perKgCents perKgKmCents }
"""

READ = f"query($channel: String) {{ routingPolicy(channel: $channel) {{ {POLICY_FIELDS} }} }}"

SET = f"""
mutation($input: SetRoutingPolicyInput!) {{
  setRoutingPolicy(input: $input) {{
    __typename
    ... on SetRoutingPolicyPayload {{ policy {{ {POLICY_FIELDS} }} }}
    ... on Error {{ code message field }}
    ... on InvalidInputError {{ issues {{ code field message }} }}
  }}
}}
"""

LOWEST_COST = {"criteria": [{"criterion": "LOWEST_COST", "weight": 2}, {"criterion": "NEAREST", "weight": 1}]}


async def _token(services: Services, role: Role, **scope: Any) -> str:
    _, token = await services.auth.create_api_key(name=f"test-{role.value.lower()}", role=role, **scope)
    return token


async def _nothing_written(mongo: Mongo) -> None:
    assert await mongo.db["routing_policies"].count_documents({}) == 0
    assert await mongo.db["events"].count_documents({"type": "RoutingPolicyChanged"}) == 0


async def test_the_default_policy_reads_as_inherited_for_a_channel(gql: GraphQLClient, world: World) -> None:
    data = await gql.data(READ, {"channel": "web"})
    policy = data["routingPolicy"]
    assert (policy["scope"], policy["source"], policy["inherited"], policy["version"]) == ("web", "global", True, 0)
    assert policy["criteria"] == [{"criterion": "NEAREST", "weight": 1.0}, {"criterion": "FEWEST_SHIPMENTS", "weight": 1.0}]
    assert policy["costModel"] == {"baseCents": 500, "perKmCents": 0.5, "perKgCents": 80, "perKgKmCents": 0.05}
    assert (await gql.data(READ))["routingPolicy"]["scope"] == "global"


async def test_admin_sets_a_channel_policy_and_reads_it_back(gql: GraphQLClient, world: World, mongo: Mongo) -> None:
    await world.add_locations(location("ST-OUT", at_km(5)))
    new_policy = {**LOWEST_COST, "maxSplits": 2, "maxDistanceKm": 400, "shipFromStore": False,
                  "excludedLocationCodes": ["ST-OUT"], "costModel": {"baseCents": 300}}
    result = (await gql.data(SET, {"input": {"channel": "amazon", "policy": new_policy, "reason": "marketplace fees"}}))
    payload = result["setRoutingPolicy"]
    assert payload["__typename"] == "SetRoutingPolicyPayload"
    stored = payload["policy"]
    assert (stored["scope"], stored["inherited"], stored["version"], stored["maxSplits"]) == ("amazon", False, 1, 2)
    assert stored["updatedBy"] == "apikey:test-admin"
    assert stored["costModel"] == {"baseCents": 300, "perKmCents": 0.5, "perKgCents": 80, "perKgKmCents": 0.05}
    read = (await gql.data(READ, {"channel": "amazon"}))["routingPolicy"]
    assert read == stored
    assert (await gql.data(READ, {"channel": "web"}))["routingPolicy"]["inherited"] is True
    event = await mongo.db["events"].find_one({"type": "RoutingPolicyChanged"})
    assert event is not None and (event["channel_id"], event["reason"]) == ("amazon", "marketplace fees")

    cleared = await gql.data(SET, {"input": {"channel": "amazon"}})
    assert cleared["setRoutingPolicy"]["policy"]["inherited"] is True
    assert await mongo.db["events"].count_documents({"type": "RoutingPolicyChanged"}) == 2


async def test_non_admins_get_a_typed_refusal_and_nothing_is_written(
    gql: GraphQLClient, services: Services, world: World, mongo: Mongo
) -> None:
    for role, scope in [
        (Role.CSR, {}),
        (Role.WAREHOUSE, {"location_ids": frozenset({"DC-1"})}),
        (Role.CHANNEL, {"channel_id": "amazon"}),
    ]:
        caller = gql.as_(await _token(services, role, **scope))
        result = (await caller.data(SET, {"input": {"channel": "amazon", "policy": LOWEST_COST}}))["setRoutingPolicy"]
        assert (result["__typename"], result["code"]) == ("PermissionDeniedError", "FORBIDDEN"), role
    await _nothing_written(mongo)


async def test_invalid_input_lists_every_issue_and_writes_nothing(gql: GraphQLClient, world: World, mongo: Mongo) -> None:
    bad = {
        "criteria": [{"criterion": "NEAREST", "weight": -1}, {"criterion": "LOWEST_COST", "weight": 1000}],
        "maxSplits": 0,
        "excludedLocationCodes": ["ST-NOWHERE"],
    }
    result = (await gql.data(SET, {"input": {"policy": bad}}))["setRoutingPolicy"]
    assert (result["__typename"], result["code"]) == ("InvalidInputError", "INVALID_INPUT")
    assert sorted(tuple(issue["field"]) for issue in result["issues"]) == [
        ("policy", "criteria", "0", "weight"),
        ("policy", "criteria", "1", "weight"),
        ("policy", "excludedLocationCodes", "0"),
        ("policy", "maxSplits"),
    ]
    none_positive = {"criteria": [{"criterion": "NEAREST", "weight": 0}]}
    result = (await gql.data(SET, {"input": {"policy": none_positive}}))["setRoutingPolicy"]
    assert (result["__typename"], result["field"]) == ("InvalidInputError", ["policy", "criteria"])
    unknown = (await gql.data(SET, {"input": {"channel": "nope", "policy": LOWEST_COST}}))["setRoutingPolicy"]
    assert (unknown["__typename"], unknown["code"], unknown["field"]) == ("NotFoundError", "NOT_FOUND", ["channel"])
    await _nothing_written(mongo)


async def test_reading_policies_is_scoped(gql: GraphQLClient, services: Services, world: World) -> None:
    channel = gql.as_(await _token(services, Role.CHANNEL, channel_id="amazon"))
    assert (await channel.data(READ, {"channel": "amazon"}))["routingPolicy"]["scope"] == "amazon"
    refused = await channel(READ, {"channel": "web"})
    assert refused["data"] is None and refused["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    anonymous = await gql.as_(None)(READ)
    assert anonymous["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
