"""CPU per page, in-process and load-independent: the orders page and customer 360 through the whole
ASGI app (Starlette, the GraphQL view, the executor, the services, PyMongo), with no HTTP server.

    .venv/bin/python -m bench.page_profile [--orders 4000 --requests 60] [--profile orders_page] [--top 40]

Reports per request the process CPU time (`time.process_time`: the server's Python work, not
mongod's nor the wait for it) and the number of MongoDB commands, each as a median over the run;
with --profile, the cProfile of that workload (total CPU ms per page, and the functions with the
most own time and their call counts per page). A busy machine slows wall-clock figures; CPU time
per request and call counts move far less, so before/after comparisons use them.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import json
import random
import statistics
import time
from typing import Any

import httpx
from pymongo import monitoring

from app.asgi import create_app
from app.domain.principals import Role
from app.repositories.database import Mongo, connect
from app.services.container import build_services
from app.services.demo_seed import SeedSize
from app.settings import Settings
from bench.harness import mongodb, profile_report, seed_unless_kept
from bench.orders_page import QUERY as ORDERS_PAGE
from bench.tails import CUSTOMER_360

DATABASE = "bench_page_profile"


class _Commands(monitoring.CommandListener):
    def __init__(self) -> None:
        self.count = 0

    def started(self, event: monitoring.CommandStartedEvent) -> None:
        if event.command_name in {"find", "aggregate", "getMore", "count"}:
            self.count += 1

    def succeeded(self, event: monitoring.CommandSucceededEvent) -> None:
        pass

    def failed(self, event: monitoring.CommandFailedEvent) -> None:
        pass


async def _prepare(uri: str, orders: int) -> tuple[str, list[str]]:
    mongo = Mongo(connect(uri), DATABASE)
    try:
        await seed_unless_kept(mongo, SeedSize(locations=30, skus=1000, customers=orders // 5, orders=orders), seed=3)
        _, token = await build_services(mongo).auth.create_api_key(name="profile", role=Role.CSR)
        customers = await (await mongo.db.orders.aggregate([
            {"$group": {"_id": "$customer_id", "n": {"$sum": 1}}}, {"$match": {"n": {"$gte": 4}}}, {"$sort": {"_id": 1}}, {"$limit": 200},
        ])).to_list()
        return token, [c["_id"] for c in customers]
    finally:
        await mongo.close()


def _bodies(workload: str, count: int, customers: list[str]) -> list[dict[str, Any]]:
    import base64

    rng = random.Random(7)
    if workload == "orders_page":
        picks = [rng.choice([None, "web", "app", "pos"]) for _ in range(count)]
        return [{"query": ORDERS_PAGE, "variables": {"filter": None if c is None else {"channels": [c]}}} for c in picks]
    ids = [base64.b64encode(f"Customer:{rng.choice(customers)}".encode()).decode() for _ in range(count)]
    return [{"query": CUSTOMER_360, "variables": {"id": i}} for i in ids]


async def _run(uri: str, token: str, customers: list[str], args: argparse.Namespace) -> dict[str, Any]:
    from asgi_lifespan import LifespanManager

    commands = _Commands()
    settings = Settings(env="test", mongodb_uri=uri, database=DATABASE, allow_anonymous_admin=False, scheduler_interval_seconds=0)
    app = create_app(settings, mongo_listeners=[commands])
    results: dict[str, Any] = {}
    async with LifespanManager(app, startup_timeout=60, shutdown_timeout=60):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://oms", headers={"Authorization": f"Bearer {token}"}) as client:
            for workload in ("orders_page", "customer_360"):
                bodies = _bodies(workload, args.requests, customers)
                for body in bodies[:10]:  # warm-up: caches, plans, connections
                    _check(workload, (await client.post("/graphql", json=body)).json())
                cpu_ms, wall_ms, round_trips = [], [], []
                profiler = cProfile.Profile() if args.profile == workload else None
                for body in bodies:
                    before_commands = commands.count
                    cpu, wall = time.process_time(), time.perf_counter()
                    if profiler:
                        profiler.enable()
                    response = await client.post("/graphql", json=body)
                    if profiler:
                        profiler.disable()
                    cpu_ms.append((time.process_time() - cpu) * 1000)
                    wall_ms.append((time.perf_counter() - wall) * 1000)
                    round_trips.append(commands.count - before_commands)
                    _check(workload, response.json())
                results[workload] = {
                    "requests": len(bodies),
                    "cpu_ms_p50": round(statistics.median(cpu_ms), 2),
                    "cpu_ms_mean": round(statistics.fmean(cpu_ms), 2),
                    "wall_ms_p50": round(statistics.median(wall_ms), 2),
                    "db_commands_p50": statistics.median(round_trips),
                }
                if profiler:
                    results[workload]["profile"] = profile_report(profiler, len(bodies), per="page", top=args.top, sort=args.sort, in_ms=True, callers=args.callers)
    return results


def _check(workload: str, body: dict[str, Any]) -> None:
    assert "errors" not in body, body["errors"]
    if workload == "orders_page":
        assert len(body["data"]["orders"]["edges"]) == 100, body


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--orders", type=int, default=4000)
    parser.add_argument("--requests", type=int, default=60)
    parser.add_argument("--profile", choices=["orders_page", "customer_360"])
    parser.add_argument("--top", type=int, default=40)
    parser.add_argument("--sort", default="tottime", help="a pstats sort key: tottime, cumulative, ncalls")
    parser.add_argument("--callers", help="also print who calls the functions matching this regular expression")
    args = parser.parse_args()
    with mongodb() as uri:
        token, customers = asyncio.run(_prepare(uri, args.orders))
        results = asyncio.run(_run(uri, token, customers, args))
    for workload, figures in results.items():
        profile = figures.pop("profile", None)
        print(workload, json.dumps(figures))
        if profile:
            print(profile)


if __name__ == "__main__":
    main()
