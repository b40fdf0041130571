"""The fast path for an operation already parsed and validated: the same work as Strawberry's
`Schema.execute`, minus what is known in advance.

Strawberry's execute runs four stages per operation (operation, parse, validate, execute), each a
fresh context manager that looks every extension's hook up again and stacks them on an
AsyncExitStack. For a document that parses and validates without errors (under the same parse
options and validation rules, cached by its text: graphql_schema/operation_cache.py), the parse
and validate stages only ever hand back the cached document and its empty error list. Here those two stages are
skipped, their outcome set directly, and the two stages left enter and leave the same hooks in
the same order, passing exceptions as AsyncExitStack does but without its bookkeeping. Execution,
error processing and the extensions' results are Strawberry's own code. Anything else (a syntax
or validation error, an operation name not in the document, a subscription, an extension with a
parse, validate or resolve hook of its own, a persisted-query extension in the request) takes the
standard path, which reports it. tests/test_fast_path.py compares both paths' answers, headers
included; the HTTP side is OmsGraphQL._run_prepared (graphql_schema/view.py).
"""

from __future__ import annotations

import functools
from collections.abc import Iterable
from typing import Any, NamedTuple

from graphql import DocumentNode, GraphQLError
from graphql import ExecutionResult as GraphQLExecutionResult
from strawberry.execution import optimized_is_awaitable
from strawberry.extensions import SchemaExtension
from strawberry.schema._graphql_core import execution_context_class_kwargs
from strawberry.schema.schema import _coerce_error  # noqa: PLC2701 - the standard path's own conversion
from strawberry.types import ExecutionContext, ExecutionResult
from strawberry.types.execution import PreExecutionError
from strawberry.types.graphql import OperationType
from strawberry.utils.await_maybe import await_maybe
from strawberry.utils.operation import get_operation_type

from graphql_schema.extension_runner import hook_factory
from graphql_schema.operation_cache import OperationCache, ParseOptions, _parse, _validate

_MAXSIZE = 1_000


class Prepared(NamedTuple):
    """A document that parsed and validated without errors, and whose operation runs over POST."""

    query: str
    operation_name: str | None
    document: DocumentNode
    validation_errors: list[GraphQLError]  # the cached (empty) list the standard path would set


def fast_path_supported(schema: Any) -> bool:
    """Whether every extension's parse and validate work is the OperationCache's (which the fast
    path reproduces), no extension resolves fields (a middleware), and every hook is a generator."""
    if schema.directives or schema.config.enable_experimental_incremental_execution:
        return False
    for extension in schema.extensions:
        cls = extension if isinstance(extension, type) else None
        if cls is None or not issubclass(cls, SchemaExtension) or cls._implements_resolve():
            return False
        for stage in ("on_parse", "on_validate"):
            if cls is not OperationCache and hook_factory(cls, stage) is not None:
                return False
        for stage in ("on_operation", "on_execute"):
            found = hook_factory(cls, stage)
            if found is not None and not isinstance(found, tuple):
                return False
    return True


@functools.lru_cache(maxsize=_MAXSIZE)
def prepare(
    schema: Any, query: str, operation_name: str | None, options: ParseOptions, rules: tuple[type, ...]
) -> Prepared | None:
    """The operation ready to run over POST, or None for anything the standard path must report."""
    try:
        document = _parse(query, options)
    except GraphQLError:
        return None
    errors = _validate(schema._schema, query, options, rules)
    if errors:
        return None
    try:
        operation_type = get_operation_type(document, operation_name)
    except RuntimeError:
        return None
    if operation_type not in (OperationType.QUERY, OperationType.MUTATION):
        return None
    return Prepared(query, operation_name, document, errors)


async def _enter(extensions: Iterable[SchemaExtension], stage: str) -> list[tuple[Any, bool]]:
    """As Strawberry's ExtensionContextManagerBase.__aenter__: each extension's hook entered, in
    order (a hook that fails to enter leaves the ones before it entered, as there)."""
    entered: list[tuple[Any, bool]] = []
    for extension in extensions:
        found = hook_factory(type(extension), stage)
        if found is None:
            continue
        factory, is_async = found
        hook = factory(extension)
        if is_async:
            await hook.__aenter__()
        else:
            hook.__enter__()
        entered.append((hook, is_async))
    return entered


