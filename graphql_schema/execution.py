"""The execution context: graphql-core's executor with a fast path for plain attribute fields.

Most fields of a page (ids and references aside) are read straight off an attribute: Strawberry
marks their resolvers as basic (no resolver, no extensions, no permission classes). graphql-core
still builds a path and a resolve info, checks for awaitables twice and walks the type wrappers for
each of them; an orders page of 100 has ~4,500 such fields, and they were a third of its time.
Here scalars and enums are read and coerced in place, and objects go straight to their
sub-selection. Anything unusual (a null for a non-null field, a value that does not coerce, a
schema extension with a `resolve` hook) takes the standard path, so results and errors are the
same, in the same order.

Each selection is planned once per operation (`_steps`: every order of a page shares its grouped
field set, so the plan is looked up once per object, not once per field), and the fields of an
object run straight from that plan, in query order, without graphql-core's per-field dispatch.
Lists of objects held in plain attributes (a connection's edges, an order's lines) complete their
items straight too; an unusual item (a null, another class, an awaitable) completes as graphql-core
completes it. Leaves are coerced in place: strings, booleans and 32-bit ints are their own output,
enum names are memoized per member (Strawberry's enum coercion scans the values each time).

Reference fields (customer, channel, product) and relay ids are resolvers, ~500 on such a page:
a plain synchronous resolver of the source and `info` (no arguments, no permission class or other
field extension) is called directly, without Strawberry's argument conversion and extension chain,
which it has nothing for; a scalar it returns (a relay id) is coerced in place. Objects of a type
with an `is_type_of` check (relay nodes) go straight to their sub-selection when the value is of
the type's own class, which that check always accepts. The plans live in field_plans.py.
"""

from __future__ import annotations

import weakref
from collections.abc import AsyncIterable, Awaitable, Sequence
from typing import Any

from graphql import GraphQLObjectType, GraphQLOutputType, GraphQLResolveInfo, GraphQLResolveInfoHelpers, Undefined
from graphql.execution.executor import gather_with_cancel, to_nodes
from graphql.pyutils import Path
from strawberry.schema.schema import StrawberryGraphQLCoreExecutionContext

from app.tracing import traced_field
from subscriptions import handover
from graphql_schema.field_plans import STANDARD, DirectField, Leaf, ListField, NodeIdField, ObjectField, completes_fast, plans_for


