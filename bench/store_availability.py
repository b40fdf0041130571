"""storeAvailability over HTTP vs the raw $geoNear with PyMongo, same data, same run.

    .venv/bin/python -m bench.store_availability [--locations 120 --skus 5000 --requests 2000] [--record]

Writes bench/out/store_availability.json (--record: bench/results/, the recorded figures).

Target: GraphQL p50 ≤ 1.5× the raw query's p50.
"""

from __future__ import annotations

import argparse
import asyncio
import http.client
import json
import random
import time
from urllib.parse import urlsplit

from app.domain.cities import CITIES
from app.domain.principals import Role
from app.repositories.database import Mongo, connect
from app.services.container import build_services
from app.services.demo_seed import SeedSize
from bench.harness import add_output_flags, mongodb, rss_mb, seed_unless_kept, server, summary, write_result

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


async def _raw(uri: str, probes: list[tuple[str, float, float]], *, with_names: bool) -> list[float]:
    client = connect(uri)
    db = client[DATABASE]
    samples = []
    try:
        for warm in probes[:200]:
            await (await db.inventory.aggregate(_raw_pipeline(*warm))).to_list()
        for sku, lat, lng in probes:
            started = time.perf_counter()
            rows = await (await db.inventory.aggregate(_raw_pipeline(sku, lat, lng))).to_list()
            if with_names and rows:
                await db.locations.find({"_id": {"$in": [r["location_id"] for r in rows]}}, {"name": 1}).to_list()
            samples.append((time.perf_counter() - started) * 1000)
    finally:
        await client.close()
    return samples


def _graphql(base: str, token: str, probes: list[tuple[str, float, float]], query: str) -> tuple[list[float], int]:
    """A keep-alive http.client connection: the figure is the server's, not a client library's
    (httpx adds ~0.9 ms of client-side Python per request here)."""
    samples, non_empty = [], 0
    connection = http.client.HTTPConnection(urlsplit(base).netloc, timeout=10)
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}

    def post(sku: str, lat: float, lng: float) -> tuple[int, dict]:
        connection.request("POST", "/graphql", json.dumps({"query": query, "variables": {"sku": sku, "lat": lat, "lng": lng}}), headers)
        response = connection.getresponse()
        return response.status, json.loads(response.read())

    try:
        for probe in probes[:200]:
            post(*probe)
        for probe in probes:
            started = time.perf_counter()
            status, body = post(*probe)
            samples.append((time.perf_counter() - started) * 1000)
            assert status == 200 and "errors" not in body, body
            non_empty += bool(body["data"]["storeAvailability"])
    finally:
        connection.close()
    return samples, non_empty


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--locations", type=int, default=120)
    parser.add_argument("--skus", type=int, default=5000)
    parser.add_argument("--requests", type=int, default=2000)
    add_output_flags(parser)
    args = parser.parse_args()
    rng = random.Random(1)
    probes = [
        (f"SKU-{rng.randint(1, args.skus):05d}", city[3] + rng.uniform(-0.1, 0.1), city[4] + rng.uniform(-0.1, 0.1))
        for city in (rng.choice(CITIES[: max(1, args.locations // 2)]) for _ in range(args.requests))
    ]
    with mongodb() as uri:
        token = asyncio.run(_prepare(uri, SeedSize(locations=args.locations, skus=args.skus, customers=50, orders=0)))
        raw = asyncio.run(_raw(uri, probes, with_names=False))
        raw_names = asyncio.run(_raw(uri, probes, with_names=True))
        with server(uri, DATABASE) as (base, pid):
            rss_before = rss_mb(pid)
            api, non_empty = _graphql(base, token, probes, QUERY)
            api_names, _ = _graphql(base, token, probes, QUERY_WITH_NAMES)
            rss_after = rss_mb(pid)
    result = {
        "data": {"locations": args.locations, "skus": args.skus, "requests": args.requests, "non_empty_answers": non_empty},
        "raw_geo_query": summary(raw),
        "graphql_http": summary(api),
        "ratio_p50": round(summary(api)["p50_ms"] / summary(raw)["p50_ms"], 2),
        "raw_geo_query_plus_location_names": summary(raw_names),
        "graphql_http_with_location_names": summary(api_names),
        "ratio_p50_with_names": round(summary(api_names)["p50_ms"] / summary(raw_names)["p50_ms"], 2),
        "server_rss_mb": {"before": round(rss_before, 1), "after": round(rss_after, 1)},
    }
    print(json.dumps(result, indent=2))
    write_result("store_availability", args, result)


if __name__ == "__main__":
    main()
