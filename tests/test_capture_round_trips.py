"""A capture reads each thing once and writes each collection once: the database commands of one
captureOrder, counted (bench/capture_costs.py compares them with the raw-PyMongo baseline)."""

from __future__ import annotations

from collections import Counter
from collections.abc import AsyncIterator

import pytest

from app.domain.principals import SYSTEM
from app.repositories.database import Mongo, connect
from app.services.container import Services, build_services
from bench.capture_costs import RequestCommands, counted
from tests.factories import World, customer, level, product
from tests.order_helpers import capture_input, capture_request, network

pytestmark = pytest.mark.usefixtures("reservations_consistent")

# Outside the transaction: the channel and the products (validation). Inside: the (channel,
# external id) lookup, the customer match, routing's policy, stock and locations, one bulk write
# reserving every level, the order, its shipments, every event in one insert, and the commit.
ONE_CAPTURE = {
    "find:channels": 1,
    "find:products": 1,
    "find:orders": 1,
    "find:customers": 1,
    "find:routing_policies": 1,
    "find:inventory": 1,
    "find:locations": 1,
    "update:inventory": 1,
    "insert:orders": 1,
    "insert:shipments": 1,
    "insert:events": 1,
    "commitTransaction": 1,
}


@pytest.fixture
async def listened(mongodb_uri: str, database_name: str, mongo: Mongo) -> AsyncIterator[Services]:
    """The services on a client whose commands are counted (the test's database, indexes made)."""
    handle = Mongo(connect(mongodb_uri, event_listeners=[RequestCommands()]), database_name)
    try:
        yield build_services(handle, allow_anonymous_admin=False, scheduler_interval_seconds=0)
    finally:
        await handle.close()


async def commands_of_capture(services: Services, given: dict[str, object]) -> Counter[str]:
    with counted() as commands:
        await services.order_capture.capture(SYSTEM, capture_request(given))
    return commands


async def test_a_capture_reserving_at_two_locations_makes_one_round_trip_per_step(world: World, listened: Services) -> None:
    await network(world)
    await world.add_customers(customer(email="ada@example.com"))
    # SKU-2 from Boston, SKU-3 from Chicago (the only places shipping them): two levels, one write.
    given = capture_input("W-RT", lines=[{"sku": "SKU-2", "quantity": 1}, {"sku": "SKU-3", "quantity": 1}])
    assert await commands_of_capture(listened, given) == Counter(ONE_CAPTURE)
    shipments = await listened.mongo.db["shipments"].count_documents({})
    assert shipments == 2


async def test_a_new_customer_adds_only_its_own_writes(world: World, listened: Services) -> None:
    await network(world)
    commands = await commands_of_capture(listened, capture_input("W-NEW"))
    assert commands == Counter(ONE_CAPTURE) + Counter({"insert:customers": 1, "insert:customer_keys": 1})


async def test_a_replay_reads_the_stored_order_and_writes_nothing(world: World, listened: Services) -> None:
    await network(world)
    await commands_of_capture(listened, capture_input("W-TWICE"))
    commands = await commands_of_capture(listened, capture_input("W-TWICE"))
    assert commands == Counter({"find:channels": 1, "find:products": 1, "find:orders": 1, "commitTransaction": 1})


async def test_stock_events_start_from_the_levels_routing_read(world: World, listened: Services) -> None:
    """The reservation is not read back: the StockLevelChanged event is built from the level as the
    transaction read it, and says the same as the level now stored."""
    await network(world)
    await world.add_products(product("SKU-9"))
    await world.add_stock(level("SKU-9", "ST-BOS", 20, safety_stock=3, incoming=7, reorder_point=12, reorder_quantity=30))
    await commands_of_capture(listened, capture_input("W-EV", lines=[{"sku": "SKU-9", "quantity": 5}]))
    db = listened.mongo.db
    event = await db["events"].find_one({"type": "StockLevelChanged"})
    stored = await db["inventory"].find_one({"_id": "SKU-9@ST-BOS"})
    assert (stored["on_hand"], stored["reserved"], stored["available"]) == (20, 5, 12)
    assert event["payload"] == {
        "onHand": 20,
        "reserved": 5,
        "safetyStock": 3,
        "incoming": 7,
        "available": 12,
        "previousAvailable": 17,
        "reorderPoint": 12,
        "reorderQuantity": 30,
        "cause": "RESERVATION",
        "onHandDelta": 0,
        "reservedDelta": 5,
    }
    # Below its reorder point: the replenishment marker is left in the same transaction.
    assert await db["reorder_crossings"].count_documents({}) == 1
