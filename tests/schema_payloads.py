"""Operations generated from the schema itself: one document per root field with a variable for
every argument, and variable values built by walking the argument types, with a chosen value for
every String and ID leaf. New operations are covered without touching the tests."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from graphql import (
    GraphQLEnumType,
    GraphQLField,
    GraphQLInputObjectType,
    GraphQLInterfaceType,
    GraphQLList,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLScalarType,
    GraphQLSchema,
    GraphQLUnionType,
    get_named_type,
)

# Scalars that carry free-form text; every one of them gets the payload under test.
TEXT_SCALARS = frozenset({"String", "ID"})
JSON_SCALARS = frozenset({"JSON"})
_SAMPLES: dict[str, Any] = {
    "Int": 1,
    "Float": 1.0,
    "Boolean": True,
    "DateTime": "2026-01-01T00:00:00+00:00",
    "Date": "2026-01-01",
    "Decimal": "1.00",
}


@dataclass(frozen=True)
class Operation:
    root: str  # Query, Mutation, Subscription
    field: str
    document: str
    text_arguments: int  # how many String/ID leaves the variables carry


def _type_ref(type_: Any) -> str:
    if isinstance(type_, GraphQLNonNull):
        return f"{_type_ref(type_.of_type)}!"
    if isinstance(type_, GraphQLList):
        return f"[{_type_ref(type_.of_type)}]"
    return type_.name


def selection(type_: Any, depth: int = 0) -> str:
    """Every scalar field, and composite fields without required arguments, three levels deep."""
    named = get_named_type(type_)
    if isinstance(named, GraphQLUnionType):
        parts = [f"... on {member.name} {{ {selection(member, depth + 1)} }}" for member in named.types]
        return "__typename " + " ".join(parts)
    if not isinstance(named, (GraphQLObjectType, GraphQLInterfaceType)):
        return ""
    parts = ["__typename"]
    for name, field in named.fields.items():
        if any(isinstance(arg.type, GraphQLNonNull) and arg.default_value is None for arg in field.args.values()):
            continue
        inner = get_named_type(field.type)
        if isinstance(inner, (GraphQLScalarType, GraphQLEnumType)):
            parts.append(name)
        elif depth < 2:
            parts.append(f"{name} {{ {selection(inner, depth + 1)} }}")
    return " ".join(parts)


def operations(schema: GraphQLSchema, roots: tuple[str, ...] = ("Query", "Mutation")) -> Iterator[Operation]:
    for root_name in roots:
        root = {"Query": schema.query_type, "Mutation": schema.mutation_type, "Subscription": schema.subscription_type}[root_name]
        if root is None:
            continue
        for name, field in root.fields.items():
            yield _operation(root_name, name, field)


def _operation(root: str, name: str, field: GraphQLField) -> Operation:
    definitions = ", ".join(f"${arg}: {_type_ref(spec.type)}" for arg, spec in field.args.items())
    arguments = ", ".join(f"{arg}: ${arg}" for arg in field.args)
    keyword = {"Query": "query", "Mutation": "mutation", "Subscription": "subscription"}[root]
    head = f"{keyword} Probe({definitions})" if definitions else f"{keyword} Probe"
    call = f"{name}({arguments})" if arguments else name
    inner = selection(field.type)
    body = f"{call} {{ {inner} }}" if inner else call
    counter = [0]
    values(field.args, lambda: counter.__setitem__(0, counter[0] + 1) or "x")
    return Operation(root, name, f"{head} {{ {body} }}", counter[0])


def values(arguments: dict[str, Any], text: Callable[[], Any], json_value: Any = None) -> dict[str, Any]:
    """Variables for `arguments`: every String/ID leaf from `text()`, JSON leaves `json_value`."""
    return {name: _value(spec.type, text, json_value, 0) for name, spec in arguments.items()}


def _value(type_: Any, text: Callable[[], Any], json_value: Any, depth: int) -> Any:
    if isinstance(type_, GraphQLNonNull):
        return _value(type_.of_type, text, json_value, depth)
    if isinstance(type_, GraphQLList):
        return [_value(type_.of_type, text, json_value, depth)]
    if isinstance(type_, GraphQLEnumType):
        return next(iter(type_.values))
    if isinstance(type_, GraphQLInputObjectType):
        if depth > 4:
            return None
        return {name: _value(spec.type, text, json_value, depth + 1) for name, spec in type_.fields.items()}
    if type_.name in TEXT_SCALARS:
        return text()
    if type_.name in JSON_SCALARS:
        return json_value if json_value is not None else {"$gt": ""}
    if type_.name in _SAMPLES:
        return _SAMPLES[type_.name]
    return text()  # unknown custom scalars get the payload too
