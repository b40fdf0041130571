"""Root resolvers for customer service cases: reads, openCase, the thread, status, assignment, SLA policy."""

from __future__ import annotations

from strawberry import relay

from app.domain.cases import CaseFilter, CaseOrder as DomainCaseOrder, ContactChannel as DomainContactChannel
from app.domain.errors import DomainError
from graphql_schema.context import Info
from graphql_schema.enums import CaseOrder, ContactChannel
from graphql_schema.errors import error_from_domain
from graphql_schema.ids import node_id_of
from graphql_schema.pagination import page_request
from graphql_schema.types.case_requests import (
    AddCaseEntryInput,
    AddCaseEntryResult,
    AssignCaseInput,
    AssignCaseResult,
    CasePayload,
    CaseSlaPolicy,
    ClaimNextCaseInput,
    ClaimNextCasePayload,
    ClaimNextCaseResult,
    OpenCaseInput,
    OpenCasePayload,
    OpenCaseResult,
    SetCaseSlaPolicyInput,
    SetCaseSlaPolicyPayload,
    SetCaseSlaPolicyResult,
    SetCaseStatusInput,
    SetCaseStatusResult,
)
from graphql_schema.types.cases import Case, CaseConnection, CaseFilterInput

# --- reads ---------------------------------------------------------------------------------------


async def case(info: Info, id: relay.GlobalID) -> Case | None:  # noqa: A002
    found = await info.context.loaders.case_by_id.load(node_id_of(id, "Case"))
    return Case.from_domain(found) if found else None


async def cases(
    info: Info,
    filter: CaseFilterInput | None = None,  # noqa: A002
    order: CaseOrder = DomainCaseOrder.NEWEST,
    first: int | None = None,
    after: str | None = None,
) -> CaseConnection:
    selection = filter.to_domain() if filter else CaseFilter()
    page = await info.context.services.case_queries.page(
        info.context.actor, selection, page_request(first, after), DomainCaseOrder(order)
    )
    return CaseConnection.from_page(page)


async def case_sla_policy(info: Info, contact_channel: ContactChannel | None = None) -> CaseSlaPolicy:
    policy = await info.context.services.case_sla.policy(DomainContactChannel(contact_channel) if contact_channel else None)
    return CaseSlaPolicy.from_domain(policy)


# --- mutations -----------------------------------------------------------------------------------


async def open_case(info: Info, input: OpenCaseInput) -> OpenCaseResult:  # noqa: A002
    try:
        opened = await info.context.services.cases.open(info.context.actor, input.to_domain())
    except DomainError as exc:
        return error_from_domain(exc)
    return OpenCasePayload(case=Case.from_domain(opened.case), replayed=opened.replayed)


async def add_case_entry(info: Info, input: AddCaseEntryInput) -> AddCaseEntryResult:  # noqa: A002
    try:
        found = await info.context.services.cases.add_entry(info.context.actor, input.case(), input.kind, input.body)
    except DomainError as exc:
        return error_from_domain(exc)
    return CasePayload(case=Case.from_domain(found))


async def set_case_status(info: Info, input: SetCaseStatusInput) -> SetCaseStatusResult:  # noqa: A002
    try:
        case_id = node_id_of(input.case_id, "Case", field="caseId")
        found = await info.context.services.cases.set_status(info.context.actor, case_id, input.status, input.reason)
    except DomainError as exc:
        return error_from_domain(exc)
    return CasePayload(case=Case.from_domain(found))


async def assign_case(info: Info, input: AssignCaseInput) -> AssignCaseResult:  # noqa: A002
    try:
        case_id = node_id_of(input.case_id, "Case", field="caseId")
        found = await info.context.services.cases.assign(info.context.actor, case_id, input.assignee, input.reason)
    except DomainError as exc:
        return error_from_domain(exc)
    return CasePayload(case=Case.from_domain(found))


async def claim_next_case(info: Info, input: ClaimNextCaseInput | None = None) -> ClaimNextCaseResult:  # noqa: A002
    try:
        selection = input.filter.to_domain() if input and input.filter else CaseFilter()
        found = await info.context.services.cases.claim_next(info.context.actor, selection)
    except DomainError as exc:
        return error_from_domain(exc)
    return ClaimNextCasePayload(case=Case.from_domain(found) if found else None)


async def set_case_sla_policy(info: Info, input: SetCaseSlaPolicyInput) -> SetCaseSlaPolicyResult:  # noqa: A002
    try:
        channel = DomainContactChannel(input.contact_channel) if input.contact_channel else None
        policy = await info.context.services.case_sla.set_policy(info.context.actor, channel, input.to_domain(), input.reason)
    except DomainError as exc:
        return error_from_domain(exc)
    return SetCaseSlaPolicyPayload(policy=CaseSlaPolicy.from_domain(policy))


def case_id_of(value: relay.GlobalID | None) -> str | None:
    """The optional `caseId` of an order action taken from a case."""
    return node_id_of(value, "Case", field="caseId") if value is not None else None
