"""The execution context: graphql-core's executor with a fast path for plain attribute fields.

Most fields of a page (ids and references aside) are read straight off an attribute: Strawberry
marks their resolvers as basic (no resolver, no extensions, no permission classes). graphql-core
still builds a path and a resolve info, checks for awaitables twice and walks the type wrappers for
each of them; an orders page of 100 has ~4,500 such fields, and they were a third of its time.
Here scalars and enums are read and coerced in place, and objects go straight to their
sub-selection. Anything unusual (a null for a non-null field, a value that does not coerce, a
schema extension with a `resolve` hook) takes the standard path, so results and errors are the
same, in the same order.

Reference fields (customer, channel, product) and relay ids are resolvers, ~500 on such a page:
a plain synchronous resolver of the source and `info` (no arguments, no permission class or other
field extension) is called directly, without Strawberry's argument conversion and extension chain,
which it has nothing for. Objects of a type with an `is_type_of` check (relay nodes) go straight to
their sub-selection when the value is of the type's own class, which that check always accepts.
"""

from __future__ import annotations

import weakref
from collections.abc import AsyncIterable, Awaitable, Sequence
from typing import Any, NamedTuple

from graphql import (
    GraphQLField,
    GraphQLResolveInfo,
    GraphQLSchema,
    GraphQLLeafType,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLOutputType,
    GraphQLResolveInfoHelpers,
    Undefined,
    is_leaf_type,
    is_object_type,
)
from graphql.execution.executor import gather_with_cancel, to_nodes
from graphql.pyutils import Path
from strawberry.schema.schema import StrawberryGraphQLCoreExecutionContext
from strawberry.schema.schema_converter import GraphQLCoreConverter
from strawberry.types import Info
from strawberry.types.base import StrawberryObjectDefinition
from strawberry.types.field import StrawberryField
from strawberry.types.fields.resolver import StrawberryResolver

from app.tracing import traced_field
from subscriptions import handover

_STANDARD = object()  # "take the standard path"


class _Leaf(NamedTuple):
    attribute: str
    type: GraphQLLeafType
    nullable: bool

    def value_of(self, source: Any) -> Any:
        value = getattr(source, self.attribute, _STANDARD)
        if value is None:
            return None if self.nullable else _STANDARD
        if value is _STANDARD or isinstance(value, Exception):
            return _STANDARD
        try:
            coerced = self.type.coerce_output_value(value)
        except Exception:  # noqa: BLE001 - the standard path reports it, with its path
            return _STANDARD
        return _STANDARD if coerced is None or coerced is Undefined else coerced


class _Object(NamedTuple):
    """A plain attribute holding an object: its sub-selection runs without building a resolve info."""

    attribute: str
    type: GraphQLObjectType
    return_type: GraphQLOutputType
    nullable: bool
    # For a type with an `is_type_of` check (Strawberry adds one to types with interfaces, e.g.
    # relay nodes): a value of exactly this class passes it; any other value takes the standard path.
    origin: type | None


class _Direct(NamedTuple):
    """A field with a plain synchronous resolver of the source and `info` only (no arguments, no
    permission classes or other field extensions): called straight, without Strawberry's argument
    conversion and extension chain, and an object it returns completes as `_Object`'s do."""

    field: GraphQLField
    resolver: StrawberryResolver[Any]
    info_class: type[Info[Any, Any]]
    definition: StrawberryField
    returns: _Object | None  # how an object result completes; None: the standard completion

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


def _plan(field: GraphQLField | None, schema: GraphQLSchema) -> _Leaf | _Object | _Direct | None:
    if field is None:
        return None
    definition = (field.extensions or {}).get(GraphQLCoreConverter.DEFINITION_BACKREF)
    attribute = getattr(definition, "python_name", None)
    if not attribute:
        return None
    if not getattr(field.resolve, "_is_default", False):
        return _direct(field, definition, schema)
    if getattr(definition, "base_resolver", None) is not None:
        return None
    nullable = not isinstance(field.type, GraphQLNonNull)
    named = field.type if nullable else field.type.of_type
    if is_leaf_type(named):
        return _Leaf(attribute, named, nullable)
    return _object(attribute, field.type)


