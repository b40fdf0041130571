"""caseUpdated: live CSR queues and case screens, with the same resumable cursor as every subscription."""

from __future__ import annotations

from collections.abc import AsyncGenerator

from strawberry import relay

from app.domain.events import DomainEvent, EventFilter
from app.domain.principals import Principal
from graphql_schema.context import Info
from graphql_schema.enums import CasePriority, CaseStatus
from graphql_schema.ids import node_id_of
from graphql_schema.types.cases import CaseUpdate
from subscriptions.stream import live


async def case_updated(
    info: Info,
    case_id: relay.GlobalID | None = None,
    customer_id: relay.GlobalID | None = None,
    assignee: str | None = None,
    unassigned: bool | None = None,
    statuses: list[CaseStatus] | None = None,
    priorities: list[CasePriority] | None = None,
    channel: str | None = None,
    location: str | None = None,
    after: str | None = None,
) -> AsyncGenerator[CaseUpdate, None]:
    followed = node_id_of(case_id, "Case", field="caseId") if case_id else None
    selection = EventFilter(
        customer_ids=frozenset({node_id_of(customer_id, "Customer", field="customerId")}) if customer_id else frozenset(),
        channel_ids=frozenset({channel}) if channel else frozenset(),
        location_ids=frozenset({location}) if location else frozenset(),
        statuses=frozenset(s.value for s in statuses or ()),
    )
    wanted_priorities = {p.value for p in priorities or ()}
    queries = info.context.services.case_queries
    callers: list[Principal] = []  # the connection's principal, once `live` has authenticated it

    async def scope(caller: Principal) -> EventFilter:
        callers.append(caller)
        return await queries.event_scope(caller, selection, followed)

    def matches(event: DomainEvent) -> bool:
        payload = event.payload
        return (
            bool(callers)
            and queries.shows_event(callers[0], event)
            and (followed is None or event.aggregate_id == followed)
            and (assignee is None or payload.get("assignee") == assignee)
            and (unassigned is None or (payload.get("assignee") is None) == unassigned)
            and (not wanted_priorities or payload.get("priority") in wanted_priorities)
        )

    async for update in live(info, scope, after, CaseUpdate.from_domain, also=matches):
        yield update
