"""What an operation holds is let go when it ends, so that reference counting frees it at once.

Whatever a finished request still holds in a reference cycle waits for the cycle collector, and a
gen-1 or gen-2 collection walks every object of the process while every request waits (the serve
GC tuning in app/cli.py). The usual cycles: an exception kept with its traceback (a field error in
the executor's collected errors, a DataLoader future's exception), whose frames hold the executor
or the loader's batch that hold the exception again. Here, when an operation ends (and after each
result a WebSocket operation sends), errors drop their tracebacks (logged by then: graphql_schema/
extensions.py) and the context's DataLoaders drop their futures. The executor's own cycle is broken
where it is built (graphql_schema/execution.py). tests/test_request_cycles.py keeps it so.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from graphql import GraphQLError
from strawberry.types import ExecutionContext

from graphql_schema.dataloaders import Loaders


def release_operation(execution: ExecutionContext) -> None:
    """When an operation ends (TypedErrors.on_operation, after every other extension is done with
    the result, since it is the first extension)."""
    _forget_tracebacks(execution.pre_execution_errors or ())
    _forget_tracebacks(getattr(execution.result, "errors", None) or ())
    _release_loaders(execution.context)


def release_stream_result(execution: ExecutionContext, result: Any) -> None:
    """After each result a WebSocket operation sends (TypedErrors.on_stream_result)."""
    _forget_tracebacks(getattr(result, "errors", None) or ())
    _release_loaders(execution.context)


def release_after_event(context: Any, errors: Iterable[GraphQLError] | None) -> None:
    """After each live event a connection sends itself (graphql_schema/live_frames.py)."""
    _forget_tracebacks(errors or ())
    _release_loaders(context)


def _forget_tracebacks(errors: Iterable[GraphQLError]) -> None:
    for error in errors:
        error.__traceback__ = None
        original = error.original_error
        while original is not None:
            original.__traceback__ = None
            original = original.__cause__ or original.__context__


def _release_loaders(context: Any) -> None:
    loaders = getattr(context, "loaders", None)
    if isinstance(loaders, Loaders):
        loaders.release()
