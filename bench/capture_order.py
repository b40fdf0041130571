"""captureOrder over real HTTP against a raw-PyMongo baseline doing the same database work, plus a
flash sale where every order wants the same SKU.

    python -m bench.capture_order            # full run
    python -m bench.capture_order --quick    # smoke test, well under a minute
    make bench-capture

The server is `oms serve` (uvicorn) in a subprocess; clients are concurrent httpx.AsyncClient tasks
in this process. The baseline runs in this process with AsyncMongoClient and, per order, makes the
same reads and writes as the service: channel and products, then one transaction with the order-id
lookup, customer match, locations and stock reads, one guarded reserve per line, the order insert
and its events. Its ratio to the API is the overhead of HTTP, GraphQL and our layers.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from bench.capture_baseline import Baseline
from app.domain.cities import CITIES
from app.domain.principals import Role
from app.embedded_mongod import EmbeddedMongod, free_port
from app.repositories.database import Mongo, connect
from app.repositories.indexes import ensure_indexes
from app.repositories.inventory import InventoryRepository
from app.services.container import build_services
from app.services.demo_seed import SeedSize, seed_demo

DATABASE = "bench_capture"
_AVAILABLE = {"$set": {"available": {"$max": [0, {"$subtract": [{"$subtract": ["$on_hand", "$reserved"]}, "$safety_stock"]}]}}}
FLASH_SKU = "SKU-00007"
CAPTURE = """
mutation($input: CaptureOrderInput!) {
  captureOrder(input: $input) {
    __typename
    ... on CaptureOrderPayload { order { id status } }
    ... on Error { code message }
  }
}
"""


@dataclass
class RunResult:
    name: str
    orders: int
    seconds: float
    latencies_ms: list[float] = field(default_factory=list)
    outcomes: dict[str, int] = field(default_factory=dict)

    @property
    def rate(self) -> float:
        return self.orders / self.seconds if self.seconds else 0.0

    def add(self, other: RunResult) -> None:
        self.orders += other.orders
        self.seconds += other.seconds
        self.latencies_ms += other.latencies_ms
        for outcome, n in other.outcomes.items():
            self.outcomes[outcome] = self.outcomes.get(outcome, 0) + n

    def pct(self, q: float) -> float:
        if not self.latencies_ms:
            return 0.0
        ordered = sorted(self.latencies_ms)
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))]

    def summary(self) -> dict[str, Any]:
        return {
            "orders": self.orders,
            "seconds": round(self.seconds, 2),
            "orders_per_s": round(self.rate, 1),
            "p50_ms": round(self.pct(0.50), 1),
            "p99_ms": round(self.pct(0.99), 1),
            "mean_ms": round(statistics.fmean(self.latencies_ms), 1) if self.latencies_ms else 0.0,
            "outcomes": self.outcomes,
        }


def order_input(rng: random.Random, n: int, emails: list[str], skus: list[str], *, prefix: str, lines: int = 3) -> dict[str, Any]:
    city = rng.choice(CITIES)
    return {
        "channel": "web",
        "externalId": f"{prefix}-{n}",
        "customer": {"email": rng.choice(emails)},
        "lines": [{"sku": sku, "quantity": rng.choice((1, 1, 2))} for sku in rng.sample(skus, lines)],
        "delivery": {
            "method": "SHIP",
            "address": {"line1": f"{n} Main St", "city": city[0], "postalCode": city[2], "region": city[1]},
            "point": {"lat": round(city[3] + rng.uniform(-0.1, 0.1), 5), "lng": round(city[4] + rng.uniform(-0.1, 0.1), 5)},
        },
    }


async def drive(name: str, inputs: list[dict[str, Any]], clients: int, send: Any) -> RunResult:
    """`clients` workers take inputs from one queue; each records its request latencies."""
    queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
    for given in inputs:
        queue.put_nowait(given)
    result = RunResult(name=name, orders=len(inputs), seconds=0.0)

    async def worker() -> None:
        while True:
            try:
                given = queue.get_nowait()
            except asyncio.QueueEmpty:
                return
            started = time.perf_counter()
            outcome = await send(given)
            result.latencies_ms.append((time.perf_counter() - started) * 1000)
            result.outcomes[outcome] = result.outcomes.get(outcome, 0) + 1

    started = time.perf_counter()
    await asyncio.gather(*[worker() for _ in range(clients)])
    result.seconds = time.perf_counter() - started
    return result


def rss_mb(pid: int) -> dict[str, float]:
    """Resident set size now and at peak (VmHWM), from /proc."""
    values: dict[str, float] = {}
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(("VmRSS:", "VmHWM:")):
                key, kb = line.split()[:2]
                values["rss_mb" if key == "VmRSS:" else "peak_rss_mb"] = round(int(kb) / 1024, 1)
    except OSError:
        pass
    return values


async def prepare(uri: str, *, customers: int, flash_stock: int) -> tuple[str, list[str], list[str], int]:
    """Seeds the demo network, gives every level ample stock, and the flash-sale SKU exactly
    `flash_stock` units split over two distribution centers. Returns a channel key and inputs."""
    mongo = Mongo(connect(uri), DATABASE)
    try:
        await mongo.client.drop_database(DATABASE)
        await ensure_indexes(mongo.db)
        await seed_demo(mongo, SeedSize(locations=24, skus=200, customers=customers, orders=0), seed=7)
        inventory = mongo.db["inventory"]
        await inventory.update_many(
            {"sku": {"$ne": FLASH_SKU}},
            [{"$set": {"on_hand": {"$add": ["$on_hand", 1_000_000]}}}, _AVAILABLE],
        )
        await inventory.update_many({"sku": FLASH_SKU}, [{"$set": {"on_hand": 0, "safety_stock": 0}}, _AVAILABLE])
        dcs = [doc["_id"] async for doc in inventory.find({"sku": FLASH_SKU, "location_kind": "DISTRIBUTION_CENTER"}).sort("_id", 1).limit(2)]
        for index, level_id in enumerate(dcs):
            units = flash_stock // len(dcs) + (flash_stock % len(dcs) if index == 0 else 0)
            await inventory.update_one({"_id": level_id}, [{"$set": {"on_hand": units}}, _AVAILABLE])
        services = build_services(mongo, scheduler_interval_seconds=0)
        _, token = await services.auth.create_api_key(name="bench-web", role=Role.CHANNEL, channel_id="web")
        emails = [doc["email"] async for doc in mongo.db["customers"].find({}, {"email": 1})]
        skus = [doc["_id"] async for doc in mongo.db["products"].find({"_id": {"$ne": FLASH_SKU}}, {"_id": 1})]
        flash_stock = sum([doc["available"] async for doc in inventory.find({"sku": FLASH_SKU})])
        return token, emails, skus, flash_stock
    finally:
        await mongo.close()


async def invariant(uri: str) -> tuple[list[Any], dict[str, int]]:
    mongo = Mongo(connect(uri), DATABASE)
    try:
        mismatches = await InventoryRepository(mongo.db).reservation_mismatches()
        flash = {"on_hand": 0, "reserved": 0, "available": 0}
        async for doc in mongo.db["inventory"].find({"sku": FLASH_SKU}):
            for key in flash:
                flash[key] += doc[key]
        return mismatches, flash
    finally:
        await mongo.close()


def start_server(uri: str, port: int) -> subprocess.Popen[bytes]:
    env = os.environ | {
        "MONGODB_URI": uri,
        "OMS_DB_NAME": DATABASE,
        "OMS_ENV": "production",
        "OMS_LOG_LEVEL": "WARNING",
        "OMS_WORKERS": "1",  # one process, as measured so far; bench.workers compares 1 with 2
    }
    return subprocess.Popen(
        [sys.executable, "-m", "app.cli", "serve", "--host", "127.0.0.1", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=None,  # its warnings join ours: an unread pipe fills up on a long run and stalls the server
    )


async def wait_ready(base: str, server: subprocess.Popen[bytes]) -> None:
    async with httpx.AsyncClient() as client:
        for _ in range(300):
            if server.poll() is not None:
                raise SystemExit(f"server exited: {server.stderr.read().decode()[-2000:] if server.stderr else ''}")
            try:
                if (await client.get(f"{base}/readyz")).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            await asyncio.sleep(0.1)
    raise SystemExit("server did not become ready")


async def run(args: argparse.Namespace) -> dict[str, Any]:
    rng = random.Random(11)
    with tempfile.TemporaryDirectory(prefix="oms-bench-") as data_dir:
        mongod = None if os.environ.get("MONGODB_URI") else EmbeddedMongod(Path(data_dir), cache_size_gb=1.0)
        uri = os.environ.get("MONGODB_URI") or mongod.start()  # type: ignore[union-attr]
        try:
            token, emails, skus, flash_stock = await prepare(uri, customers=args.customers, flash_stock=args.flash_stock)
            port = free_port()
            base = f"http://127.0.0.1:{port}"
            server = start_server(uri, port)
            try:
                await wait_ready(base, server)
                return await measure(args, rng, uri, base, server, token, emails, skus, flash_stock)
            finally:
                server.terminate()
                server.wait(timeout=30)
        finally:
            if mongod is not None:
                mongod.stop()


async def capture_outcome(http: httpx.AsyncClient, given: dict[str, Any]) -> str:
    """What one captureOrder came to: the order's status, the refusal's code, or graphql-error."""
    return outcome_of((await http.post("/graphql", json={"query": CAPTURE, "variables": {"input": given}})).json())


def outcome_of(body: dict[str, Any]) -> str:
    if body.get("errors"):
        return "graphql-error"
    result = body["data"]["captureOrder"]
    return result["order"]["status"] if result["__typename"] == "CaptureOrderPayload" else result["code"]


async def measure(
    args: argparse.Namespace,
    rng: random.Random,
    uri: str,
    base: str,
    server: subprocess.Popen[bytes],
    token: str,
    emails: list[str],
    skus: list[str],
    flash_stock: int,
) -> dict[str, Any]:
    limits = httpx.Limits(max_connections=args.clients, max_keepalive_connections=args.clients)
    async with httpx.AsyncClient(base_url=base, headers={"Authorization": f"Bearer {token}"}, limits=limits, timeout=120) as http:

        async def via_api(given: dict[str, Any]) -> str:
            return await capture_outcome(http, given)

        baseline = Baseline(uri, DATABASE)
        try:
            warm = [order_input(rng, n, emails, skus, prefix="WARM") for n in range(args.warmup)]
            await drive("warm-up api", warm, args.clients, via_api)
            await drive("warm-up baseline", [order_input(rng, n, emails, skus, prefix="BWARM") for n in range(args.warmup)], args.clients, baseline.capture)

            # Interleaved in rounds (API first, then baseline first, ...): a machine busy for part of
            # the run slows both sides alike instead of one of them.
            api_inputs = [order_input(rng, n, emails, skus, prefix="API") for n in range(args.orders)]
            raw_inputs = [order_input(rng, n, emails, skus, prefix="RAW") for n in range(args.orders)]
            rounds = max(1, min(args.rounds, args.orders))
            api, raw = RunResult("api", 0, 0.0), RunResult("baseline", 0, 0.0)
            for r in range(rounds):
                sides = [(api, api_inputs, via_api), (raw, raw_inputs, baseline.capture)]
                for total, inputs, send in sides if r % 2 == 0 else sides[::-1]:
                    total.add(await drive(total.name, inputs[r::rounds], args.clients, send))
            api_rss = rss_mb(server.pid)

            flash_inputs = [
                order_input(rng, n, emails, [FLASH_SKU], prefix="FLASH", lines=1) | {"lines": [{"sku": FLASH_SKU, "quantity": 1}]}
                for n in range(args.flash_orders)
            ]
            flash = await drive("flash sale api", flash_inputs, args.clients, via_api)
            flash_rss = rss_mb(server.pid)
        finally:
            await baseline.close()
    mismatches, flash_level = await invariant(uri)
    allocated = flash.outcomes.get("ALLOCATED", 0)
    report = {
        "clients": args.clients,
        "api": api.summary(),
        "baseline": raw.summary(),
        "ratio_api_to_baseline": round(api.rate / raw.rate, 2) if raw.rate else None,
        "rounds": rounds,
        "load_average": [round(x, 2) for x in os.getloadavg()],
        "server_rss_after_api": api_rss,
        "flash_sale": flash.summary()
        | {
            "stock_available_before": flash_stock,
            "allocated_orders": allocated,
            "reserved_after": flash_level["reserved"],
            "on_hand_after": flash_level["on_hand"],
            "oversold": flash_level["reserved"] > flash_stock or allocated > flash_stock,
        },
        "server_rss_after_flash": flash_rss,
        "invariant_reserved_equals_open_allocations": not mismatches,
        "invariant_mismatches": [m.__dict__ if hasattr(m, "__dict__") else str(m) for m in mismatches[:10]],
    }
    return report


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="small run for smoke testing")
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--orders", type=int, default=3000)
    parser.add_argument("--flash-orders", type=int, default=2000)
    parser.add_argument("--flash-stock", type=int, help="units of the flash-sale SKU (default: a quarter of the orders)")
    parser.add_argument("--warmup", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=4, help="API and baseline take turns this many times each")
    parser.add_argument("--customers", type=int, default=2000)
    parser.add_argument("--json", type=Path, help="also write the report here")
    args = parser.parse_args(argv)
    if args.quick:
        args.clients, args.orders, args.flash_orders, args.warmup, args.customers = 8, 200, 150, 30, 200
    args.flash_stock = args.flash_orders // 4 if args.flash_stock is None else args.flash_stock
    report = asyncio.run(run(args))
    text = json.dumps(report, indent=2)
    print(text)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(text + "\n")
    if report["flash_sale"]["oversold"] or not report["invariant_reserved_equals_open_allocations"]:
        raise SystemExit("NO-OVERSELL INVARIANT BROKEN")


if __name__ == "__main__":
    main()
