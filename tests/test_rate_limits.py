"""Client budgets shared across instances: one leaky bucket per client in MongoDB (or Redis), so
several processes together allow a client exactly its budget; Shopify-style throttle status in
`extensions.cost` and the `rateLimit` query; a store outage fails open to per-process budgets."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

import httpx
from graphql import parse

from app.domain.principals import Role
from app.domain.rate_limits import LeakyBuckets
from app.repositories.database import Mongo
from app.repositories.rate_limits import COLLECTION, MongoBuckets, RedisBuckets
from app.services.rate_limits import ClientBudgets
from app.services.container import Services
from app.settings import ApiLimits, Settings
from graphql_schema.cost import actual_cost, operation_cost
from graphql_schema.schema import schema
from tests.realtime import SubprocessServer, free_port, redis_url
from tests.security_helpers import client_for, codes, post

__all__ = ["redis_url"]  # the fixture

CHANNELS = "{ channels { code } }"  # costs 1, uses 1
RATE_LIMIT = "{ rateLimit { maximumAvailable currentlyAvailable restoreRate maximumCost shared } }"


async def _spend_on_two_processes(settings: Settings, token: str, capacity: int, **env: str) -> list[int]:
    """2 × capacity requests of cost 1 from one client, spread over two server processes at once."""
    limits = {"OMS_RATE_CAPACITY": str(capacity), "OMS_RATE_PER_SECOND": "0.001", **env}
    async with SubprocessServer(settings, **limits) as one, SubprocessServer(settings, **limits) as two:
        headers = {"Authorization": f"Bearer {token}"}
        async with httpx.AsyncClient(headers=headers, timeout=60) as client:

            async def ask(port: int) -> int:
                answer = await client.post(f"http://127.0.0.1:{port}/graphql", json={"query": CHANNELS})
                return answer.status_code

            return list(await asyncio.gather(*(ask((one.port, two.port)[n % 2]) for n in range(2 * capacity))))


async def test_two_processes_together_allow_one_client_exactly_its_budget_in_mongodb(
    settings: Settings, services: Services, world: Any
) -> None:
    _, token = await services.auth.create_api_key(name="shop-frontend", role=Role.ADMIN)
    statuses = await _spend_on_two_processes(settings, token, 30)
    assert statuses.count(200) == 30 and statuses.count(429) == 30


async def test_two_processes_together_allow_one_client_exactly_its_budget_in_redis(
    settings: Settings, services: Services, world: Any, redis_url: str
) -> None:
    _, token = await services.auth.create_api_key(name="shop-frontend", role=Role.ADMIN)
    statuses = await _spend_on_two_processes(
        settings, token, 30, OMS_RATE_LIMIT_STORAGE="redis", OMS_RATE_LIMIT_REDIS_URL=redis_url
    )
    assert statuses.count(200) == 30 and statuses.count(429) == 30


async def test_concurrent_pours_never_overspend_and_a_bucket_expires_once_drained(mongo: Mongo, redis_url: str) -> None:
    for store in (MongoBuckets(mongo.db), RedisBuckets(redis_url)):
        poured = await asyncio.gather(
            *(store.pour(f"flash-sale-{store.name}", 1, capacity=20, rate_per_second=0.001) for _ in range(60))
        )
        assert sum(1 for ok, _ in poured if ok) == 20, store.name
        assert max(level for _, level in poured) <= 20
        # Units given back never take the bucket below empty.
        ok, level = await store.pour(f"flash-sale-{store.name}", -1_000, capacity=20, rate_per_second=0.001)
        assert ok and level == 0
        await store.close()
    # Drained, the bucket expires at once: empty and due within the second, unless the TTL monitor
    # (which runs every 60 s) has already removed it
    bucket = await mongo.db[COLLECTION].find_one({"_id": "flash-sale-mongodb"})
    if bucket is not None:
        assert bucket["level"] == 0 and bucket["expires_at"] <= bucket["at"].replace(microsecond=0) + timedelta(seconds=1)
    indexes = await mongo.db[COLLECTION].index_information()
    assert indexes["expires_at_ttl"]["expireAfterSeconds"] == 0


async def test_extensions_and_the_rate_limit_query_report_the_budget_like_shopify(
    settings: Settings, admin_token: str, world: Any
) -> None:
    # A slow restore rate: the unit this query takes cannot leak back before it is reported, however
    # long a busy machine takes between the charge and the answer.
    async with client_for(settings, limits=ApiLimits(rate_capacity=1_000, rate_per_second=0.01)) as client:
        body = (await post(client, RATE_LIMIT, token=admin_token)).json()
        budget = body["data"]["rateLimit"]
        assert budget["maximumAvailable"] == 1_000 and budget["restoreRate"] == 0.01
        assert budget["maximumCost"] == 50_000 and budget["shared"] is True
        assert budget["currentlyAvailable"] == 999  # this query's own cost is taken
        cost = body["extensions"]["cost"]
        assert cost["requested"] == cost["actual"] == 1
        assert set(cost["throttleStatus"]) == {"maximumAvailable", "currentlyAvailable", "restoreRate"}
    async with client_for(settings, limits=ApiLimits(rate_capacity=0)) as client:
        body = (await post(client, RATE_LIMIT, token=admin_token)).json()
        assert body["data"] == {"rateLimit": None} and "throttleStatus" not in body["extensions"]["cost"]


ORDERS_PAGE = "query($first: Int) { orders(first: $first) { edges { node { id totals { total { cents } } lines { unitPrice { cents } } } } } }"


def test_the_actual_cost_counts_what_came_back_by_the_static_rule() -> None:
    document = parse(ORDERS_PAGE)
    line = {"unitPrice": {"cents": 100}}
    order = {"id": "x", "totals": {"total": {"cents": 1}}, "lines": [line] * 10}
    full = {"orders": {"edges": [{"node": order}, {"node": order}]}}
    assert actual_cost(schema._schema, document, None, full) == operation_cost(schema._schema, document, None, {"first": 2})
    short = {"orders": {"edges": [{"node": {**order, "lines": [line]}}]}}
    assert actual_cost(schema._schema, document, None, short) == 1 + (1 + 1 + 2 + (1 + 1))
    assert actual_cost(schema._schema, document, None, {"orders": {"edges": []}}) == 1
    assert actual_cost(schema._schema, document, None, {"orders": None}) == 0


def test_local_buckets_take_back_unused_units_but_never_below_empty() -> None:
    buckets = LeakyBuckets(capacity=100, rate_per_second=10)
    assert buckets.take("a", 80, now=0).level == 80
    assert buckets.give_back("a", 50, now=0).level == 30
    assert buckets.give_back("a", 500, now=1).level == 0


async def test_a_store_outage_fails_open_to_per_process_budgets(
    settings: Settings, admin_token: str, world: Any
) -> None:
    nowhere = f"redis://127.0.0.1:{free_port()}/0"  # nothing listens there
    limits = ApiLimits(rate_capacity=3, rate_per_second=0.001)
    async with client_for(settings, limits=limits, rate_limit_storage="redis", rate_limit_redis_url=nowhere) as client:
        answers = [await post(client, CHANNELS, token=admin_token) for _ in range(3)]
        assert [a.status_code for a in answers] == [200, 200, 200]  # served, not 500
        assert all(not a.json().get("errors") for a in answers)
        # Still limited, by this process's own bucket.
        spent = await post(client, CHANNELS, token=admin_token)
        assert spent.status_code == 429 and codes(spent.json()) == ["RATE_LIMITED"]
    async with client_for(settings, limits=ApiLimits(rate_capacity=100), rate_limit_storage="redis", rate_limit_redis_url=nowhere) as client:
        budget = (await post(client, RATE_LIMIT, token=admin_token)).json()["data"]["rateLimit"]
        assert budget["shared"] is False


async def test_a_process_spends_a_leased_block_without_round_trips_and_gives_back_the_rest_with_the_next(
    settings: Settings, admin_token: str, mongo: Mongo, world: Any
) -> None:
    page = "{ orders(first: 50) { edges { node { id } } } }"  # charged 101, uses 1: there are no orders
    # A bucket of 1,000: leases of 10 units (1%).
    async with client_for(settings, limits=ApiLimits(rate_capacity=1_000, rate_per_second=0.001)) as client:
        first = (await post(client, page, token=admin_token)).json()["extensions"]["cost"]
        assert first["actual"] == 1 and first["throttleStatus"]["currentlyAvailable"] == 999
        stored = await mongo.db[COLLECTION].find_one({})
        assert stored is not None and round(stored["level"]) == 101  # the 100 unused not written yet
        # 10 of them refill the lease: ten queries of cost 1 make no round trip.
        for _ in range(10):
            await post(client, CHANNELS, token=admin_token)
        stored = await mongo.db[COLLECTION].find_one({})
        assert stored is not None and round(stored["level"]) == 101
        # The eleventh leases the next block, and the other 90 go back with it.
        cost = (await post(client, CHANNELS, token=admin_token)).json()["extensions"]["cost"]
        stored = await mongo.db[COLLECTION].find_one({})
        assert stored is not None and round(stored["level"]) == 101 - 90 + 10
        assert cost["throttleStatus"]["currentlyAvailable"] == 1_000 - 12  # 1 + 11 spent, 9 held


async def test_two_processes_leasing_blocks_still_allow_one_client_exactly_its_budget(
    settings: Settings, services: Services, world: Any
) -> None:
    """Blocks of 5 out of 30: whatever each process leased and spent, the 31st unit is refused on both."""
    _, token = await services.auth.create_api_key(name="shop-frontend", role=Role.ADMIN)
    statuses = await _spend_on_two_processes(settings, token, 30, OMS_RATE_LEASE_UNITS="5")
    assert statuses.count(200) == 30 and statuses.count(429) == 30


async def test_leases_hold_at_most_a_block_per_process_and_report_what_was_spent(mongo: Mongo, redis_url: str) -> None:
    for store in (MongoBuckets(mongo.db), RedisBuckets(redis_url)):
        client = f"till-{store.name}"
        one, two = (ClientBudgets(capacity=100, rate_per_second=0.001, store=store, lease_units=10) for _ in range(2))
        assert round((await one.take(client, 3)).level) == 3  # leased 10, spent 3
        assert round((await two.take(client, 4)).level) == 14  # sees the other's block as poured
        _, level = await store.pour(client, 0, capacity=100, rate_per_second=0.001)
        assert round(level) == 20  # one block each in the shared bucket, nothing more
        spent = [await one.take(client, 1) for _ in range(7)]  # the rest of its block: no round trip
        assert [round(d.level) for d in spent] == list(range(4, 11))
        _, level = await store.pour(client, 0, capacity=100, rate_per_second=0.001)
        assert round(level) == 20
        # Taken to the brim: admitted exactly what the bucket holds, then refused on both.
        admitted = 3 + 4 + 7
        while (await one.take(client, 1)).allowed:
            admitted += 1
        while (await two.take(client, 1)).allowed:
            admitted += 1
        assert admitted == 100
        refused = await two.take(client, 1)
        assert not refused.allowed and refused.retry_after_seconds >= 1
        await store.close()


async def test_a_stopping_process_returns_the_units_it_leased_and_did_not_spend(mongo: Mongo, redis_url: str) -> None:
    for store in (MongoBuckets(mongo.db), RedisBuckets(redis_url)):
        client = f"leaving-{store.name}"
        leaving = ClientBudgets(capacity=100, rate_per_second=0.001, store=store, lease_units=10)
        await leaving.take(client, 3)  # leases a block of 10, holds 7
        await leaving.take(client, 9)  # leases 10 more, holds 8
        leaving.give_back(client, 4, level=12)  # 2 refill its block, 2 are owed to the store
        _, level = await store.pour(client, 0, capacity=100, rate_per_second=0.001)
        assert round(level) == 20  # both blocks, as the other processes see the client
        await leaving.close()  # gives back the 10 it holds and the 2 it owes
        again = MongoBuckets(mongo.db) if store.name == "mongodb" else RedisBuckets(redis_url)
        _, level = await again.pour(client, 0, capacity=100, rate_per_second=0.001)
        assert round(level) == 3 + 9 - 4  # what its operations spent, nothing more
        await again.close()
