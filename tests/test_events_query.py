"""The `events` root query (the log in commit order, after a cursor) and event retention."""

from __future__ import annotations

import pytest

from app.domain.principals import Role
from app.repositories.database import Mongo
from app.repositories.indexes import ensure_event_retention, ensure_indexes
from app.services.container import Services
from tests.conftest import GraphQLClient
from tests.factories import World, customer, order
from tests.realtime import append, order_event, stock_event, wait_stamped
from tests.test_customers import gid

EVENTS = """
query($filter: EventFilterInput, $first: Int, $after: String) {
  events(filter: $filter, first: $first, after: $after) {
    edges { cursor node { type cursor orderId sku locationId payload } }
    pageInfo { hasNextPage hasPreviousPage endCursor }
  }
}
"""


async def test_events_pages_through_the_log_in_commit_order(
    world: World, gql: GraphQLClient, services: Services, mongo: Mongo
) -> None:
    placed = await world.placed_order()
    # The app behind `gql` runs the sequencer.
    for step in range(5):
        await append(mongo, order_event(placed, step=step))
    await append(mongo, stock_event("SKU-1", "ST-1", available=1, previous=2))
    await wait_stamped(mongo, 6)
    seen, after = [], None
    while True:
        page = (await gql.data(EVENTS, {"first": 2, "after": after}))["events"]
        seen += [e["node"]["cursor"] for e in page["edges"]]
        assert all(e["cursor"] == e["node"]["cursor"] for e in page["edges"])
        if not page["pageInfo"]["hasNextPage"]:
            break
        after = page["pageInfo"]["endCursor"]
    assert seen == ["1", "2", "3", "4", "5", "6"]
    only_stock = (await gql.data(EVENTS, {"filter": {"skus": ["SKU-1"]}}))["events"]["edges"]
    assert [(e["node"]["sku"], e["node"]["locationId"]) for e in only_stock] == [("SKU-1", "ST-1")]
    of_order = (await gql.data(EVENTS, {"filter": {"orderId": gid("Order", placed.id)}, "after": "3"}))["events"]
    assert [e["node"]["payload"]["step"] for e in of_order["edges"]] == [3, 4]
    assert of_order["pageInfo"]["hasPreviousPage"] is True
    too_many = await gql(EVENTS, {"first": 101})
    assert too_many["errors"][0]["extensions"]["code"] == "INVALID_INPUT"


async def test_events_are_scoped_to_the_caller(
    world: World, gql: GraphQLClient, services: Services, mongo: Mongo
) -> None:
    ada, bob = customer("Ada"), customer("Bob", "Builder")
    await world.add_customers(ada, bob)
    adas, bobs = order(ada.id, channel_id="web"), order(bob.id, channel_id="amazon")
    await world.add_orders(adas, bobs)
    await append(mongo, order_event(adas, step=1), order_event(bobs, step=2))
    await append(mongo, stock_event("SKU-1", "ST-BOS", available=1, previous=2))
    await append(mongo, stock_event("SKU-1", "ST-CHI", available=1, previous=2))
    await wait_stamped(mongo, 4)
    _, ada_token = await services.auth.create_api_key(name="ada", role=Role.CUSTOMER, customer_id=ada.id)
    _, amazon = await services.auth.create_api_key(name="amz", role=Role.CHANNEL, channel_id="amazon")
    _, staff = await services.auth.create_api_key(name="bos", role=Role.STORE_STAFF, location_ids=frozenset({"ST-BOS"}))

    async def types_and_keys(token: str, selection: dict | None = None) -> list[tuple]:
        edges = (await gql.as_(token).data(EVENTS, {"filter": selection}))["events"]["edges"]
        return [(e["node"]["orderId"] or e["node"]["locationId"]) for e in edges]

    assert await types_and_keys(ada_token) == [gid("Order", adas.id)]
    assert await types_and_keys(amazon) == [gid("Order", bobs.id)]
    assert await types_and_keys(staff) == ["ST-BOS"]
    denied = await gql.as_(ada_token)(EVENTS, {"filter": {"orderId": gid("Order", bobs.id)}})
    assert denied["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    denied = await gql.as_(staff)(EVENTS, {"filter": {"locationIds": ["ST-CHI"]}})
    assert denied["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    denied = await gql.as_(ada_token)(EVENTS, {"filter": {"aggregateTypes": ["InventoryLevel"]}})
    assert denied["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    anonymous = await gql.as_(None)(EVENTS)
    assert anonymous["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"


async def test_retention_is_a_ttl_index_in_days_changed_in_place(mongo: Mongo) -> None:
    async def ttl() -> int | None:
        indexes = {i["name"]: i async for i in await mongo.db.events.list_indexes()}
        return indexes["at"].get("expireAfterSeconds")

    assert await ttl() == 30 * 86_400  # the default, from ensure_indexes
    await ensure_event_retention(mongo.db, 7)
    assert await ttl() == 7 * 86_400
    # A restart with another setting changes it in place instead of failing on an index conflict.
    await ensure_indexes(mongo.db, event_retention_days=14)
    assert await ttl() == 14 * 86_400
    # A database from before retention existed has a plain `at` index: it becomes the TTL index.
    await mongo.db.events.drop_index("at")
    await mongo.db.events.create_index("at", name="at")
    assert await ttl() is None
    await ensure_indexes(mongo.db)
    assert await ttl() == 30 * 86_400
    with pytest.raises(ValueError):
        await ensure_event_retention(mongo.db, 0)
