"""Moving a location that holds many inventory levels: upsertLocation's commit plus the refresh of
the inventory copies (one update_many after the commit, in the background), against a raw
update_many of the same documents with PyMongo, same data, same run. Also when the mutation answers
(it waits for the refresh at most REFRESH_WAIT_SECONDS).

    .venv/bin/python -m bench.location_move [--levels 100000 --moves 3]

Writes bench/out/location_move.json (--record: bench/results/, the recorded figures).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import time

from app.domain.geo import GeoPoint
from app.domain.inventory import InventoryLevel
from app.domain.location_drafts import LocationDraft
from app.domain.locations import Address, Zone
from app.domain.principals import SYSTEM
from app.repositories.database import Mongo, connect
from app.repositories.indexes import ensure_indexes
from app.services.container import build_services
from bench.harness import add_output_flags, mongodb, write_result

DATABASE = "bench_location_move"
CODE = "DC-OH-COL"
POINTS = (GeoPoint(39.9612, -82.9988), GeoPoint(40.0150, -83.0500))


def _draft(point: GeoPoint) -> LocationDraft:
    return LocationDraft(
        code=CODE,
        name="Columbus DC",
        kind="DISTRIBUTION_CENTER",
        address=Address(line1="1 Dock Rd", city="Columbus", postal_code="43215", region="OH"),
        timezone="America/New_York",
        point=point,
        zones=(Zone("A", "Zone A", 1),),
    )


async def _run(uri: str, levels: int, moves: int) -> dict[str, object]:
    mongo = Mongo(connect(uri), DATABASE)
    await mongo.client.drop_database(DATABASE)
    await ensure_indexes(mongo.db)
    services = build_services(mongo, scheduler_interval_seconds=0)
    created = await services.locations.upsert(SYSTEM, _draft(POINTS[0]))
    location = created.location
    started = time.perf_counter()
    batch = 10_000
    for first in range(0, levels, batch):
        rows = [
            (InventoryLevel(sku=f"SKU-{n:07d}", location_id=CODE, on_hand=5, reserved=0), location)
            for n in range(first, min(levels, first + batch))
        ]
        await services.locations._inventory.insert_many(rows)  # noqa: SLF001 - bench set-up only
    load_s = time.perf_counter() - started

    answer_s: list[float] = []
    service_s: list[float] = []
    raw_s: list[float] = []
    for move in range(moves):
        target = POINTS[(move + 1) % 2]
        started = time.perf_counter()
        written = await services.locations.upsert(SYSTEM, _draft(target))
        answer_s.append(time.perf_counter() - started)  # the mutation answers after at most REFRESH_WAIT_SECONDS
        assert await services.locations.refresh_copies_soon()  # the rest of the refresh, in the background
        service_s.append(time.perf_counter() - started)
        assert written.changed and await mongo.db.inventory.count_documents(
            {"location_id": CODE, "location_version": written.location.copies_version}
        ) == levels
        # The raw baseline: the same documents' copies rewritten by one update_many, nothing else.
        back = POINTS[move % 2]
        started = time.perf_counter()
        await mongo.db.inventory.update_many(
            {"location_id": CODE}, {"$set": {"point": {"type": "Point", "coordinates": [back.lng, back.lat]}}}
        )
        raw_s.append(time.perf_counter() - started)
        await mongo.db.inventory.update_many(
            {"location_id": CODE}, {"$set": {"point": {"type": "Point", "coordinates": [target.lng, target.lat]}}}
        )
    await mongo.client.drop_database(DATABASE)
    await mongo.close()
    return {
        "levels": levels,
        "moves": moves,
        "load_s": round(load_s, 2),
        "upsert_answered_s": [round(s, 2) for s in answer_s],
        "upsert_until_copies_refreshed_s": [round(s, 2) for s in service_s],
        "raw_update_many_s": [round(s, 2) for s in raw_s],
        "median_ratio": round(statistics.median(service_s) / statistics.median(raw_s), 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--levels", type=int, default=100_000, help="inventory levels at the location")
    parser.add_argument("--moves", type=int, default=3, help="moves timed")
    add_output_flags(parser)
    args = parser.parse_args()
    with mongodb() as uri:
        result = asyncio.run(_run(uri, args.levels, args.moves))
    write_result("location_move", args, result)
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
