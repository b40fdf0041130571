"""Parsing and validation, cached by the operation's text.

Strawberry's ValidationCache keys its cache by the parsed document, and hashing a syntax tree walks
every node of it on each request: a third of a millisecond for a small query here, a tenth of the
whole request. A string's hash is computed once and kept by Python, so both caches key by the text
(plus the parse options and the validation rules in force, which the operation guard sets per
deployment before parsing begins).
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Iterator
from typing import Any

from graphql import DocumentNode, GraphQLError, GraphQLSchema, parse
from graphql.validation import ASTValidationRule
from strawberry.extensions import SchemaExtension
from strawberry.schema.schema import validate_document

_MAXSIZE = 1_000

ParseOptions = tuple[tuple[str, Any], ...]


@functools.lru_cache(maxsize=_MAXSIZE)
def _parse(query: str, options: ParseOptions) -> DocumentNode:
    return parse(query, **dict(options))


@functools.lru_cache(maxsize=_MAXSIZE)
def _validate(
    schema: GraphQLSchema, query: str, options: ParseOptions, rules: tuple[type[ASTValidationRule], ...]
) -> list[GraphQLError]:
    return validate_document(schema, _parse(query, options), rules)


class OperationCache(SchemaExtension):
    def on_parse(self) -> Iterator[None]:
        execution = self.execution_context
        if execution.query and execution.graphql_document is None:
            # A syntax error is left for Strawberry's own parse to raise and report in its place.
            with contextlib.suppress(GraphQLError):
                execution.graphql_document = _parse(execution.query, _options(execution))
        yield

    def on_validate(self) -> Iterator[None]:
        execution = self.execution_context
        rules = tuple(execution.validation_rules)
        if execution.query and rules and execution.pre_execution_errors is None:
            options = _options(execution)
            if _parse(execution.query, options) is execution.graphql_document:
                execution.pre_execution_errors = _validate(execution.schema._schema, execution.query, options, rules)
        yield


def _options(execution: Any) -> ParseOptions:
    return tuple(sorted(execution.parse_options.items()))
