"""Requests end cycle-free: what an operation built is freed by reference counting when it ends, so
the cycle collector (which pauses every request while it walks the heap) finds none of it.

Deterministic, not timed: with the collector off, representative operations run in-process against
a real server (uvicorn, HTTP and WebSocket); then one collection with DEBUG_SAVEALL lists every
object that only a reference cycle kept alive. None of them may come from a request: no domain
object, no GraphQL result, executor, context or DataLoader state, no future or task. (The clients
in this process, httpx and websockets, and the connections themselves leave cycles of their own;
those are per connection, not per request, and not counted.)
"""

from __future__ import annotations

import asyncio
import collections
import gc
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import pytest
from strawberry.dataloader import DataLoader

from app.domain.principals import Role
from app.repositories.database import Mongo
from app.services.container import Services
from app.services.demo_seed import SeedSize, seed_demo
from app.settings import Settings
from graphql_schema.dataloaders import Loaders
from tests.realtime import GraphQLWs, InProcessServer, append, order_event, realtime_settings, serve
from tests.test_customers import gid

ORDERS_PAGE = """{ orders(first: 50) { edges { node {
  id externalId status createdAt channel { name } customer { displayName email }
  totals { total { amount currency } } lines { sku quantity product { name } }
} } pageInfo { endCursor } } }"""
CUSTOMER_360 = """query($id: ID!) { customer(id: $id) {
  displayName identities { externalId } lifetime { orderCount spend { cents } }
  orders(first: 10) { edges { node { externalId status lines { sku product { name } } } } }
} }"""
CUSTOMERS_WITH_ORDERS = """{ customers(first: 10) { edges { node {
  displayName orders(first: 5) { edges { node { externalId status totals { total { cents } } } } }
} } } }"""
STORE_AVAILABILITY = """query($sku: String!, $lat: Float!, $lng: Float!) {
  storeAvailability(skus: [$sku], near: {lat: $lat, lng: $lng}, radiusKm: 1000, first: 10) {
    locationCode distanceKm location { name } items { sku available }
  }
}"""
CAPTURE = """mutation($input: CaptureOrderInput!) { captureOrder(input: $input) {
  __typename ... on CaptureOrderPayload { order { id status lines { sku } } } ... on Error { code message }
} }"""
ORDER_UPDATED = """subscription($orderId: ID) { orderUpdated(orderId: $orderId) { cursor status event { type payload } } }"""

# Where objects built for a request come from: ours, Strawberry's and graphql-core's.
REQUEST_MODULES = ("app.", "graphql_schema.", "subscriptions.", "resolvers.", "strawberry.", "graphql.")
REQUEST_TYPES = frozenset({"_asyncio.Future", "_asyncio.Task", "builtins.frame", "builtins.traceback"})


def _type_name(obj: object) -> str:
    return f"{type(obj).__module__}.{type(obj).__qualname__}"


def _from_requests(garbage: list[object]) -> collections.Counter[str]:
    return collections.Counter(
        name for name in map(_type_name, garbage) if name.startswith(REQUEST_MODULES) or name in REQUEST_TYPES
    )


async def _cycle_garbage(work: Callable[[], Awaitable[None]]) -> list[object]:
    """What `work` left that only the cycle collector could free."""
    gc.collect()
    gc.disable()
    gc.set_debug(gc.DEBUG_SAVEALL)
    try:
        await work()
        gc.collect()
        return list(gc.garbage)
    finally:
        gc.set_debug(0)
        gc.garbage.clear()
        gc.enable()


