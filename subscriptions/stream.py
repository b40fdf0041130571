"""The resume protocol every subscription shares: replay from the log after a cursor, then live,
with no gap and no duplicate at the seam.

1. Register a live feed first, so whatever is dispatched from now on is buffered.
2. Replay matching events with seq > cursor from the log until it is exhausted. Everything
   dispatched before the feed existed was committed before, so the replay finds it.
3. Drain the feed, skipping seq <= the last replayed. The hub dispatches in seq order, so from
   here on the stream is in order and complete.
If the feed overflows while the replay runs (a long catch-up), it is replaced and the replay goes on:
the log has everything, so the seam moves forward without loss.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable

from graphql import GraphQLError

from app.domain.errors import Conflict, CursorExpired, DomainError, InvalidInput, SubscriberTooSlow, Unauthenticated
from app.domain.events import DomainEvent, EventFilter, parse_cursor
from app.domain.principals import Principal
from graphql_schema.context import Info
from app.services.events import EventService
from subscriptions.hub import EventHub, Feed


async def events_after(
    hub: EventHub,
    events: EventService,
    selection: EventFilter,
    after: str | None,
    *,
    also: Callable[[DomainEvent], bool] | None = None,
) -> AsyncIterator[DomainEvent]:
    """`selection` must already be scoped to the caller. `also` narrows further, beyond what the log can index."""
    cursor = parse_cursor(after)
    accepts = (lambda e: selection.matches(e) and also(e)) if also else selection.matches

    def subscribe() -> Feed:
        return hub.subscribe(accepts, order_ids=selection.order_ids)

    feed = subscribe()
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
                        yield event
        while True:
            event = await feed.next()
            if last is not None and (event.seq or 0) <= last:
                continue
            last = event.seq
            feed.delivered(last or 0)
            yield event
    finally:
        feed.close()


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
    *,
    also: Callable[[DomainEvent], bool] | None = None,
) -> AsyncIterator[DomainEvent]:
    """A subscription's events for the connection's principal: scoped, resumable, typed errors."""
    context = info.context
    try:
        if context.principal is None:
            raise Unauthenticated("Authentication required: send a credential in connection_init.")
        if context.realtime is None:
            raise Conflict("live events are not available on this server")
        selection = await scope(context.principal)
        async for event in events_after(context.realtime.hub, context.services.events, selection, after, also=also):
            yield event
    except DomainError as exc:
        raise as_graphql_error(exc) from None
