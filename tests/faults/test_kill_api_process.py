"""kill -9 of one of two API processes sharing a database, in the middle of capture load: the
survivor ends the dead process's open transactions, so writes to the same stock go through within
seconds instead of waiting a minute for the server to reap them."""

from __future__ import annotations

import asyncio
import contextlib
import time

import httpx
import pytest

from app.domain.principals import Role
from app.repositories.database import Mongo
from app.services.container import Services
from app.settings import Settings
from tests.factories import World
from tests.order_helpers import CAPTURE, capture_input, network
from tests.realtime import SubprocessServer, stop_process

pytestmark = pytest.mark.usefixtures("reservations_consistent")

ADJUST = """mutation($input: AdjustStockInput!) { adjustStock(input: $input) {
  __typename ... on AdjustStockPayload { level { onHand } } ... on Error { code message } } }"""


async def _open_transactions_of(mongo: Mongo, owner_sessions: list[bytes]) -> int:
    cursor = await mongo.client.admin.aggregate([{"$currentOp": {"idleSessions": True}}])
    ops = await cursor.to_list(None)
    return sum(1 for op in ops if op.get("transaction") and bytes(op.get("lsid", {}).get("id", b"")) in owner_sessions)


async def test_kill_9_mid_capture_blocks_the_survivor_for_seconds_not_a_minute(
    world: World, settings: Settings, services: Services, mongo: Mongo
) -> None:
    await network(world)
    # SKU-3 is stocked only at DC-CHI: every capture of it locks that one inventory document.
    await mongo.db.inventory.update_one({"_id": "SKU-3@DC-CHI"}, {"$set": {"on_hand": 100_000, "available": 100_000}})
    _, token = await services.auth.create_api_key(name="load", role=Role.ADMIN)
    headers = {"Authorization": f"Bearer {token}"}
    async with SubprocessServer(settings) as doomed, SubprocessServer(settings) as survivor:
        stop = asyncio.Event()

        async def capture_loop(client: httpx.AsyncClient, n: int) -> None:
            i = 0
            while not stop.is_set():
                i += 1
                given = capture_input(f"K-{n}-{i}", lines=[{"sku": "SKU-3", "quantity": 1, "unitPriceCents": 400}])
                with contextlib.suppress(httpx.HTTPError):
                    await client.post("/graphql", json={"query": CAPTURE, "variables": {"input": given}})

        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{doomed.port}", headers=headers, timeout=60) as load:
            loops = [asyncio.create_task(capture_loop(load, n)) for n in range(16)]
            try:
                # Kill once the doomed process is mid-transaction with its sessions named.
                deadline = time.monotonic() + 60
                while True:
                    entry = await mongo.db.instances.find_one(
                        {"_id": {"$regex": f":{doomed.process.pid}:"}, "sessions.0": {"$exists": True}}  # type: ignore[union-attr]
                    )
                    sessions = [bytes(s["id"]) for s in entry["sessions"]] if entry else []
                    if sessions and await _open_transactions_of(mongo, sessions):
                        doomed.process.kill()  # type: ignore[union-attr]
                        break
                    assert time.monotonic() < deadline, "no transaction of the doomed process was ever caught open"
                doomed.process.wait(10)  # type: ignore[union-attr]
                killed_at = time.monotonic()
                left_open = await _open_transactions_of(mongo, sessions)
            finally:
                stop.set()
                await asyncio.gather(*loops)
        # The dead process's transaction (and its locks) must end soon, while the survivor serves.
        while await _open_transactions_of(mongo, sessions):
            assert time.monotonic() - killed_at < 60, "the dead process's transaction was never ended"
            await asyncio.sleep(0.1)
        ended_after = time.monotonic() - killed_at
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{survivor.port}", headers=headers, timeout=120) as client:
            adjust = {"sku": "SKU-3", "location": "DC-CHI", "delta": 1, "reason": "recount"}
            adjusted = (await client.post("/graphql", json={"query": ADJUST, "variables": {"input": adjust}})).json()
            again = capture_input("after", lines=[{"sku": "SKU-3", "quantity": 1, "unitPriceCents": 400}])
            captured = (await client.post("/graphql", json={"query": CAPTURE, "variables": {"input": again}})).json()
        stop_process(doomed.process, kill=True)
    assert left_open >= 1  # the fault happened: the dead process left a transaction holding locks
    assert adjusted["data"]["adjustStock"]["__typename"] == "AdjustStockPayload", adjusted
    assert captured["data"]["captureOrder"]["__typename"] == "CaptureOrderPayload", captured
    # Without the survivor's watch the server reaps it at its 60 s transaction limit.
    assert ended_after < 20, f"the dead process's transaction stayed open {ended_after:.1f} s"
