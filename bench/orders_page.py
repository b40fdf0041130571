"""`orders(first: 100)` with ~30 fields per order over HTTP, vs raw PyMongo reading the same documents.

    .venv/bin/python -m bench.orders_page [--orders 20000 --requests 300] [--record]

Raw and API requests alternate (one client), so a busy machine slows both alike; the load average
at the end is part of the result. Writes bench/out/orders_page.json (--record: bench/results/, the
recorded figures). Target: p95 ≤ 60 ms.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import time

import httpx

from app.domain.principals import Role
from app.repositories.database import Mongo, connect
from app.services.container import build_services
from app.services.demo_seed import SeedSize
from bench.harness import add_output_flags, mongodb, rss_mb, seed_unless_kept, server, summary, write_result

DATABASE = "bench_orders_page"

# 30 leaf fields per order, across the order, its lines, customer, channel and products.
QUERY = """query($after: String, $filter: OrderFilterInput) {
  orders(first: 100, after: $after, filter: $filter) {
    edges { cursor node {
      id externalId status createdAt updatedAt notes itemCount version channelCode
      channel { name kind }
      customer { displayName email phone }
      delivery { method requestedDate address { line1 city postalCode country } }
      totals { subtotal { amount } shipping { amount } tax { amount } total { amount currency } }
      lines { sku name quantity unitPrice { amount } product { name weightGrams } }
    } }
    pageInfo { hasNextPage endCursor }
  }
}"""


async def _prepare(uri: str, orders: int) -> str:
    mongo = Mongo(connect(uri), DATABASE)
    try:
        seconds = await seed_unless_kept(mongo, SeedSize(locations=30, skus=1000, customers=orders // 5, orders=orders), seed=3)
        if seconds is not None:
            print(f"seeded {orders} orders in {seconds:.1f}s")
        _, token = await build_services(mongo).auth.create_api_key(name="bench", role=Role.CSR)
        return token
    finally:
        await mongo.close()


async def _raw_page(db, selection: dict) -> None:
    """The same reads the API makes: a page of orders (without the routing explanation, which the
    page does not show and the API leaves in the database), then customers, channels, products by $in."""
    orders = await db.orders.find(selection, {"routing": 0}).sort([("created_at", -1), ("_id", -1)]).limit(101).to_list()
    customer_ids = list({o["customer_id"] for o in orders})
    skus = list({line["sku"] for o in orders for line in o["lines"]})
    await db.customers.find({"_id": {"$in": customer_ids}}).to_list()
    await db.channels.find({"_id": {"$in": list({o["channel_id"] for o in orders})}}).to_list()
    await db.products.find({"_id": {"$in": skus}}).to_list()


async def _interleaved(uri: str, base: str, token: str, raw_filters: list[dict], api_filters: list[dict | None]) -> tuple[list[float], list[float]]:
    """Raw and API requests alternate, one at a time from one client, so a busy machine slows both alike."""
    client = connect(uri)
    db = client[DATABASE]
    raw_ms: list[float] = []
    api_ms: list[float] = []
    try:
        async with httpx.AsyncClient(base_url=base, headers={"Authorization": f"Bearer {token}"}, timeout=30) as http:
            for raw_selection, api_selection in list(zip(raw_filters, api_filters))[:20]:  # warm-up
                await _raw_page(db, raw_selection)
                await http.post("/graphql", json={"query": QUERY, "variables": {"filter": api_selection}})
            for raw_selection, api_selection in zip(raw_filters, api_filters):
                started = time.perf_counter()
                await _raw_page(db, raw_selection)
                raw_ms.append((time.perf_counter() - started) * 1000)
                started = time.perf_counter()
                response = await http.post("/graphql", json={"query": QUERY, "variables": {"filter": api_selection}})
                api_ms.append((time.perf_counter() - started) * 1000)
                body = response.json()
                assert "errors" not in body and len(body["data"]["orders"]["edges"]) == 100, body
    finally:
        await client.close()
    return raw_ms, api_ms


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--orders", type=int, default=20_000)
    parser.add_argument("--requests", type=int, default=300)
    add_output_flags(parser)
    args = parser.parse_args()
    rng = random.Random(5)
    picks = [rng.choice([None, "web", "app", "pos"]) for _ in range(args.requests)]
    api_filters = [None if c is None else {"channels": [c]} for c in picks]
    raw_filters = [{} if c is None else {"channel_id": {"$in": [c]}} for c in picks]
    with mongodb() as uri:
        token = asyncio.run(_prepare(uri, args.orders))
        with server(uri, DATABASE) as (base, pid):
            raw, api = asyncio.run(_interleaved(uri, base, token, raw_filters, api_filters))
            rss = rss_mb(pid)
    result = {
        "orders_in_db": args.orders,
        "page": "100 orders × 30 fields",
        "raw_pymongo_same_reads": summary(raw),
        "graphql_http": summary(api),
        "ratio_p50": round(summary(api)["p50_ms"] / summary(raw)["p50_ms"], 2),
        "server_rss_mb": round(rss, 1),
        "load_average_1m": round(os.getloadavg()[0], 2),
    }
    print(json.dumps(result, indent=2))
    write_result("orders_page", args, result)


if __name__ == "__main__":
    main()
