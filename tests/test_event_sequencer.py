"""The sequencer: seq in commit order, exactly once, across restarts, lost resume tokens and failover."""

from __future__ import annotations

import asyncio
import contextlib
import os
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Callable

from pymongo.errors import OperationFailure

from app.domain.events import DomainEvent
from app.repositories.database import Mongo, connect
from app.repositories.events import EventRepository, to_doc
from app.repositories.sequencer import SEQUENCER, LeaseRepository, RelayStateRepository
from app.services.container import Services
from app.services.sequencer import Sequencer
from app.settings import Settings
from tests.factories import customer, order
from tests.realtime import ROOT, append, order_event, stop_process, wait_stamped

PLACED = order(customer().id)


def event(step: int) -> DomainEvent:
    return order_event(PLACED, step=step)


@contextlib.asynccontextmanager
async def running(services: Services, *, lease_seconds: float = 5.0) -> AsyncIterator[tuple[Sequencer, list[DomainEvent]]]:
    handed_on: list[DomainEvent] = []

    async def collect(events: list[DomainEvent]) -> None:
        handed_on.extend(events)

    sequencer = services.sequencer(on_sequenced=collect, follow=False, lease_seconds=lease_seconds)
    task = asyncio.create_task(sequencer.run())
    try:
        await asyncio.wait_for(sequencer.leading.wait(), 10)
        yield sequencer, handed_on
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def until(condition: Callable[[], bool], what: str, *, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting until {what}"
        await asyncio.sleep(0.01)


async def handed_on_count(handed_on: list[DomainEvent], count: int) -> None:
    """The hand-on follows the stamping commit: wait for it, not for luck."""
    await until(lambda: len(handed_on) >= count, f"{count} events are handed on")


async def commit_out_of_insert_order(mongo: Mongo, first: DomainEvent, second: DomainEvent) -> None:
    """`first` is inserted first (smaller id) but commits after `second`."""
    events = mongo.db.events
    async with mongo.client.start_session() as early, mongo.client.start_session() as late:
        await early.start_transaction()
        await events.insert_one(to_doc(first), session=early)
        await late.start_transaction()
        await events.insert_one(to_doc(second), session=late)
        await late.commit_transaction()
        await early.commit_transaction()


def steps_in_seq_order(docs: list[dict]) -> list[int]:
    return [d["payload"]["step"] for d in sorted(docs, key=lambda d: d["seq"])]


async def test_seq_follows_commit_order_not_insert_order(services: Services, mongo: Mongo) -> None:
    async with running(services) as (_, handed_on):
        await append(mongo, event(1))
        await commit_out_of_insert_order(mongo, event(2), event(3))
        docs = await wait_stamped(mongo, 3)
        await handed_on_count(handed_on, 3)
    assert steps_in_seq_order(docs) == [1, 3, 2]
    assert [d["seq"] for d in docs] == [1, 2, 3]
    assert [(e.seq, e.payload["step"]) for e in handed_on] == [(1, 1), (2, 3), (3, 2)]


async def test_a_restart_resumes_from_the_stored_token_without_restamping(services: Services, mongo: Mongo) -> None:
    async with running(services):
        await append(mongo, event(1), event(2))
        await wait_stamped(mongo, 2)
    # Nobody sequences now; these commit out of insert order.
    await commit_out_of_insert_order(mongo, event(3), event(4))
    await append(mongo, event(5))
    state = await mongo.db.relay_state.find_one({"_id": SEQUENCER})
    assert state["last_seq"] == 2 and state["resume_token"] is not None
    async with running(services) as (_, handed_on):
        docs = await wait_stamped(mongo, 5)
        await handed_on_count(handed_on, 3)
    # Resumed from the token: commit order (4 before 3), which the degraded scan would not give.
    assert steps_in_seq_order(docs) == [1, 2, 4, 3, 5]
    assert [e.seq for e in handed_on] == [3, 4, 5]


async def test_a_token_that_left_the_oplog_falls_back_to_stamping_the_backlog(services: Services, mongo: Mongo) -> None:
    async with running(services):
        await append(mongo, event(1))
        await wait_stamped(mongo, 1)
    await commit_out_of_insert_order(mongo, event(2), event(3))
    # A resume token from before the oplog's start: the same token with its cluster time set to 1.
    state = await mongo.db.relay_state.find_one({"_id": SEQUENCER})
    data = state["resume_token"]["_data"]
    assert data.startswith("82")
    ancient = {"_data": "82" + "0000000100000001" + data[18:]}
    await mongo.db.relay_state.update_one({"_id": SEQUENCER}, {"$set": {"resume_token": ancient}})
    async with running(services) as (_, handed_on):
        docs = await wait_stamped(mongo, 3)
        await append(mongo, event(4))  # and the live stream continues after the backlog
        docs = await wait_stamped(mongo, 4)
        await handed_on_count(handed_on, 3)
    # Degraded mode: the backlog in _id order (2 before 3), nothing lost or stamped twice.
    assert steps_in_seq_order(docs) == [1, 2, 3, 4]
    assert [e.seq for e in handed_on] == [2, 3, 4]
    state = await mongo.db.relay_state.find_one({"_id": SEQUENCER})
    assert state["resume_token"] != ancient and state["last_seq"] == 4


async def test_events_that_come_round_again_stamped_keep_their_seq(services: Services, mongo: Mongo) -> None:
    """A batch is stamped without looking first; events stamped before (as the backlog scan stamps
    ahead of the stream) send it round again with a look-up, so seqs stay dense and none changes."""
    async with running(services):
        await append(mongo, event(1))
        await wait_stamped(mongo, 1)
        earlier = (await mongo.db.relay_state.find_one({"_id": SEQUENCER}))["resume_token"]
        await append(mongo, event(2), event(3))
        await wait_stamped(mongo, 3)
    # The stream resumes from before events 2 and 3, which have their seqs: they come round again.
    await mongo.db.relay_state.update_one({"_id": SEQUENCER}, {"$set": {"resume_token": earlier}})
    async with running(services) as (_, handed_on):
        await append(mongo, event(4))
        docs = await wait_stamped(mongo, 4)
        await handed_on_count(handed_on, 1)
    assert steps_in_seq_order(docs) == [1, 2, 3, 4]
    assert [d["seq"] for d in docs] == [1, 2, 3, 4]
    assert [(e.seq, e.payload["step"]) for e in handed_on] == [(4, 4)]
    assert (await mongo.db.relay_state.find_one({"_id": SEQUENCER}))["last_seq"] == 4


async def test_a_deposed_leader_cannot_stamp(mongo: Mongo) -> None:
    relay_state = RelayStateRepository(mongo.db)
    await relay_state.fence(1)
    await relay_state.fence(2)  # a new leader took over
    await append(mongo, event(1))

    async def stale_batch(session):  # type: ignore[no-untyped-def]
        await EventRepository(mongo.db).stamp([("nope", 1)], session=session)
        return await relay_state.save(1, 1, None, session=session)

    assert await mongo.transaction(stale_batch) is False
    assert (await mongo.db.relay_state.find_one({"_id": SEQUENCER}))["last_seq"] == 0


async def acquired_after_expiry(leases: LeaseRepository, owner: str, *, timeout: float = 30.0):  # type: ignore[no-untyped-def]
    """The lease for `owner`, taken as soon as the holder's lease has expired."""
    deadline = time.monotonic() + timeout
    while (lease := await leases.acquire(SEQUENCER, owner, 30)) is None:
        assert time.monotonic() < deadline, "the lease never expired"
        await asyncio.sleep(0.05)
    return lease


async def test_leases_expire_and_pass_to_the_next_instance(mongo: Mongo) -> None:
    leases = LeaseRepository(mongo.db)
    first = await leases.acquire(SEQUENCER, "a", 30)
    assert first is not None and first.epoch == 1
    assert await leases.acquire(SEQUENCER, "b", 30) is None
    assert await leases.acquire(SEQUENCER, "a", 1) == first  # renewal keeps the epoch
    second = await acquired_after_expiry(leases, "b")
    assert second.epoch == 2
    assert not await leases.renew(SEQUENCER, first, 30)


async def test_only_a_vanished_holders_session_is_named_to_its_successor(mongo: Mongo) -> None:
    leases = LeaseRepository(mongo.db)
    first = await leases.acquire(SEQUENCER, "a", 10)
    assert first is not None and await leases.record_session(SEQUENCER, first, {"id": "a-session"})
    assert await leases.predecessor_session(SEQUENCER, first) is None  # never our own
    await leases.release(SEQUENCER, first)  # a clean hand-over: nothing to end
    second = await leases.acquire(SEQUENCER, "b", 30)
    assert second is not None and await leases.predecessor_session(SEQUENCER, second) is None
    assert await leases.record_session(SEQUENCER, second, {"id": "b-session"})
    assert await leases.acquire(SEQUENCER, "b", 1) == second  # b vanishes: its lease expires with its session still named
    third = await acquired_after_expiry(leases, "c")
    assert await leases.predecessor_session(SEQUENCER, third) == {"id": "b-session"}
    assert not await leases.record_session(SEQUENCER, second, {"id": "late"})  # a deposed holder cannot


async def test_failover_after_the_leader_is_killed_loses_and_duplicates_nothing(
    services: Services, mongo: Mongo, settings: Settings
) -> None:
    env = {
        **os.environ,
        "MONGODB_URI": settings.mongodb_uri or "",
        "OMS_DB_NAME": settings.database,
        "OMS_RELAY_LEASE_SECONDS": "3",
        "OMS_LOG_LEVEL": "WARNING",
    }
    relay = subprocess.Popen([sys.executable, "-m", "app.cli", "relay"], cwd=ROOT, env=env)
    try:
        leases = LeaseRepository(mongo.db)
        deadline = time.monotonic() + 60  # a process start on a loaded machine
        while (holder := await leases.holder(SEQUENCER)) is None:
            assert relay.poll() is None and time.monotonic() < deadline, "the relay never took the lease"
            await asyncio.sleep(0.05)
        assert holder.epoch == 1
        total = 120

        async def writer() -> None:
            for step in range(0, total, 2):
                await append(mongo, event(step), event(step + 1))
                await asyncio.sleep(0.02)

        handed_on: list[DomainEvent] = []

        async def collect(events: list[DomainEvent]) -> None:
            handed_on.extend(events)

        standby = services.sequencer(on_sequenced=collect, follow=False, lease_seconds=3.0)
        standby_task = asyncio.create_task(standby.run())
        writing = asyncio.create_task(writer())
        try:
            await wait_stamped(mongo, 20)
            assert not standby.leading.is_set()
            relay.kill()  # no clean-up: the lease stays until it expires
            relay.wait(timeout=10)
            await writing
            docs = await wait_stamped(mongo, total, timeout=60)
            assert standby.leading.is_set()
            await until(lambda: bool(handed_on) and handed_on[-1].seq == total, "the standby handed on the last event")
        finally:
            standby_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await standby_task
    finally:
        stop_process(relay, kill=True)
    assert sorted(d["seq"] for d in docs) == list(range(1, total + 1))
    assert sorted(d["payload"]["step"] for d in docs) == list(range(total))
    # Each event appended in one transaction is stamped in order, whoever stamped it.
    for step in range(0, total, 2):
        pair = {d["payload"]["step"]: d["seq"] for d in docs if d["payload"]["step"] in (step, step + 1)}
        assert pair[step + 1] == pair[step] + 1
    taken_over = [e.seq for e in handed_on]
    assert taken_over == list(range(taken_over[0], total + 1)) and taken_over[0] > 20
    assert (await mongo.db.leases.find_one({"_id": SEQUENCER}))["epoch"] == 2


async def test_a_leader_that_died_mid_batch_does_not_stall_the_takeover(
    services: Services, mongo: Mongo, settings: Settings
) -> None:
    """The dead leader's stamping transaction stays open on the server (its lifetime limit is a minute)
    and holds the relay state's lock; the successor ends that session instead of waiting for it."""
    leases = LeaseRepository(mongo.db)
    dead = await leases.acquire(SEQUENCER, "dead-leader", 2)
    assert dead is not None
    await RelayStateRepository(mongo.db).fence(dead.epoch)
    await append(mongo, event(0))
    elsewhere = Mongo(connect(settings.mongodb_uri or ""), settings.database)
    try:
        async with elsewhere.client.start_session() as session:
            assert await leases.record_session(SEQUENCER, dead, session.session_id)
            await session.start_transaction()
            await elsewhere.db.relay_state.update_one({"_id": SEQUENCER}, {"$set": {"last_seq": 1}}, session=session)
            # ...and the process dies here, its commit never sent.
            started = time.monotonic()
            async with running(services, lease_seconds=0.5):
                docs = await wait_stamped(mongo, 1, timeout=40)
            taken_over_in = time.monotonic() - started
            with contextlib.suppress(OperationFailure):
                await session.abort_transaction()
    finally:
        await elsewhere.close()
    assert [d["seq"] for d in docs] == [1]
    # Without ending the dead session the takeover waits for the server to reap it (60 s).
    assert taken_over_in < 30, f"the takeover waited {taken_over_in:.1f} s for the dead leader's transaction"
    assert (await mongo.db.relay_state.find_one({"_id": SEQUENCER}))["last_seq"] == 1
