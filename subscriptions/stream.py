"""The resume protocol every subscription shares: replay from the log after a cursor, then live,
with no gap and no duplicate at the seam.

1. Register a live feed first, so whatever is dispatched from now on is buffered.
2. Replay matching events with seq > cursor from the log until it is exhausted. Everything
   dispatched before the feed existed was committed before, so the replay finds it.
3. Drain the feed, skipping seq <= the last replayed. The hub dispatches in seq order, so from
   here on the stream is in order and complete.
If the feed overflows while the replay runs (a long catch-up), it is replaced and the replay goes on:
the log has everything, so the seam moves forward without loss.

Backpressure comes from the socket: before each event the subscription waits while its connection
holds more unsent bytes than the limit (subscriptions/backlog.py), so a client that reads slowly
slows its own replay and leaves live events in its bounded feed. If the feed overflows meanwhile the
subscriber is too far behind: it ends with SubscriberTooSlow and the cursor of the last event it was
sent. (The generator is asked for the next event only once the previous one was written, so the
check before each event sees everything sent so far.)
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import TypeVar

from graphql import GraphQLError

from app import metrics
from app.domain.errors import Conflict, CursorExpired, DomainError, InvalidInput, SubscriberTooSlow, Unauthenticated
from app.domain.events import DomainEvent, EventFilter, parse_cursor
from app.domain.principals import Principal
from graphql_schema.context import Context, Info
from app.services.events import EventService
from subscriptions import handover
from subscriptions.backlog import SendBacklog
from subscriptions.hub import EventHub, Feed

T = TypeVar("T")


async def events_after(
    hub: EventHub,
    events: EventService,
    selection: EventFilter,
    after: str | None,
    *,
    also: Callable[[DomainEvent], bool] | None = None,
    send_limit: SendLimit | None = None,
    hand_over: Callable[[LiveEvents], bool] | None = None,
) -> AsyncIterator[DomainEvent]:
    """`selection` must already be scoped to the caller. `also` narrows further, beyond what the log can index.
    `hand_over`, asked before each live event, may take the live events (and their feed) over: the
    stream ends then (subscriptions/handover.py)."""
    cursor = parse_cursor(after)
    accepts = (lambda e: selection.matches(e) and also(e)) if also else selection.matches

    def subscribe() -> Feed:
        return hub.subscribe(accepts, order_ids=selection.order_ids)

    feed: Feed | None = subscribe()
    try:
        last = cursor
        if cursor is not None:
            await events.check_cursor(cursor)
            while True:
                if feed.overflowed:
                    feed.close()
                    feed = subscribe()
                batch = await events.replay(selection, cursor if last is None else last)
                if not batch:
                    if feed.overflowed:
                        continue
                    break
                for event in batch:
                    last = event.seq
                    feed.delivered(last or 0)
                    if also is None or also(event):
                        if send_limit is not None:
                            # A slow reader slows its replay; an overflowing feed is replaced above.
                            await send_limit.room()
                        metrics.EVENTS_DELIVERED.inc()
                        yield event
        live_events = LiveEvents(feed, last, send_limit)
        while True:
            if hand_over is not None and hand_over(live_events):
                feed = None  # the taker closes it
                return
            yield await live_events.next()
    finally:
        if feed is not None:
            feed.close()


class LiveEvents:
    """A subscription's live phase: its feed in seq order, after what the replay sent, each event
    waiting for room under the connection's send limit."""

    __slots__ = ("_feed", "_last", "_send_limit")

    def __init__(self, feed: Feed, last: int | None, send_limit: SendLimit | None):
        self._feed = feed
        self._last = last
        self._send_limit = send_limit

    async def next(self) -> DomainEvent:
        """The next event; SubscriberTooSlow once the subscriber fell too far behind."""
        feed = self._feed
        while True:
            event = await feed.next()
            if self._last is not None and (event.seq or 0) <= self._last:
                continue
            if self._send_limit is not None and not await self._send_limit.room(feed):
                raise feed.too_slow()
            self._last = event.seq
            feed.delivered(self._last or 0)
            metrics.EVENTS_DELIVERED.inc()
            metrics.observe_lag(event.at)
            return event

    def close(self) -> None:
        self._feed.close()


