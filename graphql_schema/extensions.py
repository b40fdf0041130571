"""Schema extensions: typed errors for query fields, and no internals ever reaching a client."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

from graphql import GraphQLError
from strawberry.extensions import SchemaExtension

from app.domain.errors import DomainError
from graphql_schema.errors import graphql_error_from_domain

log = logging.getLogger("oms.graphql")

INTERNAL_MESSAGE = "Internal error. Quote the request id when reporting it."


class TypedErrors(SchemaExtension):
    """Domain errors keep their code and field; anything unexpected is logged and masked."""

    def on_operation(self) -> Iterator[None]:
        yield
        result = self.execution_context.result
        if not result or not result.errors:
            return
        context = self.execution_context.context
        request_id = getattr(context, "request_id", None)
        result.errors = [self._convert(error, request_id) for error in result.errors]

    def on_stream_result(self, result: Any) -> Iterator[None]:
        """Results streamed over WebSocket leave before on_operation ends: convert each one here."""
        errors = getattr(result, "errors", None)
        if errors:
            request_id = getattr(self.execution_context.context, "request_id", None)
            result.errors = [self._convert(error, request_id) for error in errors]
        yield

    @staticmethod
    def _convert(error: GraphQLError, request_id: str | None) -> GraphQLError:
        original = error.original_error
        if original is None or isinstance(original, GraphQLError):
            return _with_code(error)  # syntax, validation, coercion and permission errors: client-safe
        if isinstance(original, DomainError):
            return graphql_error_from_domain(original, error)
        if getattr(error, "extensions", None) and "code" in (error.extensions or {}):
            return error
        log.error(
            "unexpected error in resolver",
            exc_info=(type(original), original, original.__traceback__),
            extra={"request_id": request_id, "path": error.path},
        )
        return GraphQLError(
            INTERNAL_MESSAGE,
            nodes=error.nodes,
            path=error.path,
            extensions={"code": "INTERNAL", "requestId": request_id},
        )


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
