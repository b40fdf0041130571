"""`oms import stock` on a generated file: rows/s and the importing process's peak RSS.

    python -m bench.import_stock                  # 1,000,000 rows (several minutes)
    python -m bench.import_stock --rows 100000    # a short run
    make bench-import

A catalogue (the demo's locations, generated SKUs: rows / locations of them) goes into a fresh
database; the file (CSV, one row per SKU × location, every 1,000th row naming an unknown SKU so the
rejects path runs too) is streamed to disk; then `python -m app.cli import stock FILE` runs in a
subprocess, twice: the first run creates every level (a write and a StockLevelChanged event per
row), the second finds every row unchanged (reads only). `--changed` adds a third run of the same
file with every count one higher: a nightly feed, where every row updates an existing level. The child's peak RSS comes from
`os.wait4`, i.e. the kernel's own high-water mark for that process. Results are merged into
bench/out/import_stock.json (--record: bench/results/) under the row count, so 100,000 and 1,000,000 rows sit side by side.

`--baseline` also times raw PyMongo doing the same database work on a fresh copy of the catalogue:
per 500 rows, the SKU and location reads, then one transaction reading the levels and inserting the
levels and their events (the first run's work, minus parsing rules, guards and backorder lookups).
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import os
import random
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from app.repositories.database import Mongo, connect
from app.repositories.indexes import ensure_indexes
from app.repositories.locations import LocationRepository
from app.repositories.products import ProductRepository
from app.services.demo_seed import build_locations, build_products
from bench.harness import ROOT, add_output_flags, mongodb, result_path

LOCATIONS = 40
UNKNOWN_EVERY = 1_000
HEADER = "sku,location,onHand,safetyStock,reorderPoint,reorderQuantity,bin\n"


async def _catalogue(uri: str, database: str, skus: int) -> list[str]:
    mongo = Mongo(connect(uri), database)
    try:
        await mongo.client.drop_database(database)
        await ensure_indexes(mongo.db)
        rng = random.Random(7)
        locations = build_locations(rng, LOCATIONS)
        await LocationRepository(mongo.db).upsert_many(locations)
        products = ProductRepository(mongo.db)
        for start in range(0, skus, 5_000):
            await products.upsert_many(
                [
                    dataclasses.replace(product, sku=f"SKU-{start + i + 1:07d}")
                    for i, product in enumerate(build_products(rng, min(5_000, skus - start)))
                ]
            )
        return [location.id for location in locations]
    finally:
        await mongo.close()


def _write_file(path: Path, rows: int, location_ids: list[str]) -> int:
    """One row per SKU × location, streamed to disk; returns how many name an unknown SKU."""
    rng = random.Random(11)
    unknown = 0
    with path.open("w", encoding="utf-8", buffering=1 << 20) as out:
        out.write(HEADER)
        for n in range(rows):
            sku_number, location = divmod(n, len(location_ids))
            sku = f"SKU-{sku_number + 1:07d}"
            if n % UNKNOWN_EVERY == UNKNOWN_EVERY - 1:
                sku, unknown = f"NOPE-{n}", unknown + 1
            reorder = rng.choice((2, 10, 25))
            zone = location_ids[location][:2] == "DC" and rng.choice("ABCDEF") or "BACK"
            out.write(
                f"{sku},{location_ids[location]},{rng.randint(0, 400)},{rng.choice((0, 2, 5))},{reorder},{reorder * 4},"
                f"{zone}-{rng.randint(1, 20):02d}-{rng.randint(1, 6)}-{rng.randint(1, 40):02d}\n"
            )
    return unknown


def _counts_plus_one(path: Path) -> Path:
    changed = path.with_name("stock-changed.csv")
    with path.open(encoding="utf-8") as source, changed.open("w", encoding="utf-8", buffering=1 << 20) as out:
        out.write(next(source))
        for line in source:
            sku, location, on_hand, rest = line.split(",", 3)
            out.write(f"{sku},{location},{int(on_hand) + 1},{rest}")
    return changed


def _import(uri: str, database: str, path: Path, rejects: Path) -> dict[str, Any]:
    env = {**os.environ, "MONGODB_URI": uri, "OMS_DB_NAME": database, "OMS_LOG_LEVEL": "WARNING"}
    out, err = path.with_suffix(".out"), path.with_suffix(".err")
    started = time.monotonic()
    with out.open("wb") as stdout, err.open("wb") as stderr:
        process = subprocess.Popen(
            [sys.executable, "-m", "app.cli", "import", "stock", str(path), "--rejects", str(rejects)],
            cwd=ROOT, env=env, stdout=stdout, stderr=stderr,
        )
        # wait4 gives this child's own resource usage: ru_maxrss is its peak resident set (KiB on Linux).
        _, status, usage = os.wait4(process.pid, 0)
        process.returncode = os.waitstatus_to_exitcode(status)
    seconds = time.monotonic() - started
    code = process.returncode
    if code not in (0, 3):
        raise RuntimeError(f"oms import exited with {code}: {err.read_text()[-2000:]}")
    summary = out.read_text().strip()
    return {
        "exit": code,
        "summary": summary,
        "seconds": round(seconds, 1),
        "peak_rss_mb": round(usage.ru_maxrss / 1024, 1),
        "cpu_seconds": round(usage.ru_utime + usage.ru_stime, 1),
    }


async def _baseline(uri: str, database: str, path: Path) -> dict[str, Any]:
    """Raw driver, same reads and writes per batch as the importer's first run."""
    import csv
    from datetime import datetime, timezone

    from pymongo import ReadPreference, WriteConcern
    from pymongo.read_concern import ReadConcern

    from app.domain.ids import new_id

    mongo = Mongo(connect(uri), database)
    db = mongo.db
    points = {doc["_id"]: doc async for doc in db["locations"].find({}, {"kind": 1, "point": 1})}

    async def batch(rows: list[list[str]]) -> None:
        skus = {doc["_id"] async for doc in db["products"].find({"_id": {"$in": sorted({r[0] for r in rows})}}, {"_id": 1})}
        await db["locations"].find({"_id": {"$in": sorted({r[1] for r in rows})}}).to_list()
        rows = [r for r in rows if r[0] in skus]
        at = datetime.now(timezone.utc)

        async def work(session: Any) -> None:
            ids = [f"{r[0]}@{r[1]}" for r in rows]
            await db["inventory"].find({"_id": {"$in": ids}}, session=session).to_list()
            levels, events = [], []
            for (sku, location, on_hand, safety, point, quantity, bin_code), key in zip(rows, ids):
                zone, aisle, shelf, bin_ = bin_code.split("-")
                level = {
                    "_id": key, "sku": sku, "location_id": location, "location_kind": points[location].get("kind"),
                    "point": points[location].get("point"), "on_hand": int(on_hand), "reserved": 0,
                    "safety_stock": int(safety), "incoming": 0, "available": max(0, int(on_hand) - int(safety)),
                    "reorder_point": int(point), "reorder_quantity": int(quantity),
                    "bin": {"zone": zone, "aisle": aisle, "shelf": shelf, "bin": bin_}, "updated_at": at,
                }
                levels.append(level)
                events.append({
                    "_id": new_id(), "type": "StockLevelChanged", "aggregate_type": "InventoryLevel", "aggregate_id": key,
                    "at": at, "actor": {"subject": "bench", "role": "ADMIN"}, "reason": "baseline", "seq": None,
                    "sku": sku, "location_id": location,
                    "payload": {"onHand": int(on_hand), "reserved": 0, "safetyStock": int(safety), "incoming": 0,
                                "available": level["available"], "previousAvailable": 0, "reorderPoint": int(point),
                                "reorderQuantity": int(quantity), "cause": "IMPORT", "onHandDelta": int(on_hand),
                                "reservedDelta": 0},
                })
            await db["inventory"].insert_many(levels, session=session)
            await db["events"].insert_many(events, session=session)

        async with mongo.client.start_session() as session:
            await session.with_transaction(
                work, read_concern=ReadConcern("snapshot"), write_concern=WriteConcern("majority"),
                read_preference=ReadPreference.PRIMARY,
            )

    started = time.monotonic()
    count = 0
    try:
        with path.open(newline="") as source:
            reader = csv.reader(source)
            next(reader)
            pending: list[list[str]] = []
            for row in reader:
                pending.append(row)
                count += 1
                if len(pending) == 500:
                    await batch(pending)
                    pending = []
            if pending:
                await batch(pending)
    finally:
        await mongo.close()
    seconds = time.monotonic() - started
    return {"rows": count, "seconds": round(seconds, 1), "rows_per_second": round(count / seconds)}