class SendLimit:
    """The connection's unsent bytes against RealtimeOptions.subscriber_send_limit_bytes."""

    __slots__ = ("_limit", "_send_backlog")

    # The kernel says nothing when its queue drains: look again, soon at first, then less often
    # (a client stuck for long costs two wake-ups a second).
    FIRST_LOOK_SECONDS, LAST_LOOK_SECONDS = 0.01, 0.5

    def __init__(self, send_backlog: SendBacklog, limit: int):
        self._send_backlog = send_backlog
        self._limit = limit
        send_backlog.hold_up_to(limit)

    @classmethod
    def of(cls, context: Context) -> SendLimit | None:
        """None when nothing can be measured (not a WebSocket, another server) or the check is off."""
        if context.send_backlog is None or context.realtime is None or context.realtime.send_limit_bytes <= 0:
            return None
        return cls(context.send_backlog, context.realtime.send_limit_bytes)

    async def room(self, feed: Feed | None = None) -> bool:
        """Waits until the connection is back under the limit: True then. False as soon as `feed`
        overflows meanwhile (the subscriber fell behind by both measures)."""
        delay = self.FIRST_LOOK_SECONDS
        while self._send_backlog.unsent_bytes() > self._limit:
            if feed is not None and feed.overflowed:
                return False
            await asyncio.sleep(delay)
            delay = min(2 * delay, self.LAST_LOOK_SECONDS)
        return True


def as_graphql_error(exc: DomainError) -> GraphQLError:
    """Subscriptions end with a typed error: the same code and field as query fields, plus the
    cursor to resume from when there is one."""
    extensions: dict[str, object] = {"code": exc.code.value}
    if exc.field:
        extensions["field"] = list(exc.field)
    if isinstance(exc, InvalidInput):
        extensions["issues"] = [{"code": i.code.value, "message": i.message, "field": list(i.field)} for i in exc.issues]
    if isinstance(exc, SubscriberTooSlow) and exc.last_cursor is not None:
        extensions["resumeAfter"] = str(exc.last_cursor)
    if isinstance(exc, CursorExpired):
        extensions["oldestCursor"] = str(exc.oldest_cursor)
    return GraphQLError(exc.message, extensions=extensions)


async def live(
    info: Info,
    scope: Callable[[Principal], Awaitable[EventFilter]],
    after: str | None,
    present: Callable[[DomainEvent], T],
    *,
    also: Callable[[DomainEvent], bool] | None = None,
) -> AsyncIterator[T]:
    """A subscription's events for the connection's principal, each as `present` makes it the
    subscription's type: scoped, resumable, typed errors. Once live, the connection may take the
    events over and send them itself (subscriptions/handover.py); this stream ends then."""
    context = info.context
    active = metrics.SUBSCRIPTIONS.labels(info.field_name)
    active.inc()
    slot = handover.offered.get()
    handed_over = False

    def hand_over(events: LiveEvents) -> bool:
        nonlocal handed_over
        handed_over = slot is not None and slot.take(handover.LiveHandover(events, present, active.dec))
        return handed_over

    try:
        if context.principal is None:
            raise Unauthenticated("Authentication required: send a credential in connection_init.")
        if context.realtime is None:
            raise Conflict("live events are not available on this server")
        selection = await scope(context.principal)
        hub, events = context.realtime.hub, context.services.events
        stream = events_after(
            hub, events, selection, after, also=also, send_limit=SendLimit.of(context),
            hand_over=hand_over if slot is not None else None,
        )
        async for event in stream:
            yield present(event)
    except DomainError as exc:
        raise as_graphql_error(exc) from None
    finally:
        if not handed_over:
            active.dec()
