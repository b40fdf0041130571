"""How each field of an object type completes on the executor's fast path (graphql_schema/execution.py):
a plan per (type, field), made once per process, since types live as long as their schema."""

from __future__ import annotations

from enum import Enum
from typing import Any, NamedTuple

from graphql import (
    GRAPHQL_MAX_INT as _MAX_INT,
    GRAPHQL_MIN_INT as _MIN_INT,
    GraphQLBoolean,
    GraphQLEnumType,
    GraphQLField,
    GraphQLID,
    GraphQLInt,
    GraphQLLeafType,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLOutputType,
    GraphQLResolveInfo,
    GraphQLSchema,
    GraphQLString,
    Undefined,
    is_leaf_type,
    is_list_type,
    is_object_type,
)
from strawberry import relay
from strawberry.relay.utils import to_base64
from strawberry.schema.schema_converter import GraphQLCoreConverter
from strawberry.types import Info
from strawberry.types.base import StrawberryObjectDefinition
from strawberry.types.field import StrawberryField
from strawberry.types.fields.resolver import StrawberryResolver

STANDARD = object()  # "take the standard path"


class Leaf(NamedTuple):
    attribute: str
    type: GraphQLLeafType
    nullable: bool
    # Values of exactly this class are their own output (str for String and ID, bool for Boolean,
    # int for Int within its 32 bits), as the built-in scalars' coercion returns them.
    passthrough: type | None
    # Enum members → their GraphQL names, memoized: Strawberry's enum coercion scans the values.
    names: dict[tuple[type, Any], Any] | None

    def output(self, value: Any) -> Any:
        """The value as the response shows it, or STANDARD when the standard path must say why not."""
        if type(value) is self.passthrough and (value.__class__ is not int or _MIN_INT <= value <= _MAX_INT):
            return value
        if value is None:
            return None if self.nullable else STANDARD
        if value is STANDARD or isinstance(value, Exception):
            return STANDARD
        names = self.names
        if names is not None and isinstance(value, Enum):
            key = (type(value), value)
            name = names.get(key)
            if name is None:
                name = names[key] = self._coerced(value)
            return name
        return self._coerced(value)

    def _coerced(self, value: Any) -> Any:
        try:
            coerced = self.type.coerce_output_value(value)
        except Exception:  # noqa: BLE001 - the standard path reports it, with its path
            return STANDARD
        return STANDARD if coerced is None or coerced is Undefined else coerced


def leaf_plan(attribute: str, named: GraphQLLeafType, nullable: bool) -> Leaf:
    passthrough = {GraphQLString: str, GraphQLID: str, GraphQLBoolean: bool, GraphQLInt: int}.get(named)  # type: ignore[call-overload]
    return Leaf(attribute, named, nullable, passthrough, {} if isinstance(named, GraphQLEnumType) else None)


class ObjectField(NamedTuple):
    """A plain attribute holding an object: its sub-selection runs without building a resolve info."""

    attribute: str
    type: GraphQLObjectType
    return_type: GraphQLOutputType
    nullable: bool
    # For a type with an `is_type_of` check (Strawberry adds one to types with interfaces, e.g.
    # relay nodes): a value of exactly this class passes it; any other value takes the standard path.
    origin: type | None


class DirectField(NamedTuple):
    """A field with a plain synchronous resolver of the source and `info` only (no arguments, no
    permission classes or other field extensions): called straight, without Strawberry's argument
    conversion and extension chain, and an object it returns completes as `ObjectField`'s do."""

    field: GraphQLField
    resolver: StrawberryResolver[Any]
    info_class: type[Info[Any, Any]]
    definition: StrawberryField
    returns: ObjectField | None  # how an object result completes; None: the standard completion
    leaf: Leaf | None  # how a scalar or enum result is coerced (relay ids among them)

    def call(self, source: Any, info: GraphQLResolveInfo) -> Any:
        """As Strawberry's get_arguments and get_result call it, with nothing to convert."""
        resolver = self.resolver
        kwargs: dict[str, Any] = {}
        if resolver.parent_parameter is not None:
            kwargs[resolver.parent_parameter.name] = source
        if resolver.root_parameter is not None:
            kwargs[resolver.root_parameter.name] = source
        if resolver.info_parameter is not None:
            kwargs[resolver.info_parameter.name] = self.info_class(_raw_info=info, _field=self.definition)
        if resolver.self_parameter is not None:
            return resolver(source, **kwargs)
        return resolver(**kwargs)


def field_plan(field: GraphQLField | None, schema: GraphQLSchema) -> Leaf | ObjectField | ListField | DirectField | None:
    if field is None:
        return None
    definition = (field.extensions or {}).get(GraphQLCoreConverter.DEFINITION_BACKREF)
    attribute = getattr(definition, "python_name", None)
    if not attribute:
        return None
    if not getattr(field.resolve, "_is_default", False):
        return direct_plan(field, definition, schema)
    if getattr(definition, "base_resolver", None) is not None:
        return None
    nullable = not isinstance(field.type, GraphQLNonNull)
    named = field.type if nullable else field.type.of_type
    if is_leaf_type(named):
        return leaf_plan(attribute, named, nullable)
    if is_list_type(named):
        return list_plan(field, attribute)
    return object_plan(attribute, field.type)


