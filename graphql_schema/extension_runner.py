"""Strawberry's schema-extension runner without its per-request reflection.

For every stage of every operation (operation, parse, validate, execute, each streamed result)
Strawberry looks each extension's hook up again: `getattr` on the class, `inspect` to tell a
generator from a coroutine, and a fresh `contextlib.contextmanager` wrapper built with
`functools.wraps`. That is five stages × every extension per request, the same answer each time.
Here the wrapper is made once per (extension class, stage) and bound to the request's extension
instance; entering and leaving the stages (order, exceptions, what a hook may suppress) is
Strawberry's own code, unchanged.
"""

from __future__ import annotations

import contextlib
import functools
import inspect
from collections.abc import Callable
from typing import Any

from strawberry.extensions import SchemaExtension
from strawberry.extensions.context import (
    ExecutingContextManager,
    OperationContextManager,
    ParsingContextManager,
    StreamResultContextManager,
    ValidationContextManager,
    WrappedHook,
)
from strawberry.extensions.runner import SchemaExtensionsRunner
from strawberry.types import StreamExecutionResult

_PLAIN = object()  # a plain (non-generator) hook: Strawberry's own lookup handles it

# (extension class, hook name) → (context manager factory taking the extension, is async), or None
# when the class does not implement the hook. Classes live as long as the schema.
_factories: dict[tuple[type, str], Any] = {}


def _factory(cls: type, name: str) -> Any:
    hook = getattr(cls, name)
    if hook is getattr(SchemaExtension, name):
        return None
    if inspect.isgeneratorfunction(hook):
        return contextlib.contextmanager(hook), False
    if inspect.isasyncgenfunction(hook):
        return contextlib.asynccontextmanager(hook), True
    return _PLAIN


def hook_factory(cls: type, name: str) -> Any:
    """(context manager factory taking the extension, is async) for the class's hook `name`; None
    when the class does not implement it; `_PLAIN` for a plain function (Strawberry wraps those)."""
    key = (cls, name)
    try:
        return _factories[key]
    except KeyError:
        found = _factories[key] = _factory(cls, name)
        return found


class _CachedHooks:
    HOOK_NAME: str

    def get_hook(self, extension: SchemaExtension) -> WrappedHook | None:
        found = hook_factory(type(extension), self.HOOK_NAME)
        if found is None:
            return None
        if found is _PLAIN:
            return super().get_hook(extension)  # type: ignore[misc]
        factory, is_async = found
        hook: Callable[..., Any] = functools.partial(factory, extension)
        return WrappedHook(extension=extension, hook=hook, is_async=is_async)


class _Operation(_CachedHooks, OperationContextManager):
    pass


class _Parsing(_CachedHooks, ParsingContextManager):
    pass


class _Validation(_CachedHooks, ValidationContextManager):
    pass


class _Executing(_CachedHooks, ExecutingContextManager):
    pass


class _StreamResult(_CachedHooks, StreamResultContextManager):
    pass


class CachedHooksRunner(SchemaExtensionsRunner):
    def operation(self) -> OperationContextManager:
        return _Operation(self.extensions)

    def validation(self) -> ValidationContextManager:
        return _Validation(self.extensions)

    def parsing(self) -> ParsingContextManager:
        return _Parsing(self.extensions)

    def executing(self) -> ExecutingContextManager:
        return _Executing(self.extensions)

    def on_stream_result(self, result: StreamExecutionResult) -> StreamResultContextManager:
        return _StreamResult(self.extensions, result)