class Shop:
    """A seeded shop and its clients: every representative operation, once per `round`."""

    def __init__(self, mongo: Mongo, server: InProcessServer, http: httpx.AsyncClient, token: str, facts: dict[str, Any]):
        self.mongo, self.server, self.http, self.token, self.facts = mongo, server, http, token, facts
        self.rounds = 0

    async def data(self, query: str, variables: dict[str, Any] | None = None) -> dict[str, Any]:
        response = await self.http.post("/graphql", json={"query": query, "variables": variables or {}})
        body = response.json()
        assert not body.get("errors"), body["errors"]
        return body["data"]

    async def round(self) -> None:
        self.rounds += 1
        facts = self.facts
        page = await self.data(ORDERS_PAGE)
        assert len(page["orders"]["edges"]) == 50
        await self.data(CUSTOMER_360, {"id": gid("Customer", facts["customer_id"])})
        await self.data(CUSTOMERS_WITH_ORDERS)
        stores = await self.data(STORE_AVAILABILITY, {"sku": facts["sku"], "lat": facts["lat"], "lng": facts["lng"]})
        assert stores["storeAvailability"]
        order = {
            "channel": "web",
            "externalId": f"CYCLES-{self.rounds}",
            "customer": {"email": facts["email"]},
            "lines": [{"sku": facts["sku"], "quantity": 1}],
            "delivery": {
                "method": "SHIP",
                "address": {"line1": "1 Main St", "city": "Chicago", "postalCode": "60601", "region": "IL", "country": "US"},
            },
        }
        captured = await self.data(CAPTURE, {"input": order})
        assert captured["captureOrder"]["__typename"] == "CaptureOrderPayload", captured
        refused = await self.data(CAPTURE, {"input": {**order, "externalId": f"NO-{self.rounds}", "lines": [{"sku": "NO-SUCH", "quantity": 1}]}})
        assert refused["captureOrder"]["__typename"] != "CaptureOrderPayload", refused
        # A field error (a malformed id): the executor keeps the exception, with its traceback.
        failed = (await self.http.post("/graphql", json={"query": CUSTOMER_360, "variables": {"id": "not-an-id"}})).json()
        assert failed["errors"]
        await self.subscription_delivers_events()

    async def subscription_delivers_events(self) -> None:
        watched = self.facts["order"]
        async with GraphQLWs.connect(self.server.ws_url, self.token) as client:
            await client.subscribe(ORDER_UPDATED, {"orderId": gid("Order", watched.id)})
            await self.server.subscribed(1)
            await append(self.mongo, order_event(watched, step=self.rounds), order_event(watched, step=-self.rounds))
            got = await client.take("orderUpdated", 2)
            assert [g["event"]["payload"]["step"] for g in got] == [self.rounds, -self.rounds]
        while self.server.realtime.hub.subscribers:  # the server's side of the socket has closed
            await asyncio.sleep(0.01)


class _Watched:
    def __init__(self, order: dict[str, Any]):
        self.id, self.customer_id, self.channel_id = order["_id"], order["customer_id"], order["channel_id"]


@pytest.fixture
async def shop(mongo: Mongo, services: Services, settings: Settings) -> Any:
    await seed_demo(mongo, SeedSize(locations=6, skus=30, customers=12, orders=80), seed=11)
    _, token = await services.auth.create_api_key(name="cycles", role=Role.ADMIN)
    customer = await mongo.db.customers.find_one({"email": {"$ne": None}})
    stocked = await mongo.db.inventory.find_one({"location_kind": "STORE", "available": {"$gt": 1}, "point": {"$exists": True}})
    watched = await mongo.db.orders.find_one({})
    facts = {
        "customer_id": customer["_id"],
        "email": customer["email"],
        "sku": stocked["sku"],
        "lng": stocked["point"]["coordinates"][0],
        "lat": stocked["point"]["coordinates"][1],
        "order": _Watched(watched),
    }
    async with serve(realtime_settings(settings)) as server:
        base = f"http://127.0.0.1:{server.port}"
        async with httpx.AsyncClient(base_url=base, headers={"Authorization": f"Bearer {token}"}, timeout=60) as http:
            yield Shop(mongo, server, http, token, facts)


async def test_requests_leave_nothing_for_the_cycle_collector(shop: Shop) -> None:
    await shop.round()  # first use: imports, caches and connection pools settle

    async def three_rounds() -> None:
        for _ in range(3):
            await shop.round()

    left = _from_requests(await _cycle_garbage(three_rounds))

    assert left == collections.Counter(), f"objects of finished requests freed only by the cycle collector: {left.most_common(20)}"


async def test_a_failed_load_releases_its_batch(services: Services) -> None:
    """A load function that raises leaves its exception in every future of the batch; the
    traceback's frames hold the batch, which holds the futures: released, nothing is left."""

    async def unreachable_warehouse(keys: list[str]) -> list[Any]:
        raise ConnectionError(f"warehouse system down for {len(keys)} SKUs")

    loaders = Loaders(services, principal=None)  # type: ignore[arg-type]
    loaders.__dict__["product_by_sku"] = DataLoader(unreachable_warehouse)

    async def failed_loads() -> None:
        results = await asyncio.gather(*(loaders.product_by_sku.load(f"SKU-{n}") for n in range(20)), return_exceptions=True)
        assert all(isinstance(result, ConnectionError) for result in results)
        loaders.release()
        assert "product_by_sku" not in vars(loaders)

    left = _from_requests(await _cycle_garbage(failed_loads))

    assert left == collections.Counter(), left.most_common(20)

