"""What an operation holds is let go when it ends, so that reference counting frees it at once.

Whatever a finished request still holds in a reference cycle waits for the cycle collector, and a
gen-1 or gen-2 collection walks every object of the process while every request waits (the serve
GC tuning in app/cli.py). The usual cycles: an exception kept with its traceback (a field error in
the executor's collected errors, a DataLoader future's exception), whose frames hold the executor
or the loader's batch that hold the exception again. Here, when an operation ends (and after each
event a subscription sends), errors drop their tracebacks (logged by then: graphql_schema/
extensions.py) and the context's DataLoaders drop their futures. The executor's own cycle is broken
where it is built (graphql_schema/execution.py). tests/test_request_cycles.py keeps it so.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

from graphql import GraphQLError
from strawberry.extensions import SchemaExtension

from graphql_schema.dataloaders import Loaders


class ReleaseAtRequestEnd(SchemaExtension):
    """First in the schema's extensions, so it runs after every other one has finished with the result."""

    def on_operation(self) -> Iterator[None]:
        yield
        execution = self.execution_context
        _forget_tracebacks(execution.pre_execution_errors or ())
        _forget_tracebacks(getattr(execution.result, "errors", None) or ())
        _release_loaders(execution.context)

    def on_stream_result(self, result: Any) -> Iterator[None]:
        yield
        _forget_tracebacks(getattr(result, "errors", None) or ())
        _release_loaders(self.execution_context.context)


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