class OmsExecutionContext(StrawberryGraphQLCoreExecutionContext):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.async_helpers = _helpers_not_holding(self)
        # A schema extension with a `resolve` hook must see every field: no fast path then.
        self._fast_path = not (self.middleware_manager and self.middleware_manager.middlewares)
        # Root fields get a span each when tracing is on (app/tracing.py); None otherwise.
        self._tracer = getattr(self.context_value, "tracer", None)
        self._selection_steps: dict[int, tuple[dict[str, Any], list[tuple[str, Any, Any]]]] = {}

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
        executor._selection_steps = {}  # keyed the same way, so the same holds
        return executor  # type: ignore[return-value]

    def execute_fields(
        self,
        parent_type: GraphQLObjectType,
        source_value: Any,
        path: Path | None,
        grouped_field_set: dict[str, Any],
        position_context: Any,
    ) -> Any:
        """graphql-core's execute_fields over a plan made once per selection: leaves are read and
        coerced in place, every other field goes straight to the way its plan completes it."""
        if not self._fast_path or path is None or position_context is not None:
            # The root (traced per field) and deferred selections: the standard loop, which
            # still reaches _execute_field for each field.
            return super().execute_fields(parent_type, source_value, path, grouped_field_set, position_context)
        is_awaitable = self.is_awaitable
        results: dict[str, Any] = {}
        awaitable_fields: list[str] = []
        try:
            for response_name, field_details_list, plan in self._steps(parent_type, grouped_field_set):
                if type(plan) is Leaf:
                    value = plan.output(getattr(source_value, plan.attribute, STANDARD))
                    if value is not STANDARD:
                        results[response_name] = value
                        continue
                    plan = None
                result = self._run(plan, parent_type, source_value, field_details_list, Path(path, response_name, parent_type.name), None)
                if result is not Undefined:
                    results[response_name] = result
                    if type(result) is not dict and is_awaitable(result):
                        awaitable_fields.append(response_name)
        except Exception:
            if awaitable_fields:
                # As graphql-core does: awaitables of other fields are settled, they may fail too.
                self.settle_in_background([results[name] for name in awaitable_fields])
            raise
        if not awaitable_fields:
            return results

        async def get_results() -> dict[str, Any]:
            if len(awaitable_fields) == 1:
                results[awaitable_fields[0]] = await results[awaitable_fields[0]]
            else:
                awaited = await gather_with_cancel(*(results[name] for name in awaitable_fields))
                results.update(zip(awaitable_fields, awaited, strict=True))
            return results

        return get_results()

    def _steps(self, parent_type: GraphQLObjectType, grouped_field_set: dict[str, Any]) -> list[tuple[str, Any, Any]]:
        """(response name, field details, plan) for a selection, made once per operation: every
        object of a list shares its grouped field set (graphql-core memoizes it), so the plan too.
        Keyed by identity, holding the field set so that its id is not reused while cached."""
        cached = self._selection_steps.get(id(grouped_field_set))
        if cached is not None:
            return cached[1]
        plans = plans_for(parent_type, self.schema)
        steps = [(name, details, plans[details[0].node.name.value]) for name, details in grouped_field_set.items()]
        self._selection_steps[id(grouped_field_set)] = (grouped_field_set, steps)
        return steps

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
        # Also reached without execute_fields' plan: mutations run their root fields one by one.
        plan = plans_for(parent_type, self.schema)[field_details_list[0].node.name.value] if self._fast_path else None
        return self._run(plan, parent_type, source, field_details_list, path, position_context)

    def _run(self, plan: Any, parent_type: GraphQLObjectType, source: Any, field_details_list: Any, path: Path, position_context: Any) -> Any:
        """One field, the way its plan completes it; the standard path when the value is unusual."""
        if type(plan) is ObjectField:
            value = getattr(source, plan.attribute, STANDARD)
            if value is None and plan.nullable:
                return None
            if completes_fast(plan, value):
                return self._complete_object(plan, field_details_list, path, value, position_context)
        elif type(plan) is DirectField:
            return self._resolve_directly(plan, parent_type, source, field_details_list, path, position_context)
        elif type(plan) is NodeIdField:
            value = plan.output(parent_type.name, source)
            if value is not STANDARD:
                return value
            return self._resolve_directly(plan.direct, parent_type, source, field_details_list, path, position_context)
        elif type(plan) is ListField and position_context is None:
            value = getattr(source, plan.attribute, STANDARD)
            if value is None and plan.nullable:
                return None
            if type(value) is list and not any(details.node.directives for details in field_details_list):
                grouped_field_set, new_defer_usages, _ = self.collect_subfields(plan.item.type, field_details_list)
                if not new_defer_usages:
                    return self._complete_list(plan, parent_type, field_details_list, path, value, grouped_field_set)
        return super().execute_field(parent_type, source, field_details_list, path, position_context)

    def _complete_list(
        self, plan: ListField, parent_type: GraphQLObjectType, field_details_list: Any, path: Path, items: list[Any], grouped_field_set: Any
    ) -> Any:
        """complete_iterable_value for a list of objects, with execute_field's error handling
        around it: items of the type's own class run their sub-selection straight; any other
        item (a null, an awaitable, another class) completes as graphql-core completes it."""
        try:
            completed = self._list_items(plan, parent_type, field_details_list, path, items, grouped_field_set)
        except Exception as raw_error:  # noqa: BLE001 - located and nulled (or raised) as the standard path does
            self.handle_field_error(raw_error, plan.field.type, field_details_list, path)
            return None
        if type(completed) is list:
            return completed

        async def await_completed() -> Any:
            try:
                return await completed
            except Exception as raw_error:  # noqa: BLE001 - as above
                self.handle_field_error(raw_error, plan.field.type, field_details_list, path)
                return None

        return await_completed()

    def _list_items(
        self, plan: ListField, parent_type: GraphQLObjectType, field_details_list: Any, path: Path, items: list[Any], grouped_field_set: Any
    ) -> Any:
        is_awaitable = self.is_awaitable
        item = plan.item
        item_type = item.return_type
        completed: list[Any] = []
        awaitable_indices: list[int] = []
        info: GraphQLResolveInfo | None = None
        try:
            for index, value in enumerate(items):
                item_path = Path(path, index, None)
                if completes_fast(item, value) and not is_awaitable(value):
                    try:
                        result = self.execute_fields(item.type, value, item_path, grouped_field_set, None)
                    except Exception as raw_error:  # noqa: BLE001 - as complete_list_item_value does
                        self.handle_field_error(raw_error, item_type, field_details_list, item_path)
                        result = None
                    if type(result) is not dict and is_awaitable(result):
                        result = self._await_item(result, item_type, field_details_list, item_path)
                        awaitable_indices.append(index)
                    completed.append(result)
                    continue
                if info is None:
                    info = self.build_resolve_info(plan.field, to_nodes(field_details_list), parent_type, path)
                if is_awaitable(value):
                    completed.append(self.complete_awaitable_list_item_value(value, item_type, field_details_list, info, item_path, None))
                    awaitable_indices.append(index)
                elif self.complete_list_item_value(value, completed, item_type, field_details_list, info, item_path, None):
                    awaitable_indices.append(index)
        except Exception:
            if awaitable_indices:
                self.settle_in_background([completed[index] for index in awaitable_indices])
            raise
        if not awaitable_indices:
            return completed

        async def get_completed() -> list[Any]:
            awaited = await gather_with_cancel(*(completed[index] for index in awaitable_indices))
            for index, result in zip(awaitable_indices, awaited, strict=True):
                completed[index] = result
            return completed

        return get_completed()

    async def _await_item(self, completed: Any, item_type: GraphQLOutputType, field_details_list: Any, item_path: Path) -> Any:
        try:
            return await completed
        except Exception as raw_error:  # noqa: BLE001 - as complete_list_item_value does
            self.handle_field_error(raw_error, item_type, field_details_list, item_path)
            return None

    def _resolve_directly(
        self, plan: DirectField, parent_type: GraphQLObjectType, source: Any, field_details_list: Any, path: Path, position_context: Any
    ) -> Any:
        """graphql-core's execute_field for a `DirectField` field: the resolver called straight, and an
        object result completed without its type checks when it is of the type's own class."""
        return_type = plan.field.type
        info = self.build_resolve_info(plan.field, to_nodes(field_details_list), parent_type, path)
        try:
            result = plan.call(source, info)
            if self.is_awaitable(result):
                return self.complete_awaitable_value(return_type, field_details_list, info, path, result, position_context)
            if plan.leaf is not None:
                value = plan.leaf.output(result)
                if value is not STANDARD:
                    return value
            returns = plan.returns
            if returns is not None and result is None and returns.nullable:
                return None
            if returns is not None and completes_fast(returns, result):
                completed = self._subfields(returns.type, field_details_list, path, result, position_context)
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

    def _subfields(self, object_type: GraphQLObjectType, field_details_list: Any, path: Path, value: Any, position_context: Any) -> Any:
        """collect_and_execute_subfields, straight to execute_fields when nothing is deferred."""
        grouped_field_set, new_defer_usages, _ = self.collect_subfields(object_type, field_details_list)
        if new_defer_usages or position_context is not None:
            return self.execute_collected_subfields(object_type, value, path, grouped_field_set, new_defer_usages, position_context)
        return self.execute_fields(object_type, value, path, grouped_field_set, None)

    def _complete_object(self, plan: ObjectField, field_details_list: Any, path: Path, value: Any, position_context: Any) -> Any:
        """complete_value for an object, with execute_field's error handling around it."""
        try:
            completed = self._subfields(plan.type, field_details_list, path, value, position_context)
        except Exception as raw_error:  # noqa: BLE001 - located and nulled (or raised) as the standard path does
            self.handle_field_error(raw_error, plan.return_type, field_details_list, path)
            return None
        if type(completed) is dict or not self.is_awaitable(completed):
            return completed

        async def await_completed() -> Any:
            try:
                return await completed
            except Exception as raw_error:  # noqa: BLE001 - as above
                self.handle_field_error(raw_error, plan.return_type, field_details_list, path)
                return None

        return await_completed()


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

