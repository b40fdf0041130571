"""PyMongo's async server selection survives the cancellation of a task that waits in it.

Up to Python 3.11 the driver's condition waits (`pymongo.lock._async_cond_wait`, pymongo 4.9 to at
least 4.20.1) run `Condition.wait()` in a separate task under `asyncio.wait_for`. A task cancelled
just as its wait timed out, while the wait queues to re-acquire the topology lock, leaves the lock
to that orphaned wait for good: every later operation of the client waits for it forever, its
deadline included. `app.repositories.database.connect` works around it; this test replays the
interleaving deterministically and fails without the workaround (that is how the API stopped
answering for good after some database stalls: docs/ARCHITECTURE.md, "Database outages").
"""

from __future__ import annotations

import asyncio
import time

import pymongo
import pytest
from pymongo.errors import PyMongoError

from app.repositories.database import PROBE_SECONDS, Mongo, connect


async def test_cancelling_an_operation_waiting_in_server_selection_leaves_the_client_usable() -> None:
    # Given a client whose operations wait in server selection (nothing listens on port 1)
    client = connect("mongodb://127.0.0.1:1/?serverSelectionTimeoutMS=30000&connectTimeoutMS=500")
    lock = client._topology._lock
    try:
        selector = asyncio.create_task(client.oms.things.find_one({}))
        await asyncio.sleep(0.2)  # inside its first 0.5 s condition wait

        async def another_user_of_the_lock() -> None:  # another operation's selection, a monitor's update
            async with lock:
                await asyncio.sleep(0)

        # When another task holds the topology lock across the moment that wait times out, a third
        # queues for the lock, and the selecting operation is cancelled (its client left, a
        # subscription ended, a background task stepped down) before its wait got the lock back
        async with lock:
            await asyncio.sleep(0.05)
            queued = asyncio.create_task(another_user_of_the_lock())
            await asyncio.sleep(0.5)
            selector.cancel()
        done, pending = await asyncio.wait({selector, queued}, timeout=5)
        for task in pending:
            task.cancel()  # only ever waiting for the lock: cancelling that is safe

        # Then the cancellation ended the operation, not the lock's bookkeeping
        assert selector in done and selector.cancelled(), f"the operation ended with {selector!r}"
        assert queued in done, f"another task still waits for the topology lock: {lock}"
        await asyncio.sleep(0.1)
        assert not lock.locked(), f"nobody holds the topology lock, yet it is {lock}"
        # And a new operation still runs, and fails by its own deadline (nothing listens), not hangs
        started = time.monotonic()
        with pytest.raises(PyMongoError) as failure:
            async with asyncio.timeout(10):
                with pymongo.timeout(1):
                    await client.oms.things.find_one({})
        assert failure.value.timeout and time.monotonic() - started < 5
    finally:
        # Bounded: closing a wedged client waits for the lock too.
        await asyncio.wait({asyncio.ensure_future(client.close())}, timeout=5)


async def test_liveness_fails_for_a_stuck_client_but_not_for_an_unreachable_database() -> None:
    # Given two clients of a database that is not there, one of them stuck behind its own topology
    # lock (as the cancellation bug above left it), the other merely waiting for the database
    unreachable = Mongo(connect("mongodb://127.0.0.1:1/?connectTimeoutMS=500"), "oms")
    stuck = Mongo(connect("mongodb://127.0.0.1:1/?connectTimeoutMS=500"), "oms")
    lock = stuck.client._topology._lock
    await lock.acquire()  # never released while the test runs
    try:
        # When liveness is asked, again and again, until past the probe's deadline and the grace
        answers: dict[str, list[bool]] = {"unreachable": [], "stuck": []}
        until = time.monotonic() + PROBE_SECONDS + 2.5
        while time.monotonic() < until:
            for name, mongo in (("unreachable", unreachable), ("stuck", stuck)):
                answers[name].append(await mongo.responsive(wait_seconds=0.2, stuck_after_seconds=1.0))
        # Then the client that cannot serve says so (an orchestrator restarts it), and the one
        # that waits for its database does not (restarting would not bring the database back)
        assert all(answers["unreachable"]) and not await unreachable.ready(wait_seconds=0.2)
        assert answers["stuck"][0] and not answers["stuck"][-1]
    finally:
        lock.release()
        await unreachable.close()
        await asyncio.wait({asyncio.ensure_future(stuck.close())}, timeout=5)
