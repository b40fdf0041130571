"""/metrics: the Prometheus scrape, read with prometheus-client's own text parser, for ADMIN
credentials only; its counters move with what the OMS does (docs/OPERATIONS.md, "Metrics").

Metrics are per process and tests share processes, so every assertion compares a scrape taken
before with one taken after."""

from __future__ import annotations

import asyncio
import gc
import os
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from app.domain.orders import OrderStatus
from app.domain.principals import Role
from app.repositories.database import Mongo, Session
from app.services.container import Services
from app.settings import ApiLimits, Settings
from tests.factories import World, customer, order
from tests.order_helpers import CAPTURE, capture_input, network
from tests.realtime import GraphQLWs, append, order_event, realtime_settings, serve
from tests.security_helpers import client_for, post

pytestmark = pytest.mark.usefixtures("reservations_consistent")

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def parse(text: str) -> Samples:
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


def total(samples: Samples, name: str, **labels: str) -> float:
    """The sum over every series of `name` whose labels include `labels`."""
    wanted = set(labels.items())
    return sum(v for (n, series), v in samples.items() if n == name and wanted <= series)


async def scrape(client: httpx.AsyncClient, token: str) -> Samples:
    response = await client.get("/metrics", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain")
    return parse(response.text)


async def until(check: Callable[[], Awaitable[bool]], *, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not await check():
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.05)


async def test_metrics_answer_admins_only(settings: Settings, services: Services, admin_token: str) -> None:
    _, csr = await services.auth.create_api_key(name="csr", role=Role.CSR)
    async with client_for(settings) as client:
        anonymous = await client.get("/metrics")
        bad = await client.get("/metrics", headers={"Authorization": "Bearer oms_nope_nope"})
        forbidden = await client.get("/metrics", headers={"X-API-Key": csr})
        allowed = await client.get("/metrics", headers={"X-API-Key": admin_token})
    assert (anonymous.status_code, anonymous.json()["code"]) == (401, "UNAUTHENTICATED")
    assert (bad.status_code, bad.json()["code"]) == (401, "INVALID_CREDENTIAL")
    assert (forbidden.status_code, forbidden.json()["code"]) == (403, "FORBIDDEN")
    assert "oms_" not in anonymous.text + bad.text + forbidden.text
    assert allowed.status_code == 200
    families = {family.name for family in text_string_to_metric_families(allowed.text)}
    assert {"oms_graphql_operations", "oms_process_resident_memory_bytes", "oms_gc_pause_seconds"} <= families


async def test_production_never_lets_the_anonymous_admin_read_metrics(settings: Settings) -> None:
    async with client_for(settings, env="production", allow_anonymous_admin=True) as client:
        assert (await client.get("/metrics")).status_code == 401


async def test_counters_move_with_captures_refusals_costs_and_the_event_log(
    settings: Settings, services: Services, admin_token: str, world: World
) -> None:
    await network(world)
    _, spender = await services.auth.create_api_key(name="spender", role=Role.ADMIN)
    pages = "query Pages { orders(first: 50) { edges { node { id } } } }"  # cost 101 each, ~1 actually spent
    # Costs more than the whole bucket: admitted only into an empty one, so refused after the pages.
    bigger = "query Bigger { orders(first: 100) { edges { node { id lines { sku } } } } }"
    async with client_for(settings, limits=ApiLimits(rate_capacity=250, rate_per_second=0.001)) as client:
        await until(lambda: _leading(client, admin_token))
        before = await scrape(client, admin_token)
        captured = await post(client, CAPTURE, {"input": capture_input("M-1")}, token=admin_token)
        replayed = await post(client, CAPTURE, {"input": capture_input("M-1")}, token=admin_token)
        refused = await post(
            client, CAPTURE, {"input": capture_input("M-2", lines=[{"sku": "NOPE", "quantity": 1, "unitPriceCents": 1}])},
            token=admin_token,
        )
        spent = [await post(client, query, token=spender) for query in (pages, pages, bigger)]
        gc.collect()

        async def stamped() -> bool:
            after = await scrape(client, admin_token)
            return value(after, "oms_events_stamped_total") > value(before, "oms_events_stamped_total")

        await until(stamped)
        after = await scrape(client, admin_token)

    assert captured.json()["data"]["captureOrder"]["__typename"] == "CaptureOrderPayload"
    assert replayed.json()["data"]["captureOrder"]["replayed"] is True
    refusal = refused.json()["data"]["captureOrder"]
    assert refusal["__typename"] != "CaptureOrderPayload"
    assert [r.status_code for r in spent] == [200, 200, 429]

    def delta(name: str, **labels: str) -> float:
        return total(after, name, **labels) - total(before, name, **labels)

    assert delta("oms_order_captures_total", outcome="captured") == 1
    assert delta("oms_order_captures_total", outcome="replayed") == 1
    assert delta("oms_order_captures_total", outcome="refused", code=refusal["code"]) == 1
    assert delta("oms_graphql_operations_total", transport="http", type="mutation", operation="_unnamed", code="OK") == 3
    assert delta("oms_graphql_operations_total", type="query", operation="Bigger", code="RATE_LIMITED") == 1
    assert delta("oms_graphql_operation_duration_seconds_count", type="mutation") == 3
    assert delta("oms_graphql_cost_total", type="query", operation="Pages") == 2 * 101  # the static cost charged
    assert delta("oms_rate_limit_refusals_total", transport="http") == 1
    assert delta("oms_http_requests_total", handler="/graphql", status="429") == 1
    assert delta("oms_http_requests_total", handler="/graphql", status="200") == 5
    assert delta("oms_mongo_transactions_total") >= 1
    assert delta("oms_events_stamped_total") >= 2  # OrderCaptured, OrderStatusChanged, CustomerCreated...
    assert delta("oms_events_dispatched_total") >= 1
    assert delta("oms_gc_pause_seconds_count") >= 1
    assert value(after, "oms_event_log_seq") >= value(after, "oms_event_hub_seq") > 0
    assert value(after, "oms_process_resident_memory_bytes") > 10 * 2**20
    assert delta("oms_sequencer_leaderships_total") == 0 and value(after, "oms_sequencer_leader") == 1


async def _leading(client: httpx.AsyncClient, token: str) -> bool:
    return value(await scrape(client, token), "oms_sequencer_leader") == 1


async def test_websockets_subscriptions_deliveries_and_lag(
    settings: Settings, admin_token: str, world: World, mongo: Mongo
) -> None:
    ada = customer()
    placed = order(ada.id, status=OrderStatus.ALLOCATED)
    await world.add_customers(ada)
    await world.add_orders(placed)
    async with serve(realtime_settings(settings)) as server:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{server.port}") as client:
            before = await scrape(client, admin_token)
            async with GraphQLWs.connect(server.ws_url, admin_token) as ws:
                await ws.subscribe("subscription { orderUpdated { cursor } }")
                await server.subscribed(1)
                during = await scrape(client, admin_token)
                await append(mongo, order_event(placed))
                assert (await ws.next_data("orderUpdated"))["cursor"]

                async def delivered() -> bool:
                    now = await scrape(client, admin_token)
                    return value(now, "oms_subscriber_lag_seconds_count") > value(before, "oms_subscriber_lag_seconds_count")

                await until(delivered)
                after = await scrape(client, admin_token)

            async def closed() -> bool:
                now = await scrape(client, admin_token)
                return value(now, "oms_websocket_connections") == value(before, "oms_websocket_connections") and value(
                    now, "oms_subscriptions", field="orderUpdated"
                ) == value(before, "oms_subscriptions", field="orderUpdated")

            await until(closed)

    assert value(during, "oms_websocket_connections") == value(before, "oms_websocket_connections") + 1
    assert value(during, "oms_subscriptions", field="orderUpdated") == value(before, "oms_subscriptions", field="orderUpdated") + 1
    assert value(after, "oms_events_delivered_total") >= value(before, "oms_events_delivered_total") + 1
    assert value(after, "oms_subscriber_lag_seconds_sum") >= value(before, "oms_subscriber_lag_seconds_sum")
    assert value(after, "oms_events_dispatched_total") > value(before, "oms_events_dispatched_total")


async def test_write_conflicts_and_transaction_retries_are_counted(mongo: Mongo) -> None:
    """Two transactions write one document: the second meets a WriteConflict and the helper runs it again."""
    from app import metrics

    await mongo.db["tallies"].insert_one({"_id": "t", "n": 0})
    first_wrote, second_retrying = asyncio.Event(), asyncio.Event()
    attempts = 0
    conflicts, retries = metrics.TRANSACTION_CONFLICTS._value.get(), metrics.TRANSACTION_RETRIES._value.get()

    async def first(session: Session) -> None:
        await mongo.db["tallies"].update_one({"_id": "t"}, {"$inc": {"n": 1}}, session=session)
        first_wrote.set()
        await second_retrying.wait()  # committed only once the second has met the conflict

    async def second(session: Session) -> None:
        nonlocal attempts
        attempts += 1
        if attempts > 1:
            second_retrying.set()
        await first_wrote.wait()
        await mongo.db["tallies"].update_one({"_id": "t"}, {"$inc": {"n": 10}}, session=session)

    await asyncio.gather(mongo.transaction(first), mongo.transaction(second))
    assert (await mongo.db["tallies"].find_one({"_id": "t"}))["n"] == 11
    assert metrics.TRANSACTION_CONFLICTS._value.get() - conflicts >= 1
    assert metrics.TRANSACTION_RETRIES._value.get() - retries == attempts - 1 >= 1


def test_several_worker_processes_answer_one_scrape(tmp_path: Path) -> None:
    """With PROMETHEUS_MULTIPROC_DIR, whichever worker answers the scrape reports every worker's counts."""
    env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(tmp_path)}
    worker = "from app import metrics; metrics.capture_outcome(replayed=False); metrics.WEBSOCKET_CONNECTIONS.inc()"
    leaving = worker + "; metrics.process_exiting()"
    for code in (worker, leaving):
        subprocess.run([sys.executable, "-c", code], env=env, check=True, timeout=60)
    reader = "import sys; from app import metrics; sys.stdout.write(metrics.exposition()[0].decode())"
    scraped = subprocess.run([sys.executable, "-c", reader], env=env, check=True, timeout=60, capture_output=True, text=True)
    samples = parse(scraped.stdout)
    assert value(samples, "oms_order_captures_total", outcome="captured", code="") == 2
    # A live gauge counts workers that have not marked themselves gone (the lifespan does at shutdown).
    assert value(samples, "oms_websocket_connections") == 1


async def test_scheduler_releases_are_counted_by_kind(world: World, services: Services) -> None:
    from app import metrics
    from app.domain.principals import SYSTEM
    from tests.order_helpers import capture_request

    await network(world)
    given = capture_input("W-A", lines=[{"sku": "SKU-HOT", "quantity": 11}])
    await services.order_capture.capture(SYSTEM, capture_request(given))
    # Stock written behind the service's back: only the scheduler's sweep fills the backorder.
    await services.mongo.db["inventory"].update_one({"_id": "SKU-HOT@DC-CHI"}, {"$inc": {"on_hand": 5, "available": 5}})
    backorders = metrics.SCHEDULER_RELEASES.labels("backorder")
    before = backorders._value.get()
    assert (await services.scheduler.tick()).filled == 1
    assert backorders._value.get() - before == 1
    assert (await services.scheduler.tick()).filled == 0
    assert backorders._value.get() - before == 1
