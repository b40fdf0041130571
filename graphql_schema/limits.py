"""The operation guard: one schema extension that applies the caller's limits to every operation,
over HTTP and WebSocket alike. The limits come from the request context (`Context.limits`, set by
the view from Settings), so one schema built at import time serves every deployment.

In order: token limit (parse); depth, aliases, literal sizes and, when off, introspection
(validation rules, made once per limit values so the validation cache keeps hitting); then before
execution: variable sizes and `$`-keys, anonymous callers, static cost (refused above the maximum),
and the client's budget (RATE_LIMITED, HTTP 429 with Retry-After), charged the static cost up front
and given back, after execution, what the result shows was not used. Results carry
`extensions.requestId` and `extensions.cost` (requested, actual, the bucket's throttleStatus); in
production, "Did you mean …?" hints are removed.
"""

from __future__ import annotations

import functools
import re
from collections.abc import AsyncIterator, Iterator, Mapping
from typing import Any

from graphql import (
    FieldNode,
    GraphQLError,
    ListValueNode,
    OperationDefinitionNode,
    StringValueNode,
    ValidationRule,
)
from graphql.validation import NoSchemaIntrospectionCustomRule
from strawberry.extensions import SchemaExtension
from strawberry.extensions.max_aliases import create_validator as max_aliases_rule
from strawberry.extensions.query_depth_limiter import create_validator as max_depth_rule

from app.access_log import access_var
from app.settings import ApiLimits
from graphql_schema.cost import CostKey, actual_cost, cached_operation_cost, operation_cost

DEFAULT_LIMITS = ApiLimits()
_MAX_INPUT_NESTING = 20
_SUGGESTION = re.compile(r"\s*Did you mean [^?]*\?")


def _input_size_rule(max_string: int, max_list: int) -> type[ValidationRule]:
    class InputSizeRule(ValidationRule):
        def enter_string_value(self, node: StringValueNode, *_: Any) -> None:
            if len(node.value) > max_string:
                self.report_error(
                    GraphQLError(
                        f"A string argument is longer than {max_string} characters.",
                        node,
                        extensions={"code": "INVALID_INPUT"},
                    )
                )

        def enter_list_value(self, node: ListValueNode, *_: Any) -> None:
            if len(node.values) > max_list:
                self.report_error(
                    GraphQLError(
                        f"A list argument has more than {max_list} items.", node, extensions={"code": "INVALID_INPUT"}
                    )
                )

    return InputSizeRule


@functools.lru_cache(maxsize=16)
def _rules(max_depth: int, max_aliases: int, max_string: int, max_list: int, introspection: bool) -> tuple[type[ValidationRule], ...]:
    rules: list[type[ValidationRule]] = [
        max_depth_rule(max_depth, None),
        max_aliases_rule(max_aliases),
        _input_size_rule(max_string, max_list),
    ]
    if not introspection:
        rules.append(NoSchemaIntrospectionCustomRule)
    return tuple(rules)


def operation_rules(limits: ApiLimits) -> tuple[type[ValidationRule], ...]:
    """The validation rules the guard adds for these limits (graphql_schema/fast_path.py prepares
    documents under the same ones)."""
    return _rules(limits.max_depth, limits.max_aliases, limits.max_string_length, limits.max_list_length, limits.introspection)


def _oversized_input(value: Any, limits: ApiLimits, path: tuple[str, ...], nesting: int = 0) -> tuple[tuple[str, ...], str] | None:
    """(path, problem) for the first variable value that is too big, too deep or carries a `$` key."""
    if nesting > _MAX_INPUT_NESTING:
        return path, f"nested more than {_MAX_INPUT_NESTING} levels deep"
    if isinstance(value, str):
        return (path, f"longer than {limits.max_string_length} characters") if len(value) > limits.max_string_length else None
    if isinstance(value, list):
        if len(value) > limits.max_list_length:
            return path, f"has more than {limits.max_list_length} items"
        for index, item in enumerate(value):
            if found := _oversized_input(item, limits, (*path, str(index)), nesting + 1):
                return found
    elif isinstance(value, dict):
        if len(value) > limits.max_list_length:
            return path, f"has more than {limits.max_list_length} keys"
        for key, item in value.items():
            # No input field is named like this; in free-form JSON such a key is a MongoDB operator.
            if not isinstance(key, str) or key.startswith("$") or len(key) > 256:
                return (*path, str(key)[:64]), "keys may not start with $ or be longer than 256 characters"
            if found := _oversized_input(item, limits, (*path, key), nesting + 1):
                return found
    return None


def _selects_data(execution_context: Any) -> bool:
    """Whether the operation reaches any root field besides introspection."""
    document = execution_context.graphql_document
    name = execution_context.operation_name
    for definition in document.definitions if document else ():
        if isinstance(definition, OperationDefinitionNode) and (name is None or (definition.name and definition.name.value == name)):
            return any(not (isinstance(s, FieldNode) and s.name.value.startswith("__")) for s in definition.selection_set.selections)
    return True


