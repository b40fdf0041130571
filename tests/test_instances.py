"""A process that dies mid-transaction blocks nobody for long: a survivor ends its sessions once its
beat has lapsed; a process that only stalled keeps its transactions."""

from __future__ import annotations

import asyncio
import time

import pytest

from app.repositories.database import Mongo, connect
from app.repositories.instances import InstanceRegistry
from app.services.container import Services
from app.settings import Settings


async def _open_transaction_on(other: Mongo, registry: InstanceRegistry, owner: str, session):  # type: ignore[no-untyped-def]
    """What a process does just before it dies: names its session, then locks a document."""
    await registry.add_sessions(owner, [session.session_id], 0.5)
    await session.start_transaction()
    await other.db.inventory.update_one({"_id": "SKU-1@ST-1"}, {"$inc": {"on_hand": 1}}, session=session)


async def test_a_dead_processs_open_transaction_is_ended_within_seconds(
    services: Services, mongo: Mongo, settings: Settings
) -> None:
    await mongo.db.inventory.insert_one({"_id": "SKU-1@ST-1", "on_hand": 5})
    registry = InstanceRegistry(mongo.db)
    await registry.beat("dead", 0.5)
    other = Mongo(connect(settings.mongodb_uri or ""), settings.database)
    watch = services.instance_watch(owner="survivor", lease_seconds=0.5)
    try:
        async with other.client.start_session() as session:
            await _open_transaction_on(other, registry, "dead", session)
            # ...and the process dies: no commit, no abort, no more beats.
            await watch.start()
            started = time.monotonic()
            # A write outside any transaction waits behind the dead one's lock until it is ended.
            await asyncio.wait_for(mongo.db.inventory.update_one({"_id": "SKU-1@ST-1"}, {"$inc": {"on_hand": 10}}), 45)
            waited = time.monotonic() - started
    finally:
        await watch.stop()
        await other.close()
    # The dead transaction's change is gone; ours is in. Without the watch the write waits for the
    # server to reap the transaction (60 s), and wait_for above fails first.
    assert (await mongo.db.inventory.find_one({"_id": "SKU-1@ST-1"}))["on_hand"] == 15
    assert watch.reaped == 1 and await mongo.db.instances.count_documents({"_id": "dead"}) == 0
    assert waited < 45


async def test_a_process_that_beats_again_keeps_its_transactions(services: Services, mongo: Mongo, settings: Settings) -> None:
    await mongo.db.inventory.insert_one({"_id": "SKU-1@ST-1", "on_hand": 5})
    registry = InstanceRegistry(mongo.db)
    await registry.beat("stalled", 0.1)
    other = Mongo(connect(settings.mongodb_uri or ""), settings.database)
    watch = services.instance_watch(owner="survivor", lease_seconds=2.0)
    try:
        async with other.client.start_session() as session:
            await _open_transaction_on(other, registry, "stalled", session)
            # Lapsed (as every process is right after a database stall)...
            deadline = time.monotonic() + 30
            while not [e for e in await registry.lapsed() if e.owner == "stalled"]:
                assert time.monotonic() < deadline
                await asyncio.sleep(0.05)
            await watch.reap()  # suspected, not yet ended
            # ...but it keeps beating, each beat lapsing before the next (a slow process): its beat
            # count moves, so it is never confirmed dead, however long this goes on.
            suspected_at = time.monotonic()
            while time.monotonic() - suspected_at < 5.0:
                await registry.beat("stalled", 0.1)
                for _ in range(3):
                    await asyncio.sleep(0.1)
                    await watch.reap()
            await session.commit_transaction()
    finally:
        await other.close()
    assert watch.reaped == 0
    assert (await mongo.db.inventory.find_one({"_id": "SKU-1@ST-1"}))["on_hand"] == 6


async def test_a_clean_exit_leaves_no_entry_and_sessions_are_named_once(services: Services, mongo: Mongo) -> None:
    watch = services.instance_watch(owner="me")
    await watch.start()
    try:

        async def work(session) -> None:  # type: ignore[no-untyped-def]
            await mongo.db.scratch.insert_one({"n": 1}, session=session)

        for _ in range(5):
            await mongo.transaction(work)  # one after another: the pool hands back the same session
        entry = await mongo.db.instances.find_one({"_id": "me"})
        assert entry is not None and len(entry["sessions"]) == 1
    finally:
        await watch.stop()
    assert await mongo.db.instances.count_documents({}) == 0
    assert mongo.session_tracker is None


async def test_a_refused_kill_leaves_the_entry_for_the_servers_own_limit(
    services: Services, mongo: Mongo, caplog: pytest.LogCaptureFixture
) -> None:
    """A kill the server refuses (as it does without the privilege) is logged, not fatal; the
    server's transaction lifetime limit is then the bound."""
    await InstanceRegistry(mongo.db).add_sessions("odd", [{"id": "not-a-session-id"}], 0.1)
    watch = services.instance_watch(owner="survivor", lease_seconds=0.1)
    deadline = time.monotonic() + 30
    while "could not end a lapsed process's sessions" not in caplog.text:
        assert time.monotonic() < deadline
        await watch.reap()
        await asyncio.sleep(0.05)
    assert watch.reaped == 0 and await mongo.db.instances.count_documents({"_id": "odd"}) == 1