def object_plan(attribute: str, return_type: GraphQLOutputType) -> ObjectField | None:
    nullable = not isinstance(return_type, GraphQLNonNull)
    named = return_type if nullable else return_type.of_type  # type: ignore[attr-defined]
    if not is_object_type(named):
        return None
    if named.is_type_of is None:
        return ObjectField(attribute, named, return_type, nullable, None)
    type_definition = (named.extensions or {}).get(GraphQLCoreConverter.DEFINITION_BACKREF)
    if isinstance(type_definition, StrawberryObjectDefinition) and type_definition.is_type_of is None:
        # Strawberry's own check, which a value of the type's class always passes.
        return ObjectField(attribute, named, return_type, nullable, type_definition.origin)
    return None


class ListField(NamedTuple):
    """A plain attribute holding a list of objects (an order's lines, a connection's edges): its
    items run their sub-selection straight, without graphql-core's per-item completion."""

    attribute: str
    field: GraphQLField
    nullable: bool
    item: ObjectField  # how one item completes (its `attribute` unused)


def list_plan(field: GraphQLField, attribute: str) -> ListField | None:
    nullable = not isinstance(field.type, GraphQLNonNull)
    wrapper = field.type if nullable else field.type.of_type  # type: ignore[attr-defined]
    item = object_plan(attribute, wrapper.of_type)
    return None if item is None else ListField(attribute, field, nullable, item)


class NodeIdField(NamedTuple):
    """A relay node's `id` with Strawberry's own id and type-name resolution: for a value of the
    type's own class it is the GlobalID of the type's name and the node id attribute, as the
    resolver makes it, without the resolver's resolve info and GlobalID object."""

    origin: type
    id_attr: str
    direct: DirectField  # anything else: the resolver, called straight

    def output(self, type_name: str, source: Any) -> Any:
        if type(source) is not self.origin:
            return STANDARD
        node_id = getattr(source, self.id_attr, None)
        return STANDARD if node_id is None else to_base64(type_name, str(node_id))


def _node_id_resolver() -> Any:
    return next(f for f in relay.Node.__strawberry_definition__.fields if f.python_name == "_id").base_resolver.wrapped_func.__func__  # type: ignore[union-attr]


_NODE_ID = _node_id_resolver()


def node_id_plan(parent_type: GraphQLObjectType, direct: DirectField) -> NodeIdField | DirectField:
    origin = getattr((parent_type.extensions or {}).get(GraphQLCoreConverter.DEFINITION_BACKREF), "origin", None)
    if (
        getattr(direct.resolver.wrapped_func, "__func__", None) is not _NODE_ID
        or not isinstance(origin, type)
        or not issubclass(origin, relay.Node)
        or origin.resolve_id.__func__ is not relay.Node.resolve_id.__func__  # type: ignore[attr-defined]
        or origin.resolve_typename.__func__ is not relay.Node.resolve_typename.__func__  # type: ignore[attr-defined]
        or direct.leaf is None
        or direct.leaf.type is not GraphQLID
    ):
        return direct
    return NodeIdField(origin, origin.resolve_id_attr(), direct)


def direct_plan(field: GraphQLField, definition: Any, schema: GraphQLSchema) -> DirectField | None:
    strawberry_schema = getattr(schema, "_strawberry_schema", None)
    resolver = getattr(definition, "base_resolver", None)
    if (
        not isinstance(definition, StrawberryField)
        or resolver is None
        or strawberry_schema is None
        or strawberry_schema.exception_handlers  # they wrap every resolver: not bypassed
        or definition.extensions
        or definition.is_async
        or field.args
        or resolver.is_async
        or len(resolver.arguments) > 0
    ):
        return None
    nullable = not isinstance(field.type, GraphQLNonNull)
    named = field.type if nullable else field.type.of_type  # type: ignore[attr-defined]
    leaf = leaf_plan(definition.python_name, named, nullable) if is_leaf_type(named) else None
    return DirectField(field, resolver, strawberry_schema.config.info_class, definition, object_plan(definition.python_name, field.type), leaf)


class Plans(dict[str, "Leaf | ObjectField | ListField | DirectField | NodeIdField | None"]):
    """Field name → its plan (None: standard path), for one object type."""

    def __init__(self, parent_type: GraphQLObjectType, schema: GraphQLSchema):
        super().__init__()
        self.parent_type = parent_type
        self.schema = schema

    def __missing__(self, field_name: str) -> Leaf | ObjectField | ListField | DirectField | NodeIdField | None:
        plan: Any = field_plan(self.parent_type.fields.get(field_name), self.schema)
        if type(plan) is DirectField:
            plan = node_id_plan(self.parent_type, plan)
        self[field_name] = plan
        return plan


# Keyed by the type object itself: types live as long as their schema (one per process).
_plans: dict[GraphQLObjectType, Plans] = {}


def plans_for(parent_type: GraphQLObjectType, schema: GraphQLSchema) -> Plans:
    plans = _plans.get(parent_type)
    if plans is None:
        plans = _plans[parent_type] = Plans(parent_type, schema)
    return plans


def completes_fast(plan: ObjectField, value: Any) -> bool:
    if value is None or value is STANDARD or isinstance(value, Exception):
        return False
    return plan.origin is None or type(value) is plan.origin
