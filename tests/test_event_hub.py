"""The hub delivers the global sequence in order and gap-free even when the broker loses or
reorders messages, and never blocks on a subscriber."""

from __future__ import annotations

import asyncio
import contextlib

import pytest
from broadcaster import Broadcast

from app.domain.errors import SubscriberTooSlow
from app.domain.events import DomainEvent, EventFilter
from app.repositories.database import Mongo
from app.services.container import Services
from subscriptions.hub import EventHub
from tests.factories import customer, order
from tests.realtime import append, order_event, wait_stamped

PLACED = order(customer().id)


@contextlib.asynccontextmanager
async def hub_and_sequencer(services: Services, *, drop: set[int], tail_check: float = 0, queue_size: int = 100):
    """A hub on a memory broadcaster, fed by a real sequencer whose hand-off skips the batches
    containing the seqs in `drop` (a broker losing messages)."""
    async with Broadcast("memory://") as broadcast:
        hub = EventHub(broadcast, services.events, queue_size=queue_size, tail_check_seconds=tail_check)
        await hub.start()

        async def lossy_publish(events: list[DomainEvent]) -> None:
            if not {e.seq for e in events} & drop:
                await hub.publish(events)

        sequencer = services.sequencer(on_sequenced=lossy_publish, follow=False, lease_seconds=1)
        task = asyncio.create_task(sequencer.run())
        await asyncio.wait_for(sequencer.leading.wait(), 10)
        try:
            yield hub
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
            await hub.stop()


async def drain(feed, count: int) -> list[int]:  # type: ignore[no-untyped-def]
    return [(await asyncio.wait_for(feed.next(), 5)).seq for _ in range(count)]


async def test_a_lost_message_is_filled_from_the_log_before_the_next_one(services: Services, mongo: Mongo) -> None:
    async with hub_and_sequencer(services, drop={2}) as hub:
        feed = hub.subscribe(EventFilter().matches)
        for step in range(4):
            await append(mongo, order_event(PLACED, step=step))
            await wait_stamped(mongo, step + 1)
        assert await drain(feed, 4) == [1, 2, 3, 4]


async def test_a_lost_last_message_is_found_by_the_tail_check(services: Services, mongo: Mongo) -> None:
    async with hub_and_sequencer(services, drop={3}, tail_check=0.2) as hub:
        feed = hub.subscribe(EventFilter().matches)
        for step in range(3):
            await append(mongo, order_event(PLACED, step=step))
            await wait_stamped(mongo, step + 1)
        assert await drain(feed, 3) == [1, 2, 3]


async def test_duplicates_and_reordered_batches_are_delivered_once_in_order(services: Services, mongo: Mongo) -> None:
    async with hub_and_sequencer(services, drop=set()) as hub:
        feed = hub.subscribe(EventFilter().matches)
        for step in range(3):
            await append(mongo, order_event(PLACED, step=step))
        await wait_stamped(mongo, 3)
        assert await drain(feed, 3) == [1, 2, 3]
        stamped = await services.events.seq_range(0, 3)
        await hub.accept([stamped[2], stamped[0]])  # a deposed leader's late publish
        await append(mongo, order_event(PLACED, step=3))
        assert await drain(feed, 1) == [4]


async def test_an_overflowing_feed_is_cut_off_without_blocking_the_others(services: Services, mongo: Mongo) -> None:
    # The slow feed never reads; the fast one reads each event before the next is written, so it
    # can never be behind, however busy the machine is.
    async with hub_and_sequencer(services, drop=set(), queue_size=3) as hub:
        slow, fast = hub.subscribe(EventFilter().matches), hub.subscribe(EventFilter().matches)
        fast_got: list[int] = []
        for step in range(6):
            await append(mongo, order_event(PLACED, step=step))
            fast_got.append((await asyncio.wait_for(fast.next(), 10)).seq or 0)
        assert fast_got == [1, 2, 3, 4, 5, 6]
        with pytest.raises(SubscriberTooSlow) as too_slow:
            await slow.next()
        assert too_slow.value.last_cursor == 0  # nothing delivered: resume from where it subscribed
