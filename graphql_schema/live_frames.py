"""A live subscription's events sent by its connection: `next` frames around shared payloads.

After the handover (subscriptions/handover.py) the operation's own task drains its live events and
sends each one as a graphql-transport-ws `next` frame. The frame's `data` is the subscription's
selection executed on the event by the operation's own graphql-core executor, as Strawberry would,
but computed and JSON-encoded once per event for the whole group of alike subscriptions:

    same document + operation name + variables + the caller's scope (role, locations, channel,
    customer) -> same text

(subscriptions/shared_results.py). The scope is part of the key because a selection may show a
caller what its scope allows, so two scopes never share a result even for the same document. The
frame's `extensions` are those of the subscription's last result sent the ordinary way (its request
id and cost, the same on every result of it). Per subscriber stay: its feed, its send limit, its
`SUBSCRIBER_TOO_SLOW`, and any result with errors (computed and masked for it alone, with its
request id).
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Hashable
from typing import Any, Protocol

from graphql import GraphQLError

from app.access_log import note_error_code
from app.domain.errors import DomainError
from app.domain.principals import Principal
from graphql_schema.extensions import client_error, log_errors
from graphql_schema.http_answers import code_of
from graphql_schema.request_end import release_after_event
from subscriptions.handover import HandoverSlot, LiveHandover
from subscriptions.shared_results import SharedResults
from subscriptions.stream import as_graphql_error

SendText = Callable[[str], Awaitable[None]]


def scope_key(principal: Principal | None) -> Hashable:
    """What decides what a caller may see: everything of the principal but who it is."""
    if principal is None:
        return None
    return (principal.role, tuple(sorted(principal.location_ids)), principal.channel_id, principal.customer_id)


class LiveOperation(Protocol):
    id: str
    query: str
    operation_name: str | None
    variables: dict[str, object] | None


def group_key(operation: LiveOperation, principal: Principal | None) -> Hashable:
    variables = json.dumps(operation.variables or {}, sort_keys=True, separators=(",", ":"), default=repr)
    return (operation.query, operation.operation_name, variables, scope_key(principal))


async def send_live_frames(  # noqa: PLR0917
    operation: LiveOperation,
    slot: HandoverSlot,
    shared: SharedResults,
    send_text: SendText,
    encode: Callable[[Any], str],
    kind: str = "next",
) -> None:
    """Until the subscriber falls too far behind (a final `next` with the typed error) or the
    operation is cancelled (`complete` from the client, the connection closing). `kind`: the
    protocol's result message, `next` (graphql-transport-ws) or `data` (legacy graphql-ws)."""
    live = slot.taken
    assert live is not None
    executor = slot.executor
    context = executor.context_value
    group = group_key(operation, getattr(context, "principal", None))
    frame = _Frame(operation.id, kind, slot.extensions, encode)
    head = '{"id":' + encode(operation.id) + ',"type":"' + kind + '","payload":{"data":'
    extensions = slot.extensions
    tail = ',"extensions":' + encode(extensions) + "}}" if extensions else "}}"
    shared.senders += 1
    try:
        while True:
            try:
                event = await live.events.next()
            except DomainError as exc:
                await _send_error(frame, as_graphql_error(exc), send_text)
                return
            value = None

            async def compute() -> str | None:
                nonlocal value
                value = await _execute(executor, live, event)
                return None if value.errors else encode(value.data)

            data = await shared.text(group, event.seq or 0, compute)
            if data is not None:
                await send_text(head + data + tail)
            else:
                await _send_own(frame, executor, live, event, value, send_text)
    finally:
        shared.senders -= 1
        live.close()


async def _execute(executor: Any, live: LiveHandover, event: Any) -> Any:
    """The selection on one event, as graphql-core maps a subscription's event to its result."""
    result = executor.build_per_event_executor(live.present(event)).execute_operation(False)
    if executor.is_awaitable(result):
        result = await result
    release_after_event(executor.context_value, result.errors)
    return result


class _Frame:
    """A whole result message for the rare results not shared: an error, a result with errors."""

    __slots__ = ("encode", "extensions", "id", "kind")

    def __init__(self, id: str, kind: str, extensions: dict[str, Any] | None, encode: Callable[[Any], str]):
        self.id, self.kind, self.extensions, self.encode = id, kind, extensions, encode

    def text(self, data: Any, errors: list[GraphQLError]) -> str:
        payload: dict[str, Any] = {"data": data}
        if errors:
            payload["errors"] = [error.formatted for error in errors]
        if self.extensions:
            payload["extensions"] = self.extensions
        return self.encode({"id": self.id, "type": self.kind, "payload": payload})


async def _send_own(  # noqa: PLR0917
    frame: _Frame, executor: Any, live: LiveHandover, event: Any, result: Any, send_text: SendText
) -> None:
    """A result with errors: this subscriber's own, logged and masked as Strawberry's pipeline does."""
    if result is None:  # computed by another subscriber of the group: run it again for this one
        result = await _execute(executor, live, event)
    errors: list[GraphQLError] = list(result.errors or ())
    if errors:
        log_errors(errors)
        request_id = getattr(executor.context_value, "request_id", None)
        errors = [client_error(error, request_id) for error in errors]
        note_error_code(code_of(errors[0]))
    await send_text(frame.text(result.data, errors))


async def _send_error(frame: _Frame, error: GraphQLError, send_text: SendText) -> None:
    """The typed error that ends the stream, as a result (the handler sends `complete` after it)."""
    log_errors([error])
    note_error_code(code_of(error))
    await send_text(frame.text(None, [error]))