def _object(attribute: str, return_type: GraphQLOutputType) -> _Object | None:
    nullable = not isinstance(return_type, GraphQLNonNull)
    named = return_type if nullable else return_type.of_type  # type: ignore[attr-defined]
    if not is_object_type(named):
        return None
    if named.is_type_of is None:
        return _Object(attribute, named, return_type, nullable, None)
    type_definition = (named.extensions or {}).get(GraphQLCoreConverter.DEFINITION_BACKREF)
    if isinstance(type_definition, StrawberryObjectDefinition) and type_definition.is_type_of is None:
        # Strawberry's own check, which a value of the type's class always passes.
        return _Object(attribute, named, return_type, nullable, type_definition.origin)
    return None


def _direct(field: GraphQLField, definition: Any, schema: GraphQLSchema) -> _Direct | None:
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
    return _Direct(field, resolver, strawberry_schema.config.info_class, definition, _object(definition.python_name, field.type))


class _Plans(dict[str, "_Leaf | _Object | _Direct | None"]):
    """Field name → its plan (None: standard path), for one object type."""

    def __init__(self, parent_type: GraphQLObjectType, schema: GraphQLSchema):
        super().__init__()
        self.parent_type = parent_type
        self.schema = schema

    def __missing__(self, field_name: str) -> _Leaf | _Object | _Direct | None:
        plan = self[field_name] = _plan(self.parent_type.fields.get(field_name), self.schema)
        return plan


# Keyed by the type object itself: types live as long as their schema (one per process).
_plans: dict[GraphQLObjectType, _Plans] = {}


def _plans_for(parent_type: GraphQLObjectType, schema: GraphQLSchema) -> _Plans:
    plans = _plans.get(parent_type)
    if plans is None:
        plans = _plans[parent_type] = _Plans(parent_type, schema)
    return plans