async def _leave(entered: list[tuple[Any, bool]], exc: BaseException | None) -> BaseException | None:
    """As AsyncExitStack's exit: the hooks left in reverse order, each seeing the exception the ones
    after it left (a hook that suppresses it clears it; one that raises replaces it). Returns what
    is still raised after the last one, None if nothing."""
    for hook, is_async in reversed(entered):
        details = (None, None, None) if exc is None else (type(exc), exc, exc.__traceback__)
        try:
            suppressed = await hook.__aexit__(*details) if is_async else hook.__exit__(*details)
        except BaseException as raised:  # noqa: BLE001 - handed to the next hook, then to the caller
            exc = raised
        else:
            if suppressed:
                exc = None
    return exc


async def execute_prepared(
    schema: Any,
    prepared: Prepared,
    *,
    variables: dict[str, Any] | None,
    context: Any,
    allowed_operation_types: Iterable[OperationType],
) -> ExecutionResult:
    """Strawberry's Schema.execute (strawberry/schema/schema.py) for a prepared operation, stage by
    stage: what the parse and validate stages would have set is set here instead."""
    execution_context = ExecutionContext(
        query=prepared.query,
        schema=schema,
        allowed_operations=allowed_operation_types,
        context=context,
        root_value=None,
        variables=variables,
        provided_operation_name=prepared.operation_name,
        operation_extensions=None,
    )
    extensions = schema.get_extensions()
    for extension in extensions:
        extension.execution_context = execution_context
    extensions_runner = schema.create_extensions_runner(execution_context, extensions)
    middleware_manager = schema._get_middleware_manager(extensions)
    try:
        operation = await _enter(extensions, "on_operation")
        try:
            # The parse and validate stages' outcome (OperationCache.on_parse / on_validate).
            execution_context.graphql_document = prepared.document
            execution_context.pre_execution_errors = prepared.validation_errors
            executing = await _enter(extensions, "on_execute")
            try:
                if not execution_context.result:
                    result = await await_maybe(
                        schema._get_execute_function()(
                            schema._schema,
                            prepared.document,
                            root_value=None,
                            middleware=middleware_manager,
                            variable_values=variables,
                            operation_name=execution_context.operation_name,
                            context_value=context,
                            is_awaitable=optimized_is_awaitable,
                            **execution_context_class_kwargs(schema.execution_context_class),
                            **schema._get_custom_context_kwargs(None),
                        )
                    )
                    execution_context.result = result
                else:
                    result = execution_context.result
                if isinstance(result, GraphQLExecutionResult) and result.errors:
                    execution_context.pre_execution_errors = result.errors
                    schema._process_errors(result.errors, execution_context)
            except BaseException as exc:
                _raise_unless_suppressed(await _leave(executing, exc))
            else:
                _raise_unless_suppressed(await _leave(executing, None), suppressed_ok=True)
        except BaseException as exc:
            _raise_unless_suppressed(await _leave(operation, exc))
        else:
            _raise_unless_suppressed(await _leave(operation, None), suppressed_ok=True)
    except Exception as exc:  # noqa: BLE001 - as Strawberry's execute: a refusal becomes the result
        return await schema._handle_execution_result(
            execution_context, PreExecutionError(data=None, errors=[_coerce_error(exc)]), extensions_runner
        )
    return await schema._handle_execution_result(execution_context, result, extensions_runner, skip_process_errors=True)


def _raise_unless_suppressed(exc: BaseException | None, *, suppressed_ok: bool = False) -> None:
    """After a stage is left: what is still raised goes on. An error a hook swallowed leaves no
    result to return (Strawberry's execute then fails too): reported as an error result."""
    if exc is not None:
        raise exc
    if not suppressed_ok:
        raise RuntimeError("a schema extension suppressed an error before the operation had a result")
