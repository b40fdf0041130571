"""A subscription's live phase, handed from its GraphQL pipeline to the connection that sends it.

Through Strawberry every delivered event wakes four nested async generators, runs the
subscription's selection in graphql-core, passes the schema extensions' result hooks and is encoded
as JSON, once per subscriber: 300–500 µs of CPU, which capped one process at ~2,000 deliveries a
second. Once a subscription is live (its replay done, one result sent the ordinary way, so the
result's `extensions` are known), its feed is handed over: the WebSocket handler (graphql-transport-ws,
or legacy graphql-ws; graphql_schema/view.py, graphql_schema/live_frames.py) drains it itself and sends each event as a frame whose payload is
executed and encoded once per event for every alike subscription (subscriptions/shared_results.py).

The handler offers a slot per operation in a context variable (each operation runs in a task of
its own, and async generators run in the context of the task that iterates them); the executor of
the operation notes itself there (graphql_schema/execution.py) and `live()` hands its events over
(subscriptions/stream.py). Where no slot is offered (the legacy graphql-ws protocol, HTTP) nothing
changes.
"""

from __future__ import annotations

import contextvars
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from subscriptions.stream import LiveEvents


@dataclass(slots=True)
class LiveHandover:
    """What the connection takes over: the live events, how the subscription presents each one to
    its selection (e.g. OrderUpdate.from_domain), and what to call once it ends."""

    events: LiveEvents
    present: Callable[[Any], Any]
    ended: Callable[[], None]

    def close(self) -> None:
        self.events.close()
        self.ended()


class HandoverSlot:
    """One WebSocket operation's offer to send its live events itself."""

    __slots__ = ("executor", "extensions", "results_sent", "taken")

    def __init__(self) -> None:
        self.executor: Any = None  # the operation's graphql-core executor, noted when it starts
        self.results_sent = 0
        self.extensions: dict[str, Any] | None = None  # of the last result sent the ordinary way
        self.taken: LiveHandover | None = None

    def sent(self, result: Any) -> None:
        self.results_sent += 1
        self.extensions = getattr(result, "extensions", None)

    def take(self, handover: LiveHandover) -> bool:
        """True when the connection takes `handover` (the caller gives its events up then)."""
        if self.taken is not None or self.executor is None or self.results_sent == 0:
            return False
        self.taken = handover
        return True


offered: contextvars.ContextVar[HandoverSlot | None] = contextvars.ContextVar("oms_live_handover", default=None)
