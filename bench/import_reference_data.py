"""`oms import products|locations|customers` on generated files: rows/s and peak RSS per kind.

    python -m bench.import_reference_data                 # 10,000 rows of each kind
    python -m bench.import_reference_data --rows 2000     # a short run

A fresh database with three channels; one CSV file per kind (every 500th row invalid, so the
rejects path runs too); `python -m app.cli import KIND FILE` in a subprocess, twice: the first run
creates everything (a write and an event per row), the second finds every row unchanged.

- products: every column used (price, dimensions, handling flags, GTIN barcodes), written through
  `ProductService.write_batch`, a transaction per 500 rows;
- locations: real US addresses (from the `zipcodes` data), half without coordinates (geocoded
  offline from the ZIP code), zones, bins and opening hours; a transaction per row;
- customers: an email, a phone, a channel identity and an address each; a transaction per row,
  matched by identity, then email, then phone.

Results are merged into bench/out/import_reference_data.json (--record: bench/results/) under the row count.
"""

from __future__ import annotations

import argparse
import asyncio
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

import zipcodes

from app.domain.channels import Channel, ChannelKind
from app.domain.gtin import check_digit
from app.repositories.channels import ChannelRepository
from app.repositories.database import Mongo, connect
from app.repositories.indexes import ensure_indexes
from bench.harness import ROOT, add_output_flags, mongodb, result_path

INVALID_EVERY = 500
KINDS = ("products", "locations", "customers")


def _products(path: Path, rows: int, rng: random.Random) -> None:
    flags = ("", "", "", "FRAGILE", "HAZMAT", "COLD_CHAIN|FRAGILE", "OVERSIZE")
    with path.open("w", encoding="utf-8") as out:
        out.write("sku,name,price,weightGrams,lengthCm,widthCm,heightCm,handling,barcode,category,active\n")
        for n in range(rows):
            body = f"5{n:011d}"
            barcode = body + str(check_digit(body))
            weight = 0 if n % INVALID_EVERY == INVALID_EVERY - 1 else rng.randint(50, 20_000)
            out.write(
                f"SKU-{n:07d},Product {n} {rng.choice(('mug', 'lamp', 'chair', 'kettle'))},"
                f"{rng.randint(100, 99_999) / 100:.2f},{weight},{rng.randint(5, 120)},{rng.randint(5, 80)},"
                f"{rng.randint(1, 60)},{rng.choice(flags)},{barcode},{rng.choice(('Kitchen', 'Home', 'Garden'))},"
                f"{'false' if n % 97 == 0 else 'true'}\n"
            )


def _locations(path: Path, rows: int, rng: random.Random) -> None:
    places = [z for z in zipcodes.list_all() if z["zip_code_type"] == "STANDARD" and z["timezone"] and z["lat"]]
    with path.open("w", encoding="utf-8") as out:
        out.write("code,name,kind,timezone,line1,city,region,postalCode,lat,lng,offersPickup,zones,bins,openingHours,priority\n")
        for n in range(rows):
            place = rng.choice(places)
            kind = "STORE" if n % 10 else "DISTRIBUTION_CENTER"
            # Half come with coordinates; the others are placed at their ZIP code's centre.
            lat, lng = (f"{float(place['lat']) + 0.01:.4f}", f"{float(place['long']) - 0.01:.4f}") if n % 2 else ("", "")
            timezone = "Mars/Olympus" if n % INVALID_EVERY == INVALID_EVERY - 1 else place["timezone"]
            out.write(
                f"LOC-{n:06d},{place['city'].title()} {n},{kind},{timezone},{rng.randint(1, 999)} Main St,"
                f"{place['city'].title()},{place['state']},{place['zip_code']},{lat},{lng},{'yes' if kind == 'STORE' else 'no'},"
                "FLOOR:Sales floor:1|BACK:Stock room:2,FLOOR-01-1-01|FLOOR-01-1-02|BACK-01-1-01,"
                f"MON-FRI 09:00-20:00|SAT 10:00-18:00,{rng.randint(0, 10)}\n"
            )


