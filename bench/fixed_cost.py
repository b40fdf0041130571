"""The fixed cost of every operation, in-process and load-independent: `{ __typename }` and the store
clerk's storeAvailability lookup through the whole ASGI app (middleware, the GraphQL view, the
executor, the services, PyMongo), called as uvicorn calls it, with no HTTP server and no client.

    .venv/bin/python -m bench.fixed_cost [--requests 400] [--profile typename|store] [--top 40]

Both paths are measured in the same run, interleaved: Strawberry's view (standard) and the fast
path for operations already parsed and validated (graphql_schema/fast_path.py). Reports per
request the process CPU time (`time.process_time`: this process's Python work, not
mongod's) as a median over the run, and with --profile the cProfile of one workload (µs of CPU
and function calls per request, the functions with the most own time). A busy machine moves
wall-clock figures far more than CPU time per request and call counts, so before/after
comparisons of the fixed cost use these.
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

from app.asgi import create_app
from app.domain.cities import CITIES
from app.domain.principals import Role
from app.repositories.database import Mongo, connect
from app.services.container import build_services
from app.services.demo_seed import SeedSize
from app.settings import Settings
from bench.harness import mongodb, profile_report, seed_unless_kept
from bench.store_availability import QUERY as STORE_AVAILABILITY
from graphql_schema.view import OmsGraphQL

DATABASE = "bench_fixed_cost"
TYPENAME = "{ __typename }"


async def _prepare(uri: str) -> tuple[str, list[str]]:
    mongo = Mongo(connect(uri), DATABASE)
    try:
        await seed_unless_kept(mongo, SeedSize(locations=60, skus=300, customers=10, orders=10), seed=5)
        _, token = await build_services(mongo).auth.create_api_key(name="fixed-cost", role=Role.CUSTOMER, customer_id="bench")
        skus = sorted({row["sku"] for row in await mongo.db.inventory.find({}, {"sku": 1}).limit(300).to_list()})
        return token, skus
    finally:
        await mongo.close()


def _bodies(workload: str, count: int, skus: list[str]) -> list[bytes]:
    if workload == "typename":
        return [json.dumps({"query": TYPENAME}).encode()] * count
    rng = random.Random(11)
    bodies = []
    for _ in range(count):
        _, _, _, lat, lng = rng.choice(CITIES[:30])
        variables = {"sku": rng.choice(skus), "lat": lat, "lng": lng}
        bodies.append(json.dumps({"query": STORE_AVAILABILITY, "variables": variables}).encode())
    return bodies


async def call(app: Any, body: bytes, headers: list[tuple[bytes, bytes]]) -> tuple[int, dict[str, str], bytes]:
    """One POST /graphql through the ASGI app, as a server calls it."""
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": "/graphql",
        "raw_path": b"/graphql",
        "query_string": b"",
        "root_path": "",
        "headers": [(b"host", b"oms"), (b"content-length", str(len(body)).encode()), *headers],
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 8000),
    }
    sent = False
    status = 0
    response_headers: dict[str, str] = {}
    chunks: list[bytes] = []

    async def receive() -> dict[str, Any]:
        nonlocal sent
        if sent:
            await asyncio.Event().wait()
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        nonlocal status
        if message["type"] == "http.response.start":
            status = message["status"]
            response_headers.update((k.decode(), v.decode()) for k, v in message.get("headers", ()))
        elif message["type"] == "http.response.body":
            chunks.append(message.get("body", b""))

    await app(scope, receive, send)
    return status, response_headers, b"".join(chunks)


async def _run(uri: str, token: str, skus: list[str], args: argparse.Namespace) -> dict[str, Any]:
    from asgi_lifespan import LifespanManager

    settings = Settings(env="test", mongodb_uri=uri, database=DATABASE, allow_anonymous_admin=False, scheduler_interval_seconds=0)
    app = create_app(settings)
    view = next(route.app for route in app.routes if isinstance(getattr(route, "app", None), OmsGraphQL))
    fast_path = view._fast_path
    headers = [(b"authorization", f"Bearer {token}".encode()), (b"content-type", b"application/json")]
    results: dict[str, Any] = {}
    async with LifespanManager(app, startup_timeout=60, shutdown_timeout=60):
        for workload in ("typename", "store"):
            bodies = _bodies(workload, args.requests, skus)
            for body in bodies[:20]:  # warm-up: caches, plans, connections
                _check(await call(app, body, headers))
            # The standard path (Strawberry's view) and the fast path for prepared operations
            # (graphql_schema/fast_path.py), interleaved in rounds so that load hits both alike.
            cpu_us: dict[str, list[float]] = {"standard": [], "fast": []}
            profiler = cProfile.Profile() if args.profile == workload else None
            for start in range(0, len(bodies), 20):
                for mode in ("standard", "fast"):
                    view._fast_path = fast_path and mode == "fast"
                    for body in bodies[start : start + 20]:
                        profiling = profiler is not None and mode == args.mode
                        cpu = time.process_time()
                        if profiling:
                            profiler.enable()
                        answer = await call(app, body, headers)
                        if profiling:
                            profiler.disable()
                        cpu_us[mode].append((time.process_time() - cpu) * 1e6)
                        _check(answer)
            results[workload] = {"requests": len(bodies), **{f"cpu_us_p50_{mode}": round(statistics.median(v)) for mode, v in cpu_us.items()}}
            if profiler:
                results[workload]["profile"] = profile_report(profiler, len(bodies), per="request", top=args.top, sort=args.sort)
                if args.dump:
                    profiler.dump_stats(args.dump)
    view._fast_path = fast_path
    return results


def _check(answer: tuple[int, dict[str, str], bytes]) -> None:
    status, _, body = answer
    assert status == 200 and "errors" not in json.loads(body), body


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=400)
    parser.add_argument("--profile", choices=["typename", "store"])
    parser.add_argument("--mode", choices=["standard", "fast"], default="fast", help="the path --profile profiles")
    parser.add_argument("--top", type=int, default=40)
    parser.add_argument("--dump", help="also write the raw profile here (pstats format)")
    parser.add_argument("--sort", default="tottime", help="a pstats sort key: tottime, cumulative, ncalls")
    args = parser.parse_args()
    with mongodb() as uri:
        token, skus = asyncio.run(_prepare(uri))
        results = asyncio.run(_run(uri, token, skus, args))
    for workload, figures in results.items():
        profile = figures.pop("profile", None)
        print(workload, json.dumps(figures))
        if profile:
            print(profile)


if __name__ == "__main__":
    main()
