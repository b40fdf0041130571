"""`oms serve --workers 2` and replenishment: one worker of the group follows the reorder-point
crossings (one change stream on `reorder_crossings`, not one per worker: each would make mongod
scan the oplog once more), and when that worker dies another takes the `replenishment` lease over
and replenishes what was crossed meanwhile: every crossing gets exactly one purchase-order line."""

from __future__ import annotations

import asyncio
import os
import signal
import time
from pathlib import Path

import pytest

from app.domain.principals import SYSTEM
from app.domain.suppliers import SupplierItem
from app.repositories.database import Mongo
from app.services.container import Services
from app.settings import Settings
from tests.factories import World, level, product
from tests.replenishment_world import replenishment_world, sell, set_reorder_point
from tests.test_serve_workers import WorkersServer
from tests.test_serve_workers_fanout import START_TIMEOUT, _replaced, _until_change_streams

pytestmark = pytest.mark.usefixtures("reservations_consistent", "incoming_consistent")

BEFORE = [f"SKU-B{n:02d}" for n in range(4)]  # cross while the first holder follows
AFTER = [f"SKU-A{n:02d}" for n in range(4)]  # cross once it is dead


async def _holder(mongo: Mongo, pids: list[int], *, timeout: float = 60) -> int:
    """The pid of the worker holding an unexpired `replenishment` lease, once one of `pids` does."""
    deadline = time.monotonic() + timeout
    while True:
        lease = await mongo.db.leases.find_one({"_id": "replenishment", "$expr": {"$gte": ["$expires_at", "$$NOW"]}})
        if lease is not None and lease.get("owner") and int(lease["owner"].split(":")[1]) in pids:
            return int(lease["owner"].split(":")[1])
        assert time.monotonic() < deadline, f"no replenishment lease held by {pids}: {lease}"
        await asyncio.sleep(0.1)


async def _replenished(mongo: Mongo, skus: list[str], *, timeout: float = 90) -> None:
    crossings = mongo.db["reorder_crossings"]
    deadline = time.monotonic() + timeout
    while await crossings.count_documents({"sku": {"$in": skus}}) < len(skus) or await crossings.count_documents(
        {"sku": {"$in": skus}, "outcome": "PENDING"}
    ):
        assert time.monotonic() < deadline, "crossings were not replenished"
        await asyncio.sleep(0.1)


async def test_one_worker_follows_the_crossings_and_a_successor_replenishes_what_crossed_after_it_died(
    world: World, services: Services, settings: Settings, mongo: Mongo, tmp_path: Path
) -> None:
    await replenishment_world(world, services)
    await world.add_products(*(product(sku) for sku in BEFORE + AFTER))
    await world.add_stock(*(level(sku, "DC-CHI", 10) for sku in BEFORE + AFTER))
    for sku in BEFORE + AFTER:
        await services.suppliers.save_item(SYSTEM, SupplierItem("ACME", sku, f"A-{sku}", 100, 4, 4, True))
        await set_reorder_point(services, sku, "DC-CHI", 5, 9)
    async with WorkersServer(settings, tmp_path / "serve.log") as server:
        pids = await server.wait_workers(mongo, timeout=START_TIMEOUT)

        # One worker holds the lease and follows the crossings; the other opens no stream on them
        holder = await _holder(mongo, pids)
        await _until_change_streams(mongo, {"reorder_crossings": 1})
        await asyncio.gather(*(sell(services, f"B-{sku}-{n}", sku, 2) for sku in BEFORE for n in range(3)))  # 10 → 4
        await _replenished(mongo, BEFORE)
        assert (await _until_change_streams(mongo, {"reorder_crossings": 1}))["reorder_crossings"] == 1

        # When that worker dies and SKUs cross before anyone has taken over
        os.kill(holder, signal.SIGKILL)
        await asyncio.gather(*(sell(services, f"A-{sku}-{n}", sku, 2) for sku in AFTER for n in range(3)))

        # Then another worker (the survivor or the dead one's replacement) takes the lease over
        # and replenishes them
        successor = await _holder(mongo, await _replaced(server, mongo, holder))
        assert successor != holder
        await _replenished(mongo, AFTER)

    lines = [
        (line["crossing_id"], line["sku"])
        for doc in await mongo.db["purchase_orders"].find({}).to_list()
        for line in doc["lines"]
    ]
    marker_ids = sorted(doc["_id"] for doc in await mongo.db["reorder_crossings"].find({}).to_list())
    assert sorted(crossing for crossing, _ in lines) == marker_ids  # one line per crossing, no more
    assert sorted(sku for _, sku in lines) == sorted(BEFORE + AFTER)
    assert "Traceback" not in (tmp_path / "serve.log").read_text()