def _customers(path: Path, rows: int, rng: random.Random) -> None:
    channels = ("web", "amazon", "pos")
    with path.open("w", encoding="utf-8") as out:
        out.write("firstName,lastName,email,phone,channel,externalId,line1,city,region,postalCode,country\n")
        for n in range(rows):
            email = f"customer{n}@example" if n % INVALID_EVERY == INVALID_EVERY - 1 else f"customer{n}@example.com"
            out.write(
                f"First{n},Last{n},{email},+1617{n:07d},{channels[n % 3]},EXT-{n:07d},"
                f"{rng.randint(1, 999)} Beacon St,Boston,MA,02108,US\n"
            )


WRITERS = {"products": _products, "locations": _locations, "customers": _customers}


async def _fresh(uri: str, database: str) -> None:
    mongo = Mongo(connect(uri), database)
    try:
        await mongo.client.drop_database(database)
        await ensure_indexes(mongo.db)
        await ChannelRepository(mongo.db).upsert_many(
            [
                Channel(id="web", name="Web", kind=ChannelKind.WEB),
                Channel(id="amazon", name="Amazon", kind=ChannelKind.MARKETPLACE),
                Channel(id="pos", name="Stores", kind=ChannelKind.STORE_POS),
            ]
        )
    finally:
        await mongo.close()


def _import(uri: str, database: str, kind: str, path: Path) -> dict[str, Any]:
    env = {**os.environ, "MONGODB_URI": uri, "OMS_DB_NAME": database, "OMS_LOG_LEVEL": "WARNING"}
    out, err = path.with_suffix(".out"), path.with_suffix(".err")
    started = time.monotonic()
    with out.open("wb") as stdout, err.open("wb") as stderr:
        process = subprocess.Popen(
            [sys.executable, "-m", "app.cli", "import", kind, str(path), "--rejects", str(path.with_suffix(".rejects.csv"))],
            cwd=ROOT, env=env, stdout=stdout, stderr=stderr,
        )
        _, status, usage = os.wait4(process.pid, 0)  # the child's own peak RSS (KiB on Linux)
    code = os.waitstatus_to_exitcode(status)
    if code not in (0, 3):
        raise RuntimeError(f"oms import {kind} exited with {code}: {err.read_text()[-2000:]}")
    summary = out.read_text().strip()
    found = re.search(r"([\d,]+) rows/s", summary)
    return {
        "summary": summary,
        "rows_per_second": float(found.group(1).replace(",", "")) if found else 0.0,
        "seconds_with_startup": round(time.monotonic() - started, 1),
        "peak_rss_mb": round(usage.ru_maxrss / 1024, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=10_000)
    parser.add_argument("--kinds", default=",".join(KINDS), help="comma-separated, default all")
    add_output_flags(parser)
    args = parser.parse_args()
    database = f"bench_reference_{args.rows}"
    results: dict[str, Any] = {}
    with mongodb() as uri, tempfile.TemporaryDirectory(prefix="oms-reference-bench-") as tmp:
        asyncio.run(_fresh(uri, database))
        for kind in args.kinds.split(","):
            path = Path(tmp) / f"{kind}.csv"
            WRITERS[kind](path, args.rows, random.Random(7))
            runs = {name: _import(uri, database, kind, path) for name in ("first", "rerun")}
            for name, run in runs.items():
                print(f"{kind} {name}: {run['summary']}", file=sys.stderr)
            results[kind] = {"file_kib": round(path.stat().st_size / 1024), **runs}
        asyncio.run(_drop(uri, database))
    result = {
        "rows": args.rows,
        "kinds": results,
        "load_average_after": [round(x, 1) for x in os.getloadavg()],
        "machine": f"{os.cpu_count()} cores, mongod on the same machine (shared with other work while measured)",
        "measured_at": time.strftime("%Y-%m-%d %H:%M:%S"),
    }
    out = result_path("import_reference_data", args)  # bench/out/, or with --record the recorded figures
    stored = json.loads(out.read_text()) if out.exists() else {}
    stored[str(args.rows)] = {**stored.get(str(args.rows), {}), **result, "kinds": {**stored.get(str(args.rows), {}).get("kinds", {}), **results}}
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
