"""Static cost of an operation, before it runs: how many objects it may make the server produce.

Every field that returns an object (or a list of them) costs 1, multiplied by how many times its
parent can occur. A list multiplies its selection by its size:

- fields with a `first` argument: its value (from the literal or the variables), else its default,
  capped at the page maximum (a larger `first` is refused by the resolver anyway);
- `edges` of a connection: 1 (the connection's `first` already counted the nodes);
- other lists: the field's `metadata={"cost_list_size": n}` when declared, else DEFAULT_LIST_SIZE.

Root mutation and subscription fields cost MUTATION_COST / SUBSCRIPTION_COST more: they write or
hold resources. Scalars cost nothing. Abstract selections count every fragment (an upper bound).
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from graphql import (
    ArgumentNode,
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLField,
    GraphQLList,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLInterfaceType,
    GraphQLSchema,
    InlineFragmentNode,
    IntValueNode,
    OperationDefinitionNode,
    OperationType,
    SelectionSetNode,
    VariableNode,
    Visitor,
    visit,
    get_named_type,
    is_composite_type,
)

from app.domain.pagination import DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE

DEFAULT_LIST_SIZE = 10
MUTATION_COST = 10
SUBSCRIPTION_COST = 10
_MAX_NESTING = 64  # far beyond the depth limit; guards recursion if a caller skips validation


def _is_list(type_: Any) -> bool:
    if isinstance(type_, GraphQLNonNull):
        type_ = type_.of_type
    return isinstance(type_, GraphQLList)


def _first(node: FieldNode, field: GraphQLField, variables: Mapping[str, Any]) -> int:
    value: Any = None
    for argument in node.arguments or ():
        if argument.name.value != "first":
            continue
        if isinstance(argument.value, IntValueNode):
            value = int(argument.value.value)
        elif isinstance(argument.value, VariableNode):
            value = variables.get(argument.value.name.value)
    if value is None:
        default = field.args["first"].default_value
        value = default if isinstance(default, int) else DEFAULT_PAGE_SIZE
    if not isinstance(value, int) or isinstance(value, bool):
        return DEFAULT_PAGE_SIZE
    return max(0, min(value, MAX_PAGE_SIZE))


def _declared_list_size(field: GraphQLField) -> int | None:
    definition = (field.extensions or {}).get("strawberry-definition")
    metadata = getattr(definition, "metadata", None) or {}
    size = metadata.get("cost_list_size")
    return size if isinstance(size, int) else None


class _Cost:
    def __init__(self, schema: GraphQLSchema, fragments: Mapping[str, FragmentDefinitionNode], variables: Mapping[str, Any]):
        self.schema = schema
        self.fragments = fragments
        self.variables = variables

    def selection(self, selection_set: SelectionSetNode | None, parent: Any, nesting: int) -> int:
        if selection_set is None or nesting > _MAX_NESTING:
            return 0
        total = 0
        for node in selection_set.selections:
            if isinstance(node, FieldNode):
                total += self.field(node, parent, nesting)
            elif isinstance(node, InlineFragmentNode):
                condition = self.schema.get_type(node.type_condition.name.value) if node.type_condition else parent
                total += self.selection(node.selection_set, condition or parent, nesting + 1)
            elif isinstance(node, FragmentSpreadNode):
                fragment = self.fragments.get(node.name.value)
                if fragment is not None:
                    condition = self.schema.get_type(fragment.type_condition.name.value)
                    total += self.selection(fragment.selection_set, condition or parent, nesting + 1)
        return total

    def field(self, node: FieldNode, parent: Any, nesting: int) -> int:
        name = node.name.value
        if name.startswith("__") or not isinstance(parent, (GraphQLObjectType, GraphQLInterfaceType)):
            return 1 if node.selection_set else 0
        field = parent.fields.get(name)
        if field is None:
            return 0
        named = get_named_type(field.type)
        if not is_composite_type(named):
            return 0
        if "first" in field.args:
            size = _first(node, field, self.variables)
        elif _is_list(field.type):
            declared = _declared_list_size(field)
            size = 1 if parent.name.endswith("Connection") and name == "edges" else declared or DEFAULT_LIST_SIZE
        else:
            size = 1
        return 1 + size * self.selection(node.selection_set, named, nesting + 1)


def operation_cost(
    schema: GraphQLSchema,
    document: DocumentNode,
    operation_name: str | None = None,
    variables: Mapping[str, Any] | None = None,
) -> int:
    operations = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
    operation = next((op for op in operations if op.name and op.name.value == operation_name), None)
    if operation is None:
        operation = operations[0] if operations else None
    if operation is None:
        return 0
    fragments = {d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)}
    root = schema.get_root_type(operation.operation)
    cost = _Cost(schema, fragments, variables or {})
    total = cost.selection(operation.selection_set, root, 0)
    extra = {OperationType.MUTATION: MUTATION_COST, OperationType.SUBSCRIPTION: SUBSCRIPTION_COST}.get(
        operation.operation, 0
    )
    selections = operation.selection_set.selections
    root_fields = sum(1 for s in selections if isinstance(s, FieldNode) and not s.name.value.startswith("__"))
    return total + extra * root_fields


@dataclass(frozen=True)
class CostKey:
    """An operation as a cache key: by its text (hashed once by Python), not its syntax tree
    (hashing that walks every node)."""

    query: str
    operation_name: str | None
    document: DocumentNode = field(compare=False, hash=False, repr=False)


def cached_operation_cost(schema: GraphQLSchema, key: CostKey, variables: Mapping[str, Any] | None) -> int:
    """operation_cost, computed once per operation and page sizes: only `first` variables change it."""
    names = _paging_variables(key)
    paging = tuple((name, _hashable((variables or {}).get(name))) for name in names)
    return _cost(schema, key, paging)


@functools.lru_cache(maxsize=1_000)
def _paging_variables(key: CostKey) -> tuple[str, ...]:
    names: set[str] = set()

    class FirstVariables(Visitor):
        def enter_argument(self, node: ArgumentNode, *_: Any) -> None:
            if node.name.value == "first" and isinstance(node.value, VariableNode):
                names.add(node.value.name.value)

    visit(key.document, FirstVariables())
    return tuple(sorted(names))


@functools.lru_cache(maxsize=4_000)
def _cost(schema: GraphQLSchema, key: CostKey, paging: tuple[tuple[str, Any], ...]) -> int:
    # A value that is not an int counts as the default page size either way, repr'd or not.
    return operation_cost(schema, key.document, key.operation_name, {name: value for name, (_, value) in paging})


def _hashable(value: Any) -> Any:
    """A `first` variable is an int; anything else (refused later by coercion) must not break the key.
    The type is part of it: True == 1, but `first: true` and `first: 1` cost differently."""
    return (type(value).__name__, value if isinstance(value, (int, str, float, type(None))) else repr(value))


# What the actual cost walks: per selection, only the fields that return objects (scalars are
# free), with their kind and sub-plan. Built once per operation text; fragments are flattened like
# the static rule does (it counts every fragment).
_Plan = tuple[tuple[str, str, "_Plan"], ...]


def _plan(schema: GraphQLSchema, fragments: Mapping[str, FragmentDefinitionNode], selection_set: SelectionSetNode | None, parent: Any, nesting: int = 0) -> _Plan:
    if selection_set is None or nesting > _MAX_NESTING:
        return ()
    entries: list[tuple[str, str, _Plan]] = []
    for node in selection_set.selections:
        if isinstance(node, FieldNode):
            name = node.name.value
            if name.startswith("__") or not isinstance(parent, (GraphQLObjectType, GraphQLInterfaceType)):
                continue
            field = parent.fields.get(name)
            if field is None or not is_composite_type(named := get_named_type(field.type)):
                continue
            if "first" in field.args:
                kind = "page"
            elif _is_list(field.type):
                kind = "edges" if parent.name.endswith("Connection") and name == "edges" else "list"
            else:
                kind = "object"
            entries.append((node.alias.value if node.alias else name, kind, _plan(schema, fragments, node.selection_set, named, nesting + 1)))
        else:
            if isinstance(node, InlineFragmentNode):
                selection, condition = node.selection_set, node.type_condition
            else:
                fragment = fragments.get(node.name.value)
                if fragment is None:
                    continue
                selection, condition = fragment.selection_set, fragment.type_condition
            typed = schema.get_type(condition.name.value) if condition else parent
            entries.extend(_plan(schema, fragments, selection, typed or parent, nesting + 1))
    return tuple(entries)


def _spent(plan: _Plan, value: Any) -> int:
    """The static rule over what came back: each object-returning field present costs 1 plus its
    selection, per item for lists; a null costs nothing."""
    if not isinstance(value, dict):
        return 0
    total = 0
    for key, kind, sub in plan:
        child = value.get(key)
        if child is None:
            continue
        if not sub:  # nothing below it costs: 1 however many items
            total += 1
        elif kind == "page" and isinstance(child, dict):
            total += 1 + _page_spent(sub, child)
        elif isinstance(child, list):
            total += 1 + sum(_spent(sub, item) for item in _flatten(child))
        else:
            total += 1 + _spent(sub, child)
    return total


def _page_spent(plan: _Plan, page: dict[str, Any]) -> int:
    """A connection's selection counts once per item returned (as `first` multiplies it statically),
    each time with one edge."""
    edges = next((page.get(key) for key, kind, _ in plan if kind == "edges"), None)
    items = len(edges) if isinstance(edges, list) else 1
    total = 0
    for key, kind, sub in plan:
        child = page.get(key)
        if child is None:
            continue
        if kind == "edges" and isinstance(child, list):
            total += items + sum(_spent(sub, edge) for edge in child)
        else:
            total += items * _spent(((key, kind, sub),), page)
    return total


def _flatten(values: list[Any]) -> list[Any]:
    flat: list[Any] = []
    for value in values:
        flat.extend(_flatten(value) if isinstance(value, list) else [value])
    return flat


def _operation_plan(schema: GraphQLSchema, document: DocumentNode, operation_name: str | None) -> tuple[_Plan, int]:
    operations = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
    operation = next((op for op in operations if op.name and op.name.value == operation_name), None)
    if operation is None:
        operation = operations[0] if operations else None
    if operation is None:
        return (), 0
    fragments = {d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)}
    extra = {OperationType.MUTATION: MUTATION_COST, OperationType.SUBSCRIPTION: SUBSCRIPTION_COST}.get(operation.operation, 0)
    selections = operation.selection_set.selections
    root_fields = sum(1 for s in selections if isinstance(s, FieldNode) and not s.name.value.startswith("__"))
    return _plan(schema, fragments, operation.selection_set, schema.get_root_type(operation.operation)), extra * root_fields


@functools.lru_cache(maxsize=1_000)
def _cached_plan(schema: GraphQLSchema, key: CostKey) -> tuple[_Plan, int]:
    return _operation_plan(schema, key.document, key.operation_name)


def actual_cost(schema: GraphQLSchema, operation: CostKey | DocumentNode, operation_name: str | None, data: Mapping[str, Any] | None) -> int:
    """What an executed operation cost by the static rule, counting what it returned: the part of
    the budget it keeps (graphql_schema/limits.py gives the rest back). Equal to the static cost
    for full pages and lists of the assumed size; the walk is planned once per operation text."""
    if not isinstance(data, Mapping):
        return 0
    plan, extra = (
        _cached_plan(schema, operation) if isinstance(operation, CostKey) else _operation_plan(schema, operation, operation_name)
    )
    return _spent(plan, dict(data)) + extra
