"""The process's fan-out: one broadcaster subscription, in-order dispatch to bounded per-subscriber feeds.

Every event reaches the hub as part of a JSON envelope on the broadcaster channel. The hub delivers
the global sequence gap-free and in order: duplicates (seq already seen) are dropped and a gap
(a message lost by Redis pub/sub, or two leaders' publishes interleaving during a failover) is
filled from the log, where every published event already is. A periodic tail check fills a gap at
the end of the stream the same way. Dispatch never awaits a subscriber: each feed is a bounded
buffer, and a feed that overflows is cut off with SubscriberTooSlow.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
from collections.abc import Callable

from broadcaster import Broadcast

from app import metrics
from app.domain.errors import SubscriberTooSlow
from app.domain.events import DomainEvent, decode_envelope, encode_envelope
from app.services.events import EventService

log = logging.getLogger("oms.hub")

CHANNEL = "oms.events"
Predicate = Callable[[DomainEvent], bool]


class Feed:
    """One subscriber's live events: matching, in seq order, at most `limit` waiting."""

    __slots__ = ("_buffer", "_closed", "_hub", "_limit", "_ready", "accepts", "last_seq", "order_ids", "overflowed")

    def __init__(self, hub: EventHub, accepts: Predicate, limit: int, position: int, order_ids: frozenset[str]):
        self._hub = hub
        self.order_ids = order_ids
        self._buffer: collections.deque[DomainEvent] = collections.deque()
        self._ready = asyncio.Event()
        self._limit = limit
        self._closed = False
        self.accepts = accepts
        self.overflowed = False
        # The last seq this subscriber is known to have: where it resumes if it falls behind.
        self.last_seq = position

    def offer(self, event: DomainEvent) -> None:
        if self.overflowed:
            metrics.events_dropped_slow()
            return
        if len(self._buffer) >= self._limit:
            self.overflowed = True
            metrics.events_dropped_slow(len(self._buffer) + 1)
            self._buffer.clear()  # free the memory now; the client resumes from the log
        else:
            self._buffer.append(event)
        self._ready.set()

    async def next(self) -> DomainEvent:
        while not self._buffer:
            if self.overflowed:
                raise self.too_slow()
            self._ready.clear()
            await self._ready.wait()
        event = self._buffer.popleft()
        return event

    def too_slow(self) -> SubscriberTooSlow:
        return SubscriberTooSlow(
            f"fell more than {self._limit} events behind; resume with after: \"{self.last_seq}\"",
            last_cursor=self.last_seq,
        )

    def delivered(self, seq: int) -> None:
        self.last_seq = max(self.last_seq, seq)

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            self._hub._remove(self)


