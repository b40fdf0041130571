"""Captures in different processes on one hot SKU: they take turns instead of colliding, never
oversell, and every one finishes. Two service containers share the database but not their
in-process queues or turns, which is what two server processes are to each other."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

import pytest

from app import metrics
from app.domain.inventory import InsufficientStock
from app.domain.principals import SYSTEM
from app.repositories.contention import NotYourTurn, TurnRepository
from app.repositories.database import Mongo, Session
from app.services.container import Services, build_services
from app.services.contention import SkuTurns
from tests.factories import World
from tests.order_helpers import capture_input, capture_request, network, reserved

pytestmark = pytest.mark.usefixtures("reservations_consistent")

HOT = {"sku": "SKU-HOT", "quantity": 1}  # 10 units in the whole network (DC-CHI)


def _counts() -> tuple[float, float]:
    return metrics.TRANSACTION_CONFLICTS._value.get(), metrics.SKU_TURN_WAITS._value.get()


async def _until(condition: Callable[[], Awaitable[bool]], seconds: float = 30.0) -> None:
    """Waits for a condition (not for time): fails only if it never comes."""
    deadline = time.monotonic() + seconds
    while not await condition():
        assert time.monotonic() < deadline, "condition not reached"
        await asyncio.sleep(0.005)


async def _nobody_waiting(mongo: Mongo) -> bool:
    return await mongo.db["sku_turns"].count_documents({"waiter": {"$ne": None}}) == 0


async def test_two_processes_on_one_hot_sku_never_oversell_and_every_capture_finishes(
    world: World, services: Services, mongo: Mongo
) -> None:
    await network(world)
    other = build_services(mongo, scheduler_interval_seconds=0)
    conflicts, waits = _counts()
    requests = [
        capture_request(capture_input(f"W-{i}", lines=[HOT, {"sku": "SKU-1", "quantity": 1}], customer={"email": f"c{i}@example.com"}))
        for i in range(40)
    ]
    results = await asyncio.gather(*[(services if i % 2 else other).order_capture.capture(SYSTEM, r) for i, r in enumerate(requests)])
    assert sorted(r.order.status.value for r in results) == ["ALLOCATED"] * 10 + ["PARTIALLY_ALLOCATED"] * 30
    assert sum(a.quantity for r in results for a in r.order.open_allocations if a.sku == "SKU-HOT") == 10
    assert (await reserved(world))["SKU-HOT@DC-CHI"] == 10
    # Every collision a capture met was queued for a turn, not retried blind; no turn is left held.
    new_conflicts, new_waits = metrics.TRANSACTION_CONFLICTS._value.get() - conflicts, metrics.SKU_TURN_WAITS._value.get() - waits
    print("CONFLICTS", new_conflicts, "WAITS", new_waits, "RETRIES", metrics.CAPTURE_RETRIES._value.get())
    assert new_conflicts <= new_waits
    assert await _nobody_waiting(mongo)


async def test_refused_captures_in_two_processes_leave_no_one_waiting(world: World, services: Services, mongo: Mongo) -> None:
    """A marketplace refuses backorders: captures that lose the stock end with an error, and must
    not keep their place in the SKU's line (the next capture would wait out their lease)."""
    await network(world)
    other = build_services(mongo, scheduler_interval_seconds=0)
    for container in (services, other):  # both know the SKU is contended: every capture takes turns
        container.order_capture._turns.mark_hot(["SKU-HOT"])
    requests = [
        capture_request(capture_input(f"A-{i}", channel="amazon", lines=[HOT], customer={"email": f"c{i}@example.com"}))
        for i in range(30)
    ]
    results = await asyncio.gather(
        *[(services if i % 2 else other).order_capture.capture(SYSTEM, r) for i, r in enumerate(requests)], return_exceptions=True
    )
    refused = [r for r in results if isinstance(r, InsufficientStock)]
    captured = [r for r in results if not isinstance(r, BaseException)]
    assert (len(captured), len(refused)) == (10, 20)
    assert (await reserved(world))["SKU-HOT@DC-CHI"] == 10
    assert await _nobody_waiting(mongo)
    assert (await mongo.db["sku_turns"].find_one({"_id": "SKU-HOT"}))["turns"] >= 10


