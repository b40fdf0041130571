"""Tails, memory and collector pauses at 16 clients: a page of 100 orders and a customer 360, each
variant of the server measured in interleaved rounds of the same run (a loaded machine slows every
variant alike), with p50/p99 per variant, RSS after every round, and gen-0/1/2 pauses from inside
each server (bench/gc_probe.py).

    .venv/bin/python -m bench.tails [--orders 20000 --clients 16 --rounds 4 --requests 64]
    .venv/bin/python -m bench.tails --before c45337e   # also the code of that commit, side by side

Variants: `after` (this tree, its own GC tuning), `after@T` (this tree with thresholds T, e.g.
--thresholds 20000,50,100 for the old tuning), and with --before REV `before` (that commit, exported
to a temporary directory, with its own tuning). Target: p99 ≤ 4 × p50 for every workload, RSS flat.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
from dataclasses import dataclass, field
from io import BytesIO
from pathlib import Path

import httpx

from app.domain.principals import Role
from app.repositories.database import Mongo, connect
from app.services.container import build_services
from app.services.demo_seed import SeedSize
from bench.harness import ROOT, mongodb, percentile, rss_mb, seed_unless_kept, server
from bench.orders_page import QUERY as ORDERS_PAGE

DATABASE = "bench_tails"

CUSTOMER_360 = """query($id: ID!) { customer(id: $id) {
  id displayName email phone
  identities { externalId channel { code kind } }
  lifetime { orderCount spend { amount currency } byChannel { channelCode orderCount spend { amount } } }
  orders(first: 20) { edges { node {
    id externalId status createdAt channel { name }
    totals { total { amount currency } }
    lines { sku name quantity unitPrice { amount } product { name } }
  } } pageInfo { hasNextPage endCursor } }
} }"""


@dataclass
class Tally:
    latencies_ms: list[float] = field(default_factory=list)
    seconds: float = 0.0
    errors: int = 0

    def summary(self) -> dict[str, float]:
        p50, p99 = percentile(self.latencies_ms, 50), percentile(self.latencies_ms, 99)
        return {
            "requests": len(self.latencies_ms),
            "per_s": round(len(self.latencies_ms) / self.seconds, 1) if self.seconds else 0.0,
            "p50_ms": round(p50, 1),
            "p95_ms": round(percentile(self.latencies_ms, 95), 1),
            "p99_ms": round(p99, 1),
            "p99_over_p50": round(p99 / p50, 2) if p50 else 0.0,
            "errors": self.errors,
        }


@dataclass
class Variant:
    name: str
    cwd: Path
    env: dict[str, str]
    gc_file: Path
    base: str = ""
    pid: int = 0
    rss_mb: list[float] = field(default_factory=list)
    tallies: dict[str, Tally] = field(default_factory=dict)


async def _prepare(uri: str, orders: int, seed: int) -> tuple[str, list[str]]:
    mongo = Mongo(connect(uri), DATABASE)
    try:
        seconds = await seed_unless_kept(mongo, SeedSize(locations=30, skus=1000, customers=orders // 5, orders=orders), seed=seed)
        if seconds is not None:
            print(f"seeded {orders} orders in {seconds:.1f}s", file=sys.stderr)
        _, token = await build_services(mongo).auth.create_api_key(name="bench", role=Role.CSR)
        # Customers with several orders: the 360 worth looking at.
        busy = await (await mongo.db.orders.aggregate([
            {"$group": {"_id": "$customer_id", "n": {"$sum": 1}}}, {"$match": {"n": {"$gte": 4}}}, {"$limit": 500},
        ])).to_list()
        return token, [row["_id"] for row in busy]
    finally:
        await mongo.close()


def _requests(workload: str, count: int, rng: random.Random, customers: list[str]) -> list[bytes]:
    import base64

    bodies = []
    for _ in range(count):
        if workload == "orders_page":
            channel = rng.choice([None, "web", "app", "pos"])
            variables = {"filter": None if channel is None else {"channels": [channel]}}
            bodies.append(json.dumps({"query": ORDERS_PAGE, "variables": variables}).encode())
        else:
            customer_id = base64.b64encode(f"Customer:{rng.choice(customers)}".encode()).decode()
            bodies.append(json.dumps({"query": CUSTOMER_360, "variables": {"id": customer_id}}).encode())
    return bodies


async def _drive(base: str, token: str, bodies: list[bytes], clients: int) -> Tally:
    """`clients` keep-alive connections take request bodies from one queue."""
    queue: asyncio.Queue[bytes] = asyncio.Queue()
    for body in bodies:
        queue.put_nowait(body)
    tally = Tally()
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    async with httpx.AsyncClient(base_url=base, headers=headers, timeout=120, limits=limits) as client:

        async def worker() -> None:
            while True:
                try:
                    body = queue.get_nowait()
                except asyncio.QueueEmpty:
                    return
                started = time.perf_counter()
                response = await client.post("/graphql", content=body)
                tally.latencies_ms.append((time.perf_counter() - started) * 1000)
                # Checked by bytes: parsing 100 orders here would load the client, not the server.
                if response.status_code != 200 or b'"errors"' in response.content[:40_000]:
                    tally.errors += 1
                    if tally.errors == 1:
                        print(f"first error: {response.text[:300]}", file=sys.stderr)

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(clients)))
        tally.seconds = time.perf_counter() - started
    return tally


def _export(rev: str) -> Path:
    """The tree of `rev`, as files in a temporary directory (no checkout, no worktree)."""
    target = Path(tempfile.mkdtemp(prefix=f"oms-bench-{rev[:10]}-"))
    archive = subprocess.run(["git", "archive", rev], cwd=ROOT, check=True, capture_output=True).stdout
    with tarfile.open(fileobj=BytesIO(archive)) as tar:
        tar.extractall(target)  # noqa: S202 - our own repository's tree
    return target


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--orders", type=int, default=20_000)
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--requests", type=int, default=64, help="orders pages per variant and round (4× as many 360s)")
    parser.add_argument("--before", help="a git revision to measure side by side (e.g. the commit before a change)")
    parser.add_argument("--thresholds", action="append", default=[], help="also this tree with gc thresholds a,b,c")
    parser.add_argument("--seed", type=int, default=4, help="demo data seed")
    parser.add_argument("--json", type=Path, help="write the result here too")
    args = parser.parse_args()

    scratch = Path(tempfile.mkdtemp(prefix="oms-bench-tails-"))  # the servers' GC reports
    variants = []
    if args.before:
        variants.append(Variant("before", _export(args.before), {}, scratch / "before.json"))
    variants.append(Variant("after", ROOT, {}, scratch / "after.json"))
    for thresholds in args.thresholds:
        variants.append(Variant(f"after@{thresholds}", ROOT, {"BENCH_GC_THRESHOLDS": thresholds}, scratch / f"after-{thresholds}.json"))
    workloads = ["orders_page", "customer_360"]
    probe = [sys.executable, str(ROOT / "bench" / "gc_probe.py")]
    rng = random.Random(7)

    with mongodb() as uri:
        token, customers = asyncio.run(_prepare(uri, args.orders, args.seed))
        with contextlib.ExitStack() as stack:
            for variant in variants:
                env = {**variant.env, "BENCH_GC_FILE": str(variant.gc_file), "OMS_SCHEDULER_INTERVAL": "0",
                       # A loaded machine is slow, not down: measure the wait instead of shedding it.
                       "OMS_DB_TIMEOUT": "120"}
                variant.base, variant.pid = stack.enter_context(
                    server(uri, DATABASE, env=env, command=probe, cwd=variant.cwd, label=variant.name)
                )
                variant.rss_mb.append(round(rss_mb(variant.pid), 1))
            for round_number in range(args.rounds):
                # Each round in another order, so no variant always follows the same one.
                order = variants[round_number % len(variants):] + variants[: round_number % len(variants)]
                for workload in workloads:
                    count = args.requests * (4 if workload == "customer_360" else 1)
                    bodies = _requests(workload, count, rng, customers)
                    for variant in order:
                        tally = asyncio.run(_drive(variant.base, token, bodies, args.clients))
                        merged = variant.tallies.setdefault(workload, Tally())
                        merged.latencies_ms += tally.latencies_ms
                        merged.seconds += tally.seconds
                        merged.errors += tally.errors
                for variant in variants:
                    variant.rss_mb.append(round(rss_mb(variant.pid), 1))
                print(f"round {round_number + 1}/{args.rounds}: " + ", ".join(
                    f"{v.name} {v.tallies['orders_page'].summary()['p99_over_p50']}/"
                    f"{v.tallies['customer_360'].summary()['p99_over_p50']} (p99/p50), {v.rss_mb[-1]} MB" for v in variants
                ), file=sys.stderr)
        # The servers have exited: their collector pauses are written.
    for variant in variants:
        if variant.cwd != ROOT:
            shutil.rmtree(variant.cwd, ignore_errors=True)
    result: dict[str, object] = {
        "machine": {"cores": os.cpu_count(), "load_average_1m_at_end": round(os.getloadavg()[0], 2)},
        "setup": {"orders_in_db": args.orders, "clients": args.clients, "rounds": args.rounds, "requests_per_round": args.requests},
        "variants": {},
    }
    for variant in variants:
        gc_pauses = json.loads(variant.gc_file.read_text()) if variant.gc_file.exists() else None
        result["variants"][variant.name] = {  # type: ignore[index]
            **{workload: tally.summary() for workload, tally in variant.tallies.items()},
            "rss_mb_by_round": variant.rss_mb,
            "gc": gc_pauses,
        }
    if args.before:
        before, after = result["variants"]["before"], result["variants"]["after"]  # type: ignore[index]
        result["after_over_before"] = {
            workload: {key: round(after[workload][key] / before[workload][key], 2) for key in ("per_s", "p50_ms", "p99_ms")}
            for workload in workloads
        }
    text = json.dumps(result, indent=2)
    print(text)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(text + "\n")


if __name__ == "__main__":
    main()
