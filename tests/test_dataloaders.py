"""No N+1: a nested query costs the same number of MongoDB commands for 3 customers or 15."""

from __future__ import annotations

import dataclasses

from collections import Counter
from typing import Any

import httpx

from app.asgi import create_app
from app.domain.principals import Role
from app.repositories.database import Mongo
from app.services.container import build_services
from app.settings import Settings
from tests.command_counter import CommandCounter
from tests.conftest import lifespan_of
from tests.factories import BOSTON, World, customer, location, order, product

NESTED = """
{
  customers(first: 50) {
    edges { node {
      displayName
      lifetime { orderCount byChannel { channel { name } } }
      orders(first: 5) { edges { node {
        externalId channel { name } customer { email }
        lines { sku product { name price { cents } } }
        allocations { location { name } }
        timeline { type }
      } } }
    } }
  }
}
"""


async def _commands_for(mongo: Mongo, settings: Settings, customers: int) -> Counter[str]:
    world = World(mongo)
    await world.add_channels()
    await world.add_locations(location("ST-BOS", BOSTON))
    await world.add_products(product("SKU-1"), product("SKU-2"))
    people = [customer(f"C{i}", "Test", email=f"c{i}@example.com") for i in range(customers)]
    await world.add_customers(*people)
    await world.add_orders(
        *[
            order(p.id, channel_id=("web", "amazon")[n % 2], external_id=f"{p.id}-{n}", lines=[("SKU-1", 1, 100), ("SKU-2", 2, 200)])
            for p in people
            for n in range(3)
        ]
    )
    _, token = await build_services(mongo).auth.create_api_key(name="n1", role=Role.ADMIN)
    counter = CommandCounter()
    # Only the request's commands count: the background sequencer and tail check stay off.
    quiet = dataclasses.replace(settings, relay_enabled=False, hub_tail_check_seconds=0)
    app = create_app(quiet, mongo_listeners=[counter])
    async with lifespan_of(app) as manager:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=manager.app), base_url="http://t") as client:
            headers = {"Authorization": f"Bearer {token}"}
            await client.post("/graphql", json={"query": "{ channels { id } }"}, headers=headers)  # warm the key cache
            counter.recording = True
            response = await client.post("/graphql", json={"query": NESTED}, headers=headers)
            counter.recording = False
    body: dict[str, Any] = response.json()
    assert not body.get("errors"), body
    assert len(body["data"]["customers"]["edges"]) == customers
    await mongo.db["customers"].delete_many({})
    await mongo.db["orders"].delete_many({})
    return counter.counts


async def test_nested_query_command_count_does_not_grow_with_rows(mongo: Mongo, settings: Settings) -> None:
    few = await _commands_for(mongo, settings, customers=3)
    many = await _commands_for(mongo, settings, customers=15)
    assert few == many, f"command counts grew with rows (N+1): {few} vs {many}"
    # One query per loader: customers, lifetime, orders page, channels, customer-by-id, products, locations, events.
    assert sum(many.values()) <= 8, many