class OmsExecutionContext(StrawberryGraphQLCoreExecutionContext):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.async_helpers = _helpers_not_holding(self)
        # A schema extension with a `resolve` hook must see every field: no fast path then.
        self._fast_path = not (self.middleware_manager and self.middleware_manager.middlewares)
        # Root fields get a span each when tracing is on (app/tracing.py); None otherwise.
        self._tracer = getattr(self.context_value, "tracer", None)

    def cancellable_iterable(self, iterable: AsyncIterable[Any]) -> AsyncIterable[Any]:
        """Called once, as a subscription's event stream starts: the operation's executor is what
        runs each live event's selection once the connection takes the events over
        (subscriptions/handover.py, graphql_schema/live_frames.py)."""
        slot = handover.offered.get()
        if slot is not None:
            slot.executor = self
        return super().cancellable_iterable(iterable)

    def build_per_event_executor(self, payload: Any) -> OmsExecutionContext:
        """Each subscription event with a memo of its own. graphql-core 3.3.2 copies the executor
        shallowly, so every event shares one `_relevant_sub_fields` memo keyed by the identity of
        field lists that the event builds afresh and the memo keeps alive: ~1.7 KB per delivered
        event, held for the subscription's lifetime (graphql-js memoizes in a WeakMap, where the
        entries die with the event). The memo only ever hit within one event anyway."""
        executor = super().build_per_event_executor(payload)
        executor._relevant_sub_fields = {}
        return executor  # type: ignore[return-value]

    def execute_fields(
        self,
        parent_type: GraphQLObjectType,
        source_value: Any,
        path: Path | None,
        grouped_field_set: dict[str, Any],
        position_context: Any,
    ) -> Any:
        if not self._fast_path:
            return super().execute_fields(parent_type, source_value, path, grouped_field_set, position_context)
        plans = _plans_for(parent_type, self.schema)
        leaves: dict[str, Any] = {}
        rest: dict[str, Any] = {}
        for response_name, field_details_list in grouped_field_set.items():
            plan = plans[field_details_list[0].node.name.value]
            value = plan.value_of(source_value) if type(plan) is _Leaf else _STANDARD
            if value is _STANDARD:
                rest[response_name] = field_details_list
            else:
                leaves[response_name] = value
        if not rest:
            return leaves
        completed = super().execute_fields(parent_type, source_value, path, rest, position_context)
        if self.is_awaitable(completed):

            async def merge_later() -> dict[str, Any]:
                return _in_query_order(grouped_field_set, leaves, await completed)

            return merge_later()
        return _in_query_order(grouped_field_set, leaves, completed)

    def execute_field(
        self,
        parent_type: GraphQLObjectType,
        source: Any,
        field_details_list: Any,
        path: Path,
        position_context: Any,
    ) -> Any:
        if self._tracer is not None and path.prev is None:
            name = f"{parent_type.name}.{field_details_list[0].node.name.value}"
            return traced_field(
                self._tracer,
                name,
                lambda: self._execute_field(parent_type, source, field_details_list, path, position_context),
                self.is_awaitable,
            )
        return self._execute_field(parent_type, source, field_details_list, path, position_context)

    def _execute_field(
        self,
        parent_type: GraphQLObjectType,
        source: Any,
        field_details_list: Any,
        path: Path,
        position_context: Any,
    ) -> Any:
        # Also reached without execute_fields: mutations run their root fields one by one.
        plan = _plans_for(parent_type, self.schema)[field_details_list[0].node.name.value] if self._fast_path else None
        if type(plan) is _Object:
            value = getattr(source, plan.attribute, _STANDARD)
            if value is None and plan.nullable:
                return None
            if _completes_fast(plan, value):
                return self._complete_object(plan, field_details_list, path, value, position_context)
        elif type(plan) is _Direct:
            return self._resolve_directly(plan, parent_type, source, field_details_list, path, position_context)
        return super().execute_field(parent_type, source, field_details_list, path, position_context)

    def _resolve_directly(
        self, plan: _Direct, parent_type: GraphQLObjectType, source: Any, field_details_list: Any, path: Path, position_context: Any
    ) -> Any:
        """graphql-core's execute_field for a `_Direct` field: the resolver called straight, and an
        object result completed without its type checks when it is of the type's own class."""
        return_type = plan.field.type
        info = self.build_resolve_info(plan.field, to_nodes(field_details_list), parent_type, path)
        try:
            result = plan.call(source, info)
            if self.is_awaitable(result):
                return self.complete_awaitable_value(return_type, field_details_list, info, path, result, position_context)
            returns = plan.returns
            if returns is not None and result is None and returns.nullable:
                return None
            if returns is not None and _completes_fast(returns, result):
                completed = self.collect_and_execute_subfields(returns.type, field_details_list, path, result, position_context)
            else:
                completed = self.complete_value(return_type, field_details_list, info, path, result, position_context)
        except Exception as raw_error:  # noqa: BLE001 - located and nulled (or raised) as the standard path does
            self.handle_field_error(raw_error, return_type, field_details_list, path)
            return None
        if not self.is_awaitable(completed):
            return completed

        async def await_completed() -> Any:
            try:
                return await completed
            except Exception as raw_error:  # noqa: BLE001 - as above
                self.handle_field_error(raw_error, return_type, field_details_list, path)
                return None

        return await_completed()

    def _complete_object(self, plan: _Object, field_details_list: Any, path: Path, value: Any, position_context: Any) -> Any:
        """complete_value for an object, with execute_field's error handling around it."""
        try:
            completed = self.collect_and_execute_subfields(plan.type, field_details_list, path, value, position_context)
        except Exception as raw_error:  # noqa: BLE001 - located and nulled (or raised) as the standard path does
            self.handle_field_error(raw_error, plan.return_type, field_details_list, path)
            return None
        if not self.is_awaitable(completed):
            return completed

        async def await_completed() -> Any:
            try:
                return await completed
            except Exception as raw_error:  # noqa: BLE001 - as above
                self.handle_field_error(raw_error, plan.return_type, field_details_list, path)
                return None

        return await_completed()


def _completes_fast(plan: _Object, value: Any) -> bool:
    if value is None or value is _STANDARD or isinstance(value, Exception):
        return False
    return plan.origin is None or type(value) is plan.origin


def _helpers_not_holding(executor: OmsExecutionContext) -> GraphQLResolveInfoHelpers:
    """graphql-core's helpers are the executor's own bound methods, stored on the executor: a
    reference cycle through the request's context, its DataLoaders and every result they hold, so
    only the cycle collector could free a finished request (docs/ARCHITECTURE.md, "Memory").
    These reach the executor weakly; it is alive whenever a resolver runs, since the executor's own
    frames are running it."""
    track = weakref.WeakMethod(executor.track_async_work)

    def track_async_work(values: Sequence[Any]) -> None:
        method = track()
        if method is not None:
            method(values)

    def gather_async_work(values: Sequence[Awaitable[Any]]) -> Awaitable[list[Any]]:
        return gather_with_cancel(*values)

    return GraphQLResolveInfoHelpers(gather=gather_async_work, track=track_async_work)


def _in_query_order(grouped_field_set: dict[str, Any], leaves: dict[str, Any], rest: dict[str, Any]) -> dict[str, Any]:
    if not leaves:
        return rest
    return {name: leaves[name] if name in leaves else rest[name] for name in grouped_field_set if name in leaves or name in rest}