def _rows_per_second(summary: str) -> float:
    """The importer's own figure (`…; 183.2 s, 5,458 rows/s`): reading, parsing and writing, no start-up."""
    found = re.search(r"([\d,]+) rows/s", summary)
    return float(found.group(1).replace(",", "")) if found else 0.0


async def _database_figures(uri: str, database: str) -> dict[str, int]:
    mongo = Mongo(connect(uri), database)
    try:
        return {
            "inventory_levels": await mongo.db["inventory"].estimated_document_count(),
            "movement_events": await mongo.db["events"].estimated_document_count(),
        }
    finally:
        await mongo.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--no-rerun", action="store_true", help="skip the second (unchanged) run")
    parser.add_argument("--baseline", action="store_true", help="also time raw PyMongo doing the same writes")
    parser.add_argument("--changed", action="store_true", help="a third run where every count changed (updates)")
    add_output_flags(parser)
    args = parser.parse_args()
    database = f"bench_import_{args.rows}"
    skus = -(-args.rows // LOCATIONS)
    with mongodb() as uri, tempfile.TemporaryDirectory(prefix="oms-import-bench-") as tmp:
        print(f"catalogue: {LOCATIONS} locations, {skus:,} SKUs", file=sys.stderr)
        location_ids = asyncio.run(_catalogue(uri, database, skus))
        path = Path(tmp) / "stock.csv"
        started = time.monotonic()
        unknown = _write_file(path, args.rows, location_ids)
        file_mib = round(path.stat().st_size / 2**20, 1)
        print(f"file: {file_mib} MiB, {args.rows:,} rows in {time.monotonic() - started:.1f} s", file=sys.stderr)
        runs: dict[str, Any] = {}
        passes = [("first", path)] + ([] if args.no_rerun else [("rerun", path)])
        if args.changed:
            passes.append(("changed", _counts_plus_one(path)))
        for name, source in passes:
            runs[name] = _import(uri, database, source, Path(tmp) / f"rejects-{name}.csv")
            runs[name]["rows_per_second"] = _rows_per_second(runs[name]["summary"])
            print(f"{name}: {runs[name]}", file=sys.stderr)
        figures = asyncio.run(_database_figures(uri, database))
        asyncio.run(_drop(uri, database))
        baseline = None
        if args.baseline:
            asyncio.run(_catalogue(uri, database, skus))
            baseline = asyncio.run(_baseline(uri, database, path))
            print(f"raw PyMongo: {baseline}", file=sys.stderr)
            asyncio.run(_drop(uri, database))
        load = os.getloadavg()
    result = {
        "rows": args.rows,
        "file_mib": file_mib,
        "unknown_sku_rows": unknown,
        "locations": LOCATIONS,
        "skus": skus,
        "batch_size": 500,
        **figures,
        "runs": runs,
        "raw_pymongo_baseline": baseline,
        "load_average_after": [round(x, 1) for x in load],
        "machine": f"{os.cpu_count()} cores, mongod on the same machine (shared with other work while measured)",
        "measured_at": time.strftime("%Y-%m-%d %H:%M:%S"),
    }
    out = result_path("import_stock", args)  # bench/out/, or with --record the recorded figures
    stored = json.loads(out.read_text()) if out.exists() else {}
    stored[str(args.rows)] = result
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(stored, indent=2) + "\n")
    print(json.dumps(result, indent=2))


async def _drop(uri: str, database: str) -> None:
    mongo = Mongo(connect(uri), database)
    try:
        await mongo.client.drop_database(database)
    finally:
        await mongo.close()


if __name__ == "__main__":
    main()
