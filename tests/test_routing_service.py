"""RoutingService against real MongoDB: policy storage, audit, refusals, and planning from the database."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from app.domain.errors import Forbidden, InvalidInput, NotFound
from app.domain.locations import LocationKind
from app.domain.principals import Principal, Role
from app.domain.routing.policy import DEFAULT_POLICY, CriterionWeight, RoutingCriterion as C, RoutingPolicy
from app.repositories.channels import ChannelRepository
from app.repositories.database import Mongo, Session
from app.repositories.events import EventRepository
from app.repositories.inventory import InventoryRepository
from app.repositories.locations import LocationRepository
from app.repositories.routing import RoutingPolicyRepository
from app.services.container import Services
from app.services.routing import RoutingService
from tests.factories import World, level, location
from tests.routing_network import at_km, pickup_at, ship

ADMIN = Principal(subject="alice", role=Role.ADMIN)
CHEAPEST = RoutingPolicy(criteria=(CriterionWeight(C.LOWEST_COST, 1),))


async def _policy_events(mongo: Mongo) -> list[dict[str, Any]]:
    return [doc async for doc in mongo.db["events"].find({"type": "RoutingPolicyChanged"}).sort("_id", 1)]


async def _network(world: World) -> None:
    """ST-NEAR is 10 km from the destination (0, 0) but costly to ship from; DC-FAR 300 km and cheap."""
    await world.add_locations(
        location("ST-NEAR", at_km(10), handling_cost_cents=3000),
        location("DC-FAR", at_km(300), LocationKind.DISTRIBUTION_CENTER),
        location("ST-PICK", at_km(20), handling_cost_cents=3000),
        location("ST-ALT", at_km(23), handling_cost_cents=3000),
    )
    await world.add_stock(
        level("A", "ST-NEAR", 5),
        level("A", "DC-FAR", 5),
        level("A", "ST-PICK", 1),
        level("A", "ST-ALT", 4),
        level("B", "ST-NEAR", 0),  # nothing: not read as a candidate for B
    )


async def test_the_built_in_default_is_in_force_until_a_policy_is_stored(services: Services, world: World) -> None:
    configured = await services.routing.policy_for("web")
    assert (configured.scope, configured.inherited, configured.source, configured.version) == ("web", True, "global", 0)
    assert configured.policy == DEFAULT_POLICY
    assert (await services.routing.policy_for(None)).inherited is False


async def test_admin_sets_global_and_channel_policies_each_audited(services: Services, world: World, mongo: Mongo) -> None:
    routing = services.routing
    stored = await routing.set_policy(ADMIN, None, RoutingPolicy(max_splits=2), reason="fewer parcels")
    assert (stored.scope, stored.version, stored.updated_by, stored.policy.max_splits) == ("global", 1, "alice", 2)
    web = await routing.policy_for("web")
    assert (web.inherited, web.source, web.policy.max_splits, web.version) == (True, "global", 2, 1)

    own = await routing.set_policy(ADMIN, "web", CHEAPEST)
    assert (own.scope, own.inherited, own.version) == ("web", False, 1)
    assert (await routing.policy_for("web")).policy == CHEAPEST
    assert (await routing.policy_for("pos")).policy.max_splits == 2  # other channels still inherit

    cleared = await routing.set_policy(ADMIN, "web", None, reason="back to global")
    assert (cleared.inherited, cleared.policy.max_splits) == (True, 2)
    assert await mongo.db["routing_policies"].count_documents({}) == 1

    events = await _policy_events(mongo)
    assert [(e["aggregate_id"], e.get("channel_id"), e["reason"]) for e in events] == [
        ("global", None, "fewer parcels"),
        ("web", "web", None),
        ("web", "web", "back to global"),
    ]
    assert events[0]["actor"] == {"subject": "alice", "role": "ADMIN"}
    assert events[0]["payload"]["before"] is None and events[0]["payload"]["after"]["max_splits"] == 2
    assert events[1]["payload"]["after"]["criteria"] == [{"criterion": "LOWEST_COST", "weight": 1.0}]
    assert events[2]["payload"]["before"]["criteria"][0]["criterion"] == "LOWEST_COST"
    assert events[2]["payload"]["after"] is None and events[2]["payload"]["inherited"] is True


@pytest.mark.parametrize(
    "principal",
    [
        Principal("csr", Role.CSR),
        Principal("staff", Role.STORE_STAFF, location_ids=frozenset({"ST-NEAR"})),
        Principal("amazon-bot", Role.CHANNEL, channel_id="amazon"),
        Principal("ada", Role.CUSTOMER, customer_id="c1"),
    ],
)
async def test_only_admins_may_change_a_policy_and_refusals_write_nothing(
    services: Services, world: World, mongo: Mongo, principal: Principal
) -> None:
    for scope in (None, "amazon"):
        with pytest.raises(Forbidden):
            await services.routing.set_policy(principal, scope, CHEAPEST)
    assert await mongo.db["routing_policies"].count_documents({}) == 0
    assert await _policy_events(mongo) == []


async def test_invalid_policies_and_unknown_references_are_refused_writing_nothing(
    services: Services, world: World, mongo: Mongo
) -> None:
    await world.add_locations(location("ST-NEAR", at_km(10)))
    bad = RoutingPolicy(
        criteria=(CriterionWeight(C.NEAREST, -2), CriterionWeight(C.NEAREST, 1)),
        max_splits=0,
        excluded_location_ids=frozenset({"ST-NEAR", "ST-GONE"}),
    )
    with pytest.raises(InvalidInput) as refused:
        await services.routing.set_policy(ADMIN, "web", bad)
    assert {issue.field for issue in refused.value.issues} == {
        ("policy", "criteria", "0", "weight"),
        ("policy", "criteria", "1", "criterion"),
        ("policy", "maxSplits"),
        ("policy", "excludedLocationCodes", "0"),  # sorted: ST-GONE (unknown), ST-NEAR
    }
    with pytest.raises(NotFound) as unknown:
        await services.routing.set_policy(ADMIN, "nope", CHEAPEST)
    assert unknown.value.field == ("channel",)
    with pytest.raises(InvalidInput) as global_removal:
        await services.routing.set_policy(ADMIN, None, None)
    assert global_removal.value.field == ("policy",)
    assert await mongo.db["routing_policies"].count_documents({}) == 0
    assert await _policy_events(mongo) == []


async def test_concurrent_changes_each_get_their_own_version_and_event(services: Services, world: World, mongo: Mongo) -> None:
    results = await asyncio.gather(
        *(services.routing.set_policy(ADMIN, None, RoutingPolicy(max_splits=n)) for n in range(1, 9))
    )
    assert sorted(r.version for r in results) == list(range(1, 9))
    events = await _policy_events(mongo)
    assert sorted(e["payload"]["version"] for e in events) == list(range(1, 9))
    final = await services.routing.policy_for(None)
    assert final.version == 8
    # The last committed write is what is stored, and its event says so.
    last = max(events, key=lambda e: e["payload"]["version"])
    assert last["payload"]["after"]["max_splits"] == final.policy.max_splits


async def test_reading_a_policy_is_for_staff_and_a_channel_reading_its_own(services: Services, world: World) -> None:
    routing = services.routing
    assert (await routing.configured_policy(Principal("csr", Role.CSR), "web")).scope == "web"
    channel = Principal("amazon-bot", Role.CHANNEL, channel_id="amazon")
    assert (await routing.configured_policy(channel, "amazon")).scope == "amazon"
    with pytest.raises(Forbidden):
        await routing.configured_policy(channel, "web")
    with pytest.raises(Forbidden):
        await routing.configured_policy(Principal("ada", Role.CUSTOMER, customer_id="c1"), None)
    with pytest.raises(NotFound):
        await routing.configured_policy(ADMIN, "nope")


async def test_plan_reads_the_network_and_follows_each_channels_policy(services: Services, world: World) -> None:
    await _network(world)
    await services.routing.set_policy(ADMIN, "amazon", CHEAPEST)
    web = await services.routing.plan(ship(("A", 2, 1000), channel="web"))
    amazon = await services.routing.plan(ship(("A", 2, 1000), channel="amazon"))
    assert web.location_ids == ("ST-NEAR",) and web.explanation.policy_source == "global"
    assert amazon.location_ids == ("DC-FAR",) and amazon.explanation.policy_source == "amazon"
    # Only locations holding available stock of the SKUs are read as candidates.
    assert {c.location_id for c in web.explanation.candidates} == {"ST-NEAR", "DC-FAR", "ST-PICK", "ST-ALT"}
    nothing = await services.routing.plan(ship(("B", 1)))
    assert nothing.explanation.candidates == () and nothing.backorders[0].quantity == 1


async def test_a_preview_policy_override_is_validated_and_marked(services: Services, world: World) -> None:
    await _network(world)
    plan = await services.routing.plan(ship(("A", 1, 1000)), policy_override=CHEAPEST)
    assert plan.location_ids == ("DC-FAR",) and plan.explanation.policy_source == "override"
    with pytest.raises(InvalidInput) as refused:
        await services.routing.plan(ship(("A", 1)), policy_override=RoutingPolicy(max_splits=99))
    assert refused.value.field == ("policy", "maxSplits")


async def test_plan_in_the_callers_transaction_sees_its_uncommitted_writes(services: Services, world: World, mongo: Mongo) -> None:
    await _network(world)
    inventory = mongo.db["inventory"]

    async def work(session: Session) -> tuple[tuple[str, ...], tuple[str, ...]]:
        # Reserve all of ST-NEAR's stock inside the transaction, as an order service would.
        await inventory.update_one(
            {"_id": "A@ST-NEAR"}, {"$inc": {"reserved": 5}, "$set": {"available": 0}}, session=session
        )
        inside = await services.routing.plan(ship(("A", 2)), session=session)
        outside = await services.routing.plan(ship(("A", 2)))
        return inside.location_ids, outside.location_ids

    inside, outside = await mongo.transaction(work)
    assert outside == ("ST-NEAR",)  # not committed yet: others still see the stock
    assert inside != ("ST-NEAR",) and "ST-NEAR" not in inside


async def test_pickup_plans_and_nearby_stores_from_the_database(services: Services, world: World) -> None:
    await _network(world)
    request = pickup_at("ST-PICK", ("A", 3))
    plan = await services.routing.plan(request)
    assert plan.pickup is not None and not plan.pickup.can_fill
    assert [a.location_id for a in plan.pickup.alternatives] == ["ST-ALT", "ST-NEAR"]
    nearby = await services.routing.nearby_pickup_stores(request)
    assert nearby == list(plan.pickup.alternatives)
    assert nearby[0].distance_km == pytest.approx(3, abs=1e-3)
    assert await services.routing.nearby_pickup_stores(ship(("A", 1))) == []


async def test_locations_are_read_fresh_by_default_and_cached_only_when_asked(
    services: Services, world: World, mongo: Mongo
) -> None:
    await _network(world)
    routing = services.routing
    db = mongo.db
    cached = RoutingService(
        mongo=mongo,
        policies=RoutingPolicyRepository(db),
        channels=ChannelRepository(db),
        locations=LocationRepository(db),
        inventory=InventoryRepository(db),
        events=EventRepository(db),
        location_cache_seconds=60,
    )
    assert (await routing.plan(ship(("A", 1)))).location_ids == ("ST-NEAR",)
    assert (await cached.plan(ship(("A", 1)))).location_ids == ("ST-NEAR",)
    await mongo.db["locations"].update_one({"_id": "ST-NEAR"}, {"$set": {"active": False}})
    fresh = await routing.plan(ship(("A", 1)))
    assert fresh.location_ids != ("ST-NEAR",)
    assert [c.exclusions for c in fresh.explanation.candidates if c.location_id == "ST-NEAR"] == [("INACTIVE",)]
    # Within its time to live the cache still holds the location as it was read.
    assert (await cached.plan(ship(("A", 1)))).location_ids == ("ST-NEAR",)
