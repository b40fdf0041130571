"""Schema extensions: typed errors for query fields, and no internals ever reaching a client.

Logging: `log_errors` is the schema's `process_errors` (graphql_schema/schema.py), which Strawberry
calls once per error before extensions rewrite it. Client mistakes (syntax, validation, variable
coercion, refusals by the operation guard or a permission class, domain errors) are logged at DEBUG
without a traceback: the access-log line already carries the first error's code. The database
being unavailable (a driver timeout or lost connection) is logged at WARNING in one line and
reaches the client as SERVICE_UNAVAILABLE with `retryAfterSeconds`. Only an unexpected failure is
logged at ERROR, with its traceback and the request id; the client gets INTERNAL and that request id.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

from graphql import GraphQLError
from strawberry.extensions import SchemaExtension
from strawberry.types import ExecutionContext

from app.domain.errors import DomainError
from app.services.container import database_unavailable
from graphql_schema.errors import graphql_error_from_domain
from graphql_schema.request_end import release_operation, release_stream_result

log = logging.getLogger("oms.graphql")

INTERNAL_MESSAGE = "Internal error. Quote the request id when reporting it."


class TypedErrors(SchemaExtension):
    """Domain errors keep their code and field; anything unexpected is masked (and logged by
    log_errors). First of the schema's extensions, so it finishes last: it also lets go of what the
    operation held (graphql_schema/request_end.py)."""

    def on_operation(self) -> Iterator[None]:
        yield
        try:
            result = self.execution_context.result
            if not result or not result.errors:
                return
            context = self.execution_context.context
            request_id = getattr(context, "request_id", None)
            result.errors = [client_error(error, request_id) for error in result.errors]
        finally:
            release_operation(self.execution_context)

    def on_stream_result(self, result: Any) -> Iterator[None]:
        """Results streamed over WebSocket leave before on_operation ends: convert each one here."""
        errors = getattr(result, "errors", None)
        if errors:
            request_id = getattr(self.execution_context.context, "request_id", None)
            result.errors = [client_error(error, request_id) for error in errors]
        yield
        release_stream_result(self.execution_context, result)


def client_error(error: GraphQLError, request_id: str | None) -> GraphQLError:
    """The error as a client may see it: with a code, and never with internals."""
    original = error.original_error
    if original is None or isinstance(original, GraphQLError):
        return _with_code(error)  # syntax, validation, coercion and permission errors: client-safe
    if isinstance(original, DomainError):
        return graphql_error_from_domain(original, error)
    unavailable = database_unavailable(original)
    if unavailable is not None:
        return graphql_error_from_domain(unavailable, error)
    if _unexpected(error) is None:
        return error
    # Logged (with its traceback) by log_errors, before this rewrite.
    return GraphQLError(
        INTERNAL_MESSAGE,
        nodes=error.nodes,
        path=error.path,
        extensions={"code": "INTERNAL", "requestId": request_id},
    )


def _unexpected(error: GraphQLError) -> BaseException | None:
    """The exception behind an error no client input explains, or None for a client mistake."""
    original = error.original_error
    if original is None or isinstance(original, (GraphQLError, DomainError)) or (error.extensions or {}).get("code"):
        return None
    return original


def log_errors(errors: list[GraphQLError], execution_context: ExecutionContext | None = None) -> None:
    request_id = getattr(execution_context.context, "request_id", None) if execution_context else None
    for error in errors:
        original = _unexpected(error)
        if original is not None and database_unavailable(original) is not None:
            log.warning(
                "database unavailable: %s", str(original).split("\n", 1)[0][:300],
                extra={"request_id": request_id, "path": error.path, "error": type(original).__name__},
            )
        elif original is not None:
            log.error(
                "unexpected error",
                exc_info=(type(original), original, original.__traceback__),
                extra={"request_id": request_id, "path": error.path},
            )
        elif log.isEnabledFor(logging.DEBUG):
            code = (error.extensions or {}).get("code") or getattr(error.original_error, "code", None)
            log.debug("client error: %s", error.message, extra={"code": code, "path": error.path})


def _with_code(error: GraphQLError) -> GraphQLError:
    """Every error a client sees carries a code; the spec's own errors get one by their kind."""
    if not (error.extensions or {}).get("code"):
        if error.message.startswith("Syntax Error"):
            code = "GRAPHQL_PARSE_FAILED"
        elif error.message.startswith("Variable ") or error.path is None and "cannot represent" in error.message:
            code = "INVALID_INPUT"
        else:
            code = "GRAPHQL_VALIDATION_FAILED"
        error.extensions = {**(error.extensions or {}), "code": code}
    return error
