"""storeAvailability over HTTP vs the raw $geoNear with PyMongo, same data, same run.

    .venv/bin/python -m bench.store_availability [--locations 120 --skus 5000 --requests 2000 --rounds 10] [--record]

Writes bench/out/store_availability.json (--record: bench/results/, the recorded figures).

Target: GraphQL p50 ≤ 1.5× the raw query's p50. The two are measured interleaved: each round runs
its share of the probes raw, then through the API (then both again with location names), so a
change in the machine's load hits both alike; the load average is reported with the figures.
A second OMS server with OMS_GRAPHQL_FAST_PATH off and the bare floor server run beside them, and
each server's own CPU per request is reported too (load inflates it far less than wall time).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import http.client
import json
import os
import random
import subprocess
import sys
import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import httpx

from app.domain.cities import CITIES
from app.embedded_mongod import free_port
from app.domain.principals import Role
from app.repositories.database import Mongo, connect
from app.services.container import build_services
from app.services.demo_seed import SeedSize
from bench.harness import add_output_flags, mongodb, rss_mb, seed_unless_kept, server, summary, write_result
from bench.ws_clients import cpu_seconds

DATABASE = "bench_store_availability"
RADIUS_KM = 50.0
FIRST = 10

QUERY = """query($sku: String!, $lat: Float!, $lng: Float!) {
  storeAvailability(skus: [$sku], near: {lat: $lat, lng: $lng}, radiusKm: 50, first: 10) {
    locationCode distanceKm items { sku available }
  }
}"""
QUERY_WITH_NAMES = QUERY.replace("locationCode distanceKm", "locationCode distanceKm location { name }")


def _raw_pipeline(sku: str, lat: float, lng: float) -> list[dict]:
    return [
        {
            "$geoNear": {
                "near": {"type": "Point", "coordinates": [lng, lat]},
                "key": "point",
                "distanceField": "distance_m",
                "maxDistance": RADIUS_KM * 1000,
                "spherical": True,
                "query": {"sku": sku, "location_kind": "STORE", "location_active": {"$ne": False}, "available": {"$gt": 0}},
            }
        },
        {"$project": {"_id": 0, "sku": 1, "location_id": 1, "available": 1, "distance_m": 1}},
        {"$limit": FIRST},
    ]


async def _prepare(uri: str, size: SeedSize) -> str:
    mongo = Mongo(connect(uri), DATABASE)
    try:
        seconds = await seed_unless_kept(mongo, size, seed=42)
        if seconds is not None:
            print(f"seeded {size.locations} locations × {size.skus} SKUs in {seconds:.1f}s")
        _, token = await build_services(mongo).auth.create_api_key(name="bench", role=Role.CUSTOMER, customer_id="bench")
        return token
    finally:
        await mongo.close()


async def _raw(db: Any, probes: list[tuple[str, float, float]], *, with_names: bool) -> list[float]:
    samples = []
    for sku, lat, lng in probes:
        started = time.perf_counter()
        rows = await (await db.inventory.aggregate(_raw_pipeline(sku, lat, lng))).to_list()
        if with_names and rows:
            await db.locations.find({"_id": {"$in": [r["location_id"] for r in rows]}}, {"name": 1}).to_list()
        samples.append((time.perf_counter() - started) * 1000)
    return samples


class _Api:
    """A keep-alive http.client connection: the figure is the server's, not a client library's
    (httpx adds ~0.9 ms of client-side Python per request here)."""

    def __init__(self, base: str, token: str):
        self.connection = http.client.HTTPConnection(urlsplit(base).netloc, timeout=10)
        self.headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}

    def post(self, query: str, sku: str, lat: float, lng: float) -> tuple[int, dict]:
        body = json.dumps({"query": query, "variables": {"sku": sku, "lat": lat, "lng": lng}})
        self.connection.request("POST", "/graphql", body, self.headers)
        response = self.connection.getresponse()
        return response.status, json.loads(response.read())

    def timed(self, probes: list[tuple[str, float, float]], query: str) -> tuple[list[float], int]:
        # A fresh connection, opened untimed: the server closes one idle past its keep-alive
        # timeout (5 s), which a loaded machine can exceed while the other side of a round runs.
        self.connection.close()
        self.post(query, *probes[0])
        samples, non_empty = [], 0
        for probe in probes:
            started = time.perf_counter()
            status, body = self.post(query, *probe)
            samples.append((time.perf_counter() - started) * 1000)
            assert status == 200 and "errors" not in body, body
            non_empty += bool(body["data"]["storeAvailability"])
        return samples, non_empty


@contextlib.contextmanager
def _floor_server(uri: str) -> Iterator[tuple[str, int]]:
    """bench/store_availability_floor.py under uvicorn: the same query behind bare HTTP + JSON."""
    port = free_port()
    env = {**os.environ, "MONGODB_URI": uri, "OMS_DB_NAME": DATABASE}
    command = [sys.executable, "-m", "uvicorn", "bench.store_availability_floor:app", "--port", str(port), "--log-level", "warning", "--timeout-keep-alive", "600"]
    process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{base}/readyz", timeout=1).status_code == 200:
                    break
            time.sleep(0.2)
        else:
            raise RuntimeError("the floor server did not start")
        yield base, process.pid
    finally:
        process.terminate()
        process.wait(20)


def _rounds(probes: list[tuple[str, float, float]], rounds: int) -> Iterator[list[tuple[str, float, float]]]:
    size = max(1, len(probes) // rounds)
    for start in range(0, len(probes), size):
        yield probes[start : start + size]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--locations", type=int, default=120)
    parser.add_argument("--skus", type=int, default=5000)
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=10, help="raw and API alternate this many times")
    add_output_flags(parser)
    args = parser.parse_args()
    rng = random.Random(1)
    probes = [
        (f"SKU-{rng.randint(1, args.skus):05d}", city[3] + rng.uniform(-0.1, 0.1), city[4] + rng.uniform(-0.1, 0.1))
        for city in (rng.choice(CITIES[: max(1, args.locations // 2)]) for _ in range(args.requests))
    ]
    samples: dict[str, list[float]] = {"raw": [], "api": [], "api_standard": [], "floor": [], "raw_names": [], "api_names": []}
    round_ratios = []
    non_empty = 0
    load_start = os.getloadavg()
    with mongodb() as uri:
        token = asyncio.run(_prepare(uri, SeedSize(locations=args.locations, skus=args.skus, customers=50, orders=0)))
        with (
            server(uri, DATABASE) as (base, pid),
            # The same server with every operation on Strawberry's standard path (OMS_GRAPHQL_FAST_PATH
            # off): what the fast path for prepared operations (graphql_schema/fast_path.py) saves.
            server(uri, DATABASE, env={"OMS_GRAPHQL_FAST_PATH": "false"}, label="standard-path server") as (standard_base, standard_pid),
            _floor_server(uri) as (floor_base, floor_pid),
            asyncio.Runner() as runner,
        ):
            client = connect(uri)
            db = client[DATABASE]
            api = _Api(base, token)
            floor = _Api(floor_base, token)
            standard = _Api(standard_base, token)
            rss_before = rss_mb(pid)
            warm = probes[:200]
            runner.run(_raw(db, warm, with_names=True))
            api.timed(warm, QUERY)
            api.timed(warm, QUERY_WITH_NAMES)
            floor.timed(warm, QUERY)
            standard.timed(warm, QUERY)
            # Each server's own CPU (user + system, from /proc) over the timed requests: what it
            # spends per request, which the machine's load does not inflate as it does wall time.
            cpu = {"api": 0.0, "api_standard": 0.0, "floor": 0.0}
            rounds_run = 0
            for share in _rounds(probes, args.rounds):
                rounds_run += 1
                raw = runner.run(_raw(db, share, with_names=False))
                before = cpu_seconds(pid)
                through_api, found = api.timed(share, QUERY)
                cpu["api"] += cpu_seconds(pid) - before
                samples["raw"] += raw
                samples["api"] += through_api
                before = cpu_seconds(floor_pid)
                samples["floor"] += floor.timed(share, QUERY)[0]
                cpu["floor"] += cpu_seconds(floor_pid) - before
                before = cpu_seconds(standard_pid)
                samples["api_standard"] += standard.timed(share, QUERY)[0]
                cpu["api_standard"] += cpu_seconds(standard_pid) - before
                non_empty += found
                samples["raw_names"] += runner.run(_raw(db, share, with_names=True))
                samples["api_names"] += api.timed(share, QUERY_WITH_NAMES)[0]
                round_ratios.append(round(summary(through_api)["p50_ms"] / summary(raw)["p50_ms"], 2))
            api.connection.close()
            floor.connection.close()
            standard.connection.close()
            runner.run(client.close())
            rss_after = rss_mb(pid)
    raw, through_api = summary(samples["raw"]), summary(samples["api"])
    raw_names, api_names = summary(samples["raw_names"]), summary(samples["api_names"])
    result = {
        "data": {"locations": args.locations, "skus": args.skus, "requests": args.requests, "non_empty_answers": non_empty},
        "rounds": args.rounds,
        "load_average": {"start": [round(x, 2) for x in load_start], "end": [round(x, 2) for x in os.getloadavg()]},
        "raw_geo_query": raw,
        "graphql_http": through_api,
        "ratio_p50": round(through_api["p50_ms"] / raw["p50_ms"], 2),
        "ratio_p50_by_round": round_ratios,
        # The same query behind bare uvicorn + Starlette + JSON (bench/store_availability_floor.py):
        # what any HTTP API in this stack pays above the raw query, GraphQL or not.
        "floor_http_json": summary(samples["floor"]),
        "floor_ratio_p50": round(summary(samples["floor"])["p50_ms"] / raw["p50_ms"], 2),
        "graphql_http_standard_path": summary(samples["api_standard"]),
        "standard_path_ratio_p50": round(summary(samples["api_standard"])["p50_ms"] / raw["p50_ms"], 2),
        # Server CPU per request (each series' timed requests plus the one untimed request per round;
        # the OMS servers' background work, alike for both, included).
        "server_cpu_ms_per_request": {
            series: round(seconds * 1000 / (len(samples[series]) + rounds_run), 3) for series, seconds in cpu.items()
        },
        "raw_geo_query_plus_location_names": raw_names,
        "graphql_http_with_location_names": api_names,
        "ratio_p50_with_names": round(api_names["p50_ms"] / raw_names["p50_ms"], 2),
        "server_rss_mb": {"before": round(rss_before, 1), "after": round(rss_after, 1)},
    }
    print(json.dumps(result, indent=2))
    write_result("store_availability", args, result)


if __name__ == "__main__":
    main()