async def test_a_loser_fails_at_its_first_write_and_runs_its_work_once_when_its_turn_comes(mongo: Mongo) -> None:
    first = SkuTurns(mongo=mongo, turns=TurnRepository(mongo.db))
    second = SkuTurns(mongo=mongo, turns=TurnRepository(mongo.db))
    for turns in (first, second):
        turns.mark_hot(["SKU-HOT"])
    await mongo.db["tallies"].insert_one({"_id": "SKU-HOT", "n": 0})
    holding, release = asyncio.Event(), asyncio.Event()
    second_runs = 0
    _, waits = _counts()

    async def holder(session: Session) -> None:
        holding.set()
        await release.wait()  # keeps the turn until the other has met it
        await mongo.db["tallies"].update_one({"_id": "SKU-HOT"}, {"$inc": {"n": 1}}, session=session)

    async def loser(session: Session) -> None:
        nonlocal second_runs
        second_runs += 1
        await mongo.db["tallies"].update_one({"_id": "SKU-HOT"}, {"$inc": {"n": 10}}, session=session)

    held = asyncio.create_task(first.transaction(["SKU-HOT"], holder))
    await holding.wait()
    waiting = asyncio.create_task(second.transaction(["SKU-HOT"], loser))

    async def second_met_the_turn() -> bool:
        return metrics.SKU_TURN_WAITS._value.get() > waits

    await _until(second_met_the_turn)
    release.set()
    await asyncio.gather(held, waiting)
    # The loser's work never ran while the turn was held: the claim failed before it.
    assert second_runs == 1
    assert (await mongo.db["tallies"].find_one({"_id": "SKU-HOT"}))["n"] == 11
    assert await _nobody_waiting(mongo)


async def test_a_capture_waiting_in_line_takes_the_next_turn_before_a_newcomer(mongo: Mongo) -> None:
    turns = TurnRepository(mongo.db)
    async with mongo.client.start_session() as holder:
        await holder.start_transaction()
        await turns.claim(holder, ["SKU-HOT"], "holder")
        waiting = asyncio.create_task(turns.wait_in_line(["SKU-HOT"], "waiter"))

        async def held_back_by_the_server() -> bool:
            ops = await mongo.client.admin.aggregate(
                [{"$currentOp": {"idleSessions": False}}, {"$match": {"ns": f"{mongo.db.name}.sku_turns", "command.findAndModify": "sku_turns"}}]
            )
            return bool(await ops.to_list())

        await _until(held_back_by_the_server)
        assert not waiting.done()
        assert (await mongo.db["sku_turns"].find_one({"_id": "SKU-HOT"})) is None  # the holder has not committed
        await holder.commit_transaction()
    assert await waiting is True
    assert await turns.wait_in_line(["SKU-HOT"], "third") is False  # one waiting slot: taken

    async def claim(me: str) -> None:
        async with mongo.client.start_session() as session:
            await mongo.transaction(lambda s: turns.claim(s, ["SKU-HOT"], me), session=session)

    with pytest.raises(NotYourTurn):
        await claim("newcomer")
    await claim("waiter")
    await claim("newcomer")  # the waiter's turn is taken: the line is open again


async def test_a_waiter_that_vanished_holds_the_line_only_for_its_lease(mongo: Mongo) -> None:
    turns = TurnRepository(mongo.db)
    assert await turns.wait_in_line(["SKU-HOT"], "gone") is True

    async def claim(me: str) -> None:
        await mongo.transaction(lambda s: turns.claim(s, ["SKU-HOT"], me))

    with pytest.raises(NotYourTurn):
        await claim("next")
    await mongo.db["sku_turns"].update_one({"_id": "SKU-HOT"}, [{"$set": {"waiter_until": {"$subtract": ["$$NOW", 1]}}}])
    await claim("next")
    assert await _nobody_waiting(mongo)


async def test_captures_of_a_sold_out_sku_stop_taking_turns(world: World, services: Services, mongo: Mongo) -> None:
    """Backorders reserve nothing, so there is nothing to collide on: no turns once a capture finds
    the SKU sold out (and again after the next collision)."""
    await network(world)
    services.order_capture._turns.mark_hot(["SKU-HOT"])

    async def capture(n: int) -> str:
        given = capture_input(f"S-{n}", lines=[HOT], customer={"email": f"s{n}@example.com"})
        return (await services.order_capture.capture(SYSTEM, capture_request(given))).order.status.value

    async def turns_taken() -> int:
        found = await mongo.db["sku_turns"].find_one({"_id": "SKU-HOT"})
        return found["turns"] if found else 0

    assert [await capture(n) for n in range(10)] == ["ALLOCATED"] * 10
    assert await turns_taken() == 10
    assert await capture(10) == "BACKORDERED"  # took its turn, found none: the SKU cools
    assert await capture(11) == "BACKORDERED"
    assert await turns_taken() == 11
