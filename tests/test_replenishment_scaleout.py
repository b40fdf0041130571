"""Two service processes replenish one database: every reorder-point crossing still gets exactly one
purchase-order line (the holder of the `replenishment` lease follows the markers; were two to act
on one, the claim in the line's transaction would decide)."""

from __future__ import annotations

import asyncio
import time

import pytest

from app.domain.principals import SYSTEM
from app.domain.suppliers import SupplierItem
from app.services.container import Services
from app.settings import Settings
from tests.factories import World, level, product
from tests.realtime import SubprocessServer
from tests.replenishment_world import replenishment_world, sell, set_reorder_point

pytestmark = pytest.mark.usefixtures("reservations_consistent", "incoming_consistent")

SKUS = [f"SKU-R{n:02d}" for n in range(16)]


async def test_two_processes_raise_exactly_one_line_per_crossing(world: World, services: Services, settings: Settings) -> None:
    await replenishment_world(world, services)
    await world.add_products(*(product(sku) for sku in SKUS))
    await world.add_stock(*(level(sku, "DC-CHI", 10) for sku in SKUS))
    for sku in SKUS:
        await services.suppliers.save_item(SYSTEM, SupplierItem("ACME", sku, f"A-{sku}", 100, 4, 4, True))
        await set_reorder_point(services, sku, "DC-CHI", 5, 9)
    async with SubprocessServer(settings):
        services.replenishment.start()
        try:
            # Every SKU crosses once: three orders of 2 each (10 → 4), all at once.
            await asyncio.gather(*(sell(services, f"W-{sku}-{n}", sku, 2) for sku in SKUS for n in range(3)))
            crossings = services.mongo.db["reorder_crossings"]
            assert await crossings.count_documents({}) == len(SKUS)
            deadline = time.monotonic() + 60
            while await crossings.count_documents({"outcome": "PENDING"}):
                assert time.monotonic() < deadline, "crossings were not replenished"
                await asyncio.sleep(0.05)
        finally:
            await services.replenishment.stop()
    lines = [
        (line["crossing_id"], line["sku"], line["quantity"])
        for doc in await services.mongo.db["purchase_orders"].find({}).to_list()
        for line in doc["lines"]
    ]
    marker_ids = sorted(doc["_id"] for doc in await services.mongo.db["reorder_crossings"].find({}).to_list())
    assert sorted(crossing for crossing, _, _ in lines) == marker_ids  # one line per crossing, no more
    assert sorted(sku for _, sku, _ in lines) == SKUS and {quantity for _, _, quantity in lines} == {12}
    assert await services.mongo.db["purchase_orders"].count_documents({}) == 1  # one open draft for ACME at DC-CHI