class OperationGuard(SchemaExtension):
    # This operation's cost, what it used and its client's bucket level after it (an instance per
    # operation: on WebSocket, the context is the connection's).
    _cost: int | None = None
    _actual: int | None = None
    _level: float | None = None

    def _limits(self) -> ApiLimits:
        return getattr(self.execution_context.context, "limits", None) or DEFAULT_LIMITS

    def on_operation(self) -> Iterator[None]:
        execution = self.execution_context
        limits = self._limits()
        execution.parse_options["max_tokens"] = limits.max_tokens
        execution.validation_rules = execution.validation_rules + operation_rules(limits)
        try:
            yield
        finally:  # refusals raised in on_execute end the operation here too
            self._note_access()
        self._hide_suggestions(execution.result)

    def _note_access(self) -> None:
        """What the access-log line tells about this operation (app/access_log.py): nothing is parsed
        again; the document, the principal and the cost are already known."""
        access = access_var.get()
        if access is None:
            return
        execution = self.execution_context
        principal = getattr(execution.context, "principal", None)
        access.principal = principal.subject if principal is not None else None
        access.cost = self._cost
        access.operation = execution.operation_name
        try:
            access.type = execution.operation_type.value
        except RuntimeError:  # not parsed, or no such operation in the document
            access.type = None

    def on_stream_result(self, result: Any) -> Iterator[None]:
        self._hide_suggestions(result)
        yield

    def _hide_suggestions(self, result: Any) -> None:
        errors = getattr(result, "errors", None)
        if errors and self._limits().hide_suggestions:
            for error in errors:
                error.message = _SUGGESTION.sub("", error.message)

    async def on_execute(self) -> AsyncIterator[None]:
        execution = self.execution_context
        context = execution.context
        limits = self._limits()
        for name, value in (execution.variables or {}).items():
            if problem := _oversized_input(value, limits, (str(name),)):
                path, message = problem
                raise GraphQLError(
                    f"Variable ${'.'.join(path)} {message}.", extensions={"code": "INVALID_INPUT", "field": list(path)}
                )
        if execution.query:
            key = CostKey(execution.query, execution.operation_name, execution.graphql_document)
            cost = cached_operation_cost(execution.schema._schema, key, execution.variables)
        else:
            cost = operation_cost(
                execution.schema._schema, execution.graphql_document, execution.operation_name, execution.variables
            )
        self._cost = cost
        if hasattr(context, "cost"):
            context.cost = cost
        if cost > limits.max_cost:
            raise GraphQLError(
                f"This operation may cost {cost}, above the maximum of {limits.max_cost}: "
                "ask for fewer items (`first`) or fewer nested lists.",
                extensions={"code": "QUERY_TOO_COMPLEX", "cost": cost, "maximumCost": limits.max_cost},
            )
        budget = getattr(context, "budget", None)
        client = getattr(context, "client", "unknown")
        charged = 0
        if budget is not None and budget.enabled:
            decision = await budget.take(client, cost)
            self._level = decision.level
            if not decision.allowed:
                response = getattr(context, "response", None)
                if response is not None:
                    response.status_code = 429
                    response.headers["Retry-After"] = str(decision.retry_after_seconds)
                raise GraphQLError(
                    f"Rate limit: this client's query budget is spent; retry in {decision.retry_after_seconds} s.",
                    extensions={"code": "RATE_LIMITED", "retryAfterSeconds": decision.retry_after_seconds},
                )
            charged = min(cost, budget.capacity)
        # Anonymous callers reach nothing but introspection; refused after their address's budget
        # is charged, so a flood of guessed credentials runs into 429s too. A refused credential
        # says why (invalid, expired); none at all asks for one.
        if getattr(context, "principal", None) is None and _selects_data(execution):
            refused = getattr(context, "credential_error", None)
            if refused is not None:
                raise GraphQLError(refused.message, extensions={"code": refused.code.value})
            raise GraphQLError(
                "Authentication required: send an API key or a bearer token.", extensions={"code": "UNAUTHENTICATED"}
            )
        yield
        self._settle(budget, client, charged)

    def _settle(self, budget: Any, client: str, charged: int) -> None:
        """Shopify's way: the static cost was charged up front (so no operation overspends); what the
        result shows was not used goes back to the bucket. Subscriptions keep their charge."""
        execution = self.execution_context
        data = getattr(execution.result, "data", None)
        if self._cost is None or data is None or execution.graphql_document is None:
            return
        operation = (
            CostKey(execution.query, execution.operation_name, execution.graphql_document)
            if execution.query
            else execution.graphql_document
        )
        actual = min(self._cost, actual_cost(execution.schema._schema, operation, execution.operation_name, data))
        self._actual = actual
        unused = charged - min(actual, charged)
        if budget is not None and unused > 0 and self._level is not None:
            self._level = budget.give_back(client, unused, level=self._level).level

    def get_results(self) -> Mapping[str, Any]:
        context = self.execution_context.context
        results: dict[str, Any] = {}
        request_id = getattr(context, "request_id", None)
        if request_id:
            results["requestId"] = request_id
        cost = getattr(context, "cost", 0)
        if cost:
            limits = self._limits()
            report: dict[str, Any] = {"requested": cost, "maximum": limits.max_cost}
            if self._actual is not None:
                report["actual"] = self._actual
            budget = getattr(context, "budget", None)
            if budget is not None and budget.enabled and self._level is not None:
                throttle = budget.status_at(self._level)
                report["budgetRemaining"] = throttle.currently_available
                report["throttleStatus"] = {
                    "maximumAvailable": throttle.maximum_available,
                    "currentlyAvailable": throttle.currently_available,
                    "restoreRate": throttle.restore_rate,
                }
            results["cost"] = report
        return results