class EventHub:
    def __init__(self, broadcast: Broadcast, events: EventService, *, queue_size: int, tail_check_seconds: float = 5.0):
        self._broadcast = broadcast
        self._events = events
        self._queue_size = queue_size
        self._tail_check_seconds = tail_check_seconds
        self._feeds: set[Feed] = set()
        # Most subscribers watch a few orders: find them by order id instead of asking every feed.
        self._general: set[Feed] = set()
        self._by_order: dict[str, set[Feed]] = {}
        self._next_seq = 1
        self._lock = asyncio.Lock()
        self._tasks: list[asyncio.Task[None]] = []
        self._subscribed = asyncio.Event()
        self._listeners: set[Callable[[], None]] = set()
        self.delivered = 0  # events dispatched by this process (tests and metrics)

    @property
    def position(self) -> int:
        """The seq of the last event this process dispatched."""
        return self._next_seq - 1

    @property
    def subscribers(self) -> int:
        return len(self._feeds)

    def deepest_backlog(self) -> int:
        """Events waiting in the fullest feed (metrics sample it every few seconds, not per event)."""
        return max((len(feed._buffer) for feed in self._feeds), default=0)

    async def start(self) -> None:
        self._tasks.append(asyncio.create_task(self._consume(), name="hub-consume"))
        await self._subscribed.wait()
        # Read after subscribing: anything stamped since is either below this position or will arrive.
        self._next_seq = await self._events.newest_seq() + 1
        if self._tail_check_seconds > 0:
            self._tasks.append(asyncio.create_task(self._check_tail(), name="hub-tail-check"))

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._tasks.clear()

    async def publish(self, events: list[DomainEvent]) -> None:
        """The sequencer's hand-off: one envelope per stamped batch."""
        await self._broadcast.publish(CHANNEL, encode_envelope(events))

    def subscribe(self, accepts: Predicate, *, order_ids: frozenset[str] = frozenset()) -> Feed:
        """`order_ids`: when given, `accepts` only ever accepts events of these orders (an index hint)."""
        feed = Feed(self, accepts, self._queue_size, self.position, order_ids)
        self._feeds.add(feed)
        if order_ids:
            for order_id in order_ids:
                self._by_order.setdefault(order_id, set()).add(feed)
        else:
            self._general.add(feed)
        return feed

    def _remove(self, feed: Feed) -> None:
        self._feeds.discard(feed)
        self._general.discard(feed)
        for order_id in feed.order_ids:
            watchers = self._by_order.get(order_id)
            if watchers is not None:
                watchers.discard(feed)
                if not watchers:
                    del self._by_order[order_id]

    def on_activity(self, listener: Callable[[], None]) -> Callable[[], None]:
        """Call `listener` (which must not block) after each dispatched batch; returns the unsubscribe."""
        self._listeners.add(listener)
        return lambda: self._listeners.discard(listener)

    async def _consume(self) -> None:
        async with self._broadcast.subscribe(CHANNEL) as subscriber:
            self._subscribed.set()
            async for message in subscriber:  # type: ignore[union-attr]
                try:
                    events = decode_envelope(message.message)
                except (ValueError, KeyError, TypeError):
                    metrics.events_dropped_malformed()
                    log.exception("dropping a malformed event envelope")
                    continue
                await self.accept(events)

    async def _check_tail(self) -> None:
        while True:
            await asyncio.sleep(self._tail_check_seconds)
            try:
                newest = await self._events.newest_seq()
                if newest >= self._next_seq:
                    await self._fill_to(newest)
            except Exception:  # noqa: BLE001 - try again next tick
                log.exception("tail check failed")

    async def accept(self, events: list[DomainEvent]) -> None:
        async with self._lock:
            before = self._next_seq
            for event in sorted((e for e in events if e.seq is not None), key=lambda e: e.seq or 0):
                seq = event.seq or 0
                if seq < self._next_seq:
                    continue  # already dispatched
                if seq > self._next_seq:
                    await self._fill_locked(seq - 1)
                self._dispatch(event)
            if self._next_seq != before:
                metrics.EVENTS_DISPATCHED.inc(self._next_seq - before)
                metrics.HUB_POSITION.set(self._next_seq - 1)
                self._notify()

    def _notify(self) -> None:
        for listener in list(self._listeners):
            listener()

    async def _fill_to(self, upto: int) -> None:
        async with self._lock:
            before = self._next_seq
            await self._fill_locked(upto)
            metrics.EVENTS_DISPATCHED.inc(self._next_seq - before)
            metrics.HUB_POSITION.set(self._next_seq - 1)
            self._notify()

    async def _fill_locked(self, upto: int) -> None:
        while self._next_seq <= upto:
            chunk_end = min(upto, self._next_seq + 499)
            start = self._next_seq
            missing = await self._events.seq_range(self._next_seq - 1, chunk_end)
            found = 0
            for event in missing:
                if event.seq is not None and event.seq >= self._next_seq:
                    self._dispatch(event)
                    found += 1
            metrics.events_missing(chunk_end + 1 - start - found)
            # Whatever is still missing is gone (expired); do not wait for it forever.
            self._next_seq = max(self._next_seq, chunk_end + 1)

    def _dispatch(self, event: DomainEvent) -> None:
        watchers = self._by_order.get(event.order_id) if event.order_id else None
        for feed in [*self._general, *watchers] if watchers else list(self._general):
            if feed.accepts(event):
                feed.offer(event)
        self._next_seq = (event.seq or 0) + 1
        self.delivered += 1
