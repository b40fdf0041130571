"""A flash sale crossing reorder points at 50 locations at once: replenishment latency (crossing →
PO line) and exactly one PO line per crossing, with two server processes replenishing together.

    python -m bench.replenishment            # full run
    python -m bench.replenishment --quick    # smoke test
    make bench-replenishment

Every location holds 20 units of the flash SKU with reorder point 10; each gets `--orders-per-location`
one-unit SHIP orders to its own coordinates (so routing sends them there), all at once, through two
`oms serve` processes (production mode). Each location crosses its reorder point exactly once. The
crossing's marker carries the time of the stock change that crossed (`at`) and the time its PO line
was committed (`done_at`); their difference is the latency. Both servers run the replenishment
worker; the one holding the `replenishment` lease follows and processes the markers (one change
stream between them), the other takes over if it dies.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx

from app.domain.inventory import InventoryLevel
from app.domain.locations import Location
from app.domain.principals import SYSTEM, Role
from app.domain.products import Dimensions, Product
from app.domain.money import Money
from app.domain.suppliers import SupplierItem
from app.repositories.database import Mongo, connect
from app.repositories.indexes import ensure_indexes
from app.repositories.inventory import InventoryRepository
from app.repositories.locations import from_doc
from app.repositories.products import ProductRepository
from app.repositories.purchase_orders import PurchaseOrderRepository
from app.services.container import build_services
from app.services.demo_seed import SeedSize, seed_demo
from bench.harness import mongodb, server

DATABASE = "bench_replenishment"
# A 2-core machine running both servers, mongod and the clients: the default 5 s request bound would shed load.
SERVER_ENV = {"OMS_ENV": "production", "OMS_DB_TIMEOUT": "30"}
FLASH = "FLASH-1"
CAPTURE = """
mutation($input: CaptureOrderInput!) {
  captureOrder(input: $input) { __typename ... on CaptureOrderPayload { order { status } } ... on Error { code message } }
}
"""


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))], 1) if ordered else 0.0


async def prepare(uri: str, locations: int) -> tuple[str, list[tuple[str, float, float]]]:
    """The demo network of `locations` locations, the flash SKU at each one that ships (20 on hand, reorder point 10,
    quantity 30), bought from ACME in packs of 6. Returns an admin key and (location, lat, lng)."""
    mongo = Mongo(connect(uri), DATABASE)
    try:
        await mongo.client.drop_database(DATABASE)
        await ensure_indexes(mongo.db)
        await seed_demo(mongo, SeedSize(locations=locations * 2, skus=20, customers=20, orders=0), seed=11)
        services = build_services(mongo, scheduler_interval_seconds=0)
        await ProductRepository(mongo.db).upsert_many(
            [Product(sku=FLASH, name="Flash-sale kettle", price=Money(3900), weight_grams=1200, dimensions=Dimensions(25, 20, 22))]
        )
        await services.suppliers.save_item(SYSTEM, SupplierItem("ACME", FLASH, "ACM-FLASH", 1800, 6, 6, True))
        # Locations that ship: a SHIP order to one's own coordinates is routed there.
        places = [loc async for loc in _all_locations(mongo) if loc.capabilities.ships and loc.active]
        _, key = await services.auth.create_api_key(name="bench", role=Role.ADMIN)
        places = places[:locations]
        await InventoryRepository(mongo.db).upsert_many(
            [(InventoryLevel(FLASH, loc.id, on_hand=20, reserved=0, reorder_point=10, reorder_quantity=30), loc) for loc in places]
        )
        return key, [(loc.id, loc.point.lat, loc.point.lng) for loc in places]
    finally:
        await mongo.close()


async def _all_locations(mongo: Mongo) -> AsyncIterator[Location]:
    async for doc in mongo.db["locations"].find({}).sort("_id", 1):
        yield from_doc(doc)


async def sale(bases: list[str], key: str, places: list[tuple[str, float, float]], per_location: int, clients: int) -> dict[str, Any]:
    inputs = [
        {
            "channel": "web",
            "externalId": f"FLASH-{code}-{n}",
            "customer": {"email": f"shopper{n}@example.com"},
            "lines": [{"sku": FLASH, "quantity": 1}],
            "delivery": {"method": "SHIP", "address": {"line1": "1 Main St", "city": "Anytown", "postalCode": "00000"},
                         "point": {"lat": lat, "lng": lng}},
        }
        for n in range(per_location)
        for code, lat, lng in places
    ]
    queue: asyncio.Queue[tuple[int, dict[str, Any]]] = asyncio.Queue()
    for index, given in enumerate(inputs):
        queue.put_nowait((index, given))
    outcomes: Counter[str] = Counter()
    latencies: list[float] = []

    async def worker(http: httpx.AsyncClient) -> None:
        while not queue.empty():
            index, given = queue.get_nowait()
            for attempt in range(5):  # SERVICE_UNAVAILABLE (a loaded machine) is retried, as a client should
                started = time.perf_counter()
                response = await http.post(f"{bases[(index + attempt) % len(bases)]}/graphql",
                                           json={"query": CAPTURE, "variables": {"input": given}}, headers={"X-API-Key": key})
                latencies.append((time.perf_counter() - started) * 1000)
                body = response.json()
                if body.get("data"):
                    result = body["data"]["captureOrder"]
                    outcomes[(result.get("order") or {}).get("status") or result.get("code", "?")] += 1
                    break
                outcomes["RETRIED_" + body["errors"][0].get("extensions", {}).get("code", "?")] += 1

    async with httpx.AsyncClient(timeout=60) as http:
        for base in bases:  # both servers warm (the first request pays for imports and connections)
            await http.post(f"{base}/graphql", json={"query": "{ channels { code } }"}, headers={"X-API-Key": key})
        started = time.perf_counter()
        await asyncio.gather(*(worker(http) for _ in range(clients)))
    seconds = time.perf_counter() - started
    return {"orders": len(inputs), "seconds": round(seconds, 2), "orders_per_s": round(len(inputs) / seconds, 1),
            "capture_p50_ms": pct(latencies, 0.5), "capture_p99_ms": pct(latencies, 0.99), "outcomes": dict(outcomes)}


async def outcome(uri: str, expected_crossings: int, timeout: float = 120.0) -> dict[str, Any]:
    mongo = Mongo(connect(uri), DATABASE)
    try:
        crossings = mongo.db["reorder_crossings"]
        deadline = time.monotonic() + timeout
        while await crossings.count_documents({"outcome": "PENDING"}) or await crossings.count_documents({}) < expected_crossings:
            if time.monotonic() > deadline:
                break
            await asyncio.sleep(0.05)
        markers = await crossings.find({}).to_list()
        lines = [
            line["crossing_id"]
            for doc in await mongo.db["purchase_orders"].find({}).to_list()
            for line in doc["lines"]
            if "crossing_id" in line
        ]
        latencies = [(m["done_at"] - m["at"]).total_seconds() * 1000 for m in markers if m.get("done_at")]
        per_location = Counter(m["location_id"] for m in markers)
        return {
            "crossings": len(markers),
            "crossings_per_location": sorted(set(per_location.values())),
            "outcomes": dict(Counter(m["outcome"] for m in markers)),
            "po_lines_from_crossings": len(lines),
            "exactly_one_line_per_crossing": sorted(lines) == sorted(m["_id"] for m in markers if m["outcome"] == "PO_LINE"),
            "purchase_orders": await mongo.db["purchase_orders"].count_documents({}),
            "latency_crossing_to_po_line_ms": {"p50": pct(latencies, 0.5), "p99": pct(latencies, 0.99), "max": pct(latencies, 1.0)},
            "invariant_incoming_equals_open_po_units": await PurchaseOrderRepository(mongo.db).incoming_mismatches() == [],
            "invariant_reserved_equals_open_allocations": await InventoryRepository(mongo.db).reservation_mismatches() == [],
        }
    finally:
        await mongo.close()


async def run(args: argparse.Namespace) -> dict[str, Any]:
    with mongodb() as uri:
        key, places = await prepare(uri, args.locations)
        with server(uri, DATABASE, env=SERVER_ENV) as (first, _), server(uri, DATABASE, env=SERVER_ENV) as (second, _):
            sold = await sale([first, second], key, places, args.orders_per_location, args.clients)
            result = await outcome(uri, len(places))
        return {"locations": len(places), "servers": 2, "orders_per_location": args.orders_per_location, "sale": sold, **result}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="small run for smoke testing")
    parser.add_argument("--locations", type=int, default=50)
    parser.add_argument("--orders-per-location", type=int, default=12, help="one-unit orders per location (20 on hand, reorder point 10)")
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--json", type=Path, help="also write the report here")
    args = parser.parse_args(argv)
    if args.quick:
        args.locations, args.clients = 12, 16
    report = asyncio.run(run(args))
    text = json.dumps(report, indent=2)
    print(text)
    if args.json:
        args.json.write_text(text + "\n")
    if not report["exactly_one_line_per_crossing"] or report["crossings_per_location"] != [1]:
        raise SystemExit("A CROSSING WAS REPLENISHED MORE OR LESS THAN ONCE")
    if not report["invariant_incoming_equals_open_po_units"] or not report["invariant_reserved_equals_open_allocations"]:
        raise SystemExit("AN INVARIANT IS BROKEN")


if __name__ == "__main__":
    main()
