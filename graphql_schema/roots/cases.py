"""Root fields: customer service cases."""

from __future__ import annotations

from collections.abc import AsyncGenerator

import strawberry

from graphql_schema.permissions import IsAuthenticated
from graphql_schema.types.case_requests import (
    AddCaseEntryResult,
    AssignCaseResult,
    CaseSlaPolicy,
    ClaimNextCaseResult,
    OpenCaseResult,
    SetCaseSlaPolicyResult,
    SetCaseStatusResult,
)
from graphql_schema.types.cases import Case, CaseConnection, CaseUpdate
from resolvers import cases as resolve
from subscriptions import cases as live

_RESUME = (
    " Each item carries a `cursor`; subscribe again with `after: <cursor>` to receive every later matching"
    " event exactly once, in order (CURSOR_EXPIRED when that history is no longer retained)."
)
_SCOPE = "CSRs and admins: every case; store staff: cases opened at their stores; customers: their own; channels: their channel's."


@strawberry.type
class CaseQueries:
    case: Case | None = strawberry.field(
        resolver=resolve.case,
        permission_classes=[IsAuthenticated],
        description="One case; null when it does not exist or is not visible to the caller. " + _SCOPE,
    )
    cases: CaseConnection = strawberry.field(
        resolver=resolve.cases,
        permission_classes=[IsAuthenticated],
        description="Cases, newest or most urgent (priority, then next due time) first, keyset-paginated, narrowed to the "
        "caller's scope. " + _SCOPE + " Customers and channels see customer-visible messages only.",
    )
    case_sla_policy: CaseSlaPolicy = strawberry.field(
        resolver=resolve.case_sla_policy,
        permission_classes=[IsAuthenticated],
        description="The SLA targets in force for a contact channel (its own, else the global ones, else the defaults).",
    )


@strawberry.type
class CaseMutations:
    open_case: OpenCaseResult = strawberry.mutation(
        resolver=resolve.open_case,
        permission_classes=[IsAuthenticated],
        description="Open a case from any contact channel, with links to the customer's orders, shipments and returns; "
        "SLA due times from the policy. Idempotent on (customer, clientKey). CSRs and admins for anyone, store staff at "
        "their store, a channel about its own orders, a customer for themself.",
    )
    add_case_entry: AddCaseEntryResult = strawberry.mutation(
        resolver=resolve.add_case_entry,
        permission_classes=[IsAuthenticated],
        description="Add a customer-visible MESSAGE (anyone who sees the case) or an internal NOTE (staff). A staff message is "
        "the first response; a customer's message puts a case waiting for them, or recently resolved, back to OPEN.",
    )
    set_case_status: SetCaseStatusResult = strawberry.mutation(
        resolver=resolve.set_case_status,
        permission_classes=[IsAuthenticated],
        description="Move a case along NEW → OPEN → PENDING_CUSTOMER → RESOLVED → CLOSED (reopen within the window); audited. "
        "CSRs, admins, store staff at the case's store.",
    )
    assign_case: AssignCaseResult = strawberry.mutation(
        resolver=resolve.assign_case,
        permission_classes=[IsAuthenticated],
        description="Give a case to a rep or back to the queue. CSRs and admins.",
    )
    claim_next_case: ClaimNextCaseResult = strawberry.mutation(
        resolver=resolve.claim_next_case,
        permission_classes=[IsAuthenticated],
        description="Atomically take the most urgent unassigned NEW or OPEN case (optionally of a narrower queue): two reps "
        "never get the same case. CSRs and admins.",
    )
    set_case_sla_policy: SetCaseSlaPolicyResult = strawberry.mutation(
        resolver=resolve.set_case_sla_policy,
        permission_classes=[IsAuthenticated],
        description="Set first-response and resolution targets per priority, globally or for one contact channel; audited. Admins.",
    )


@strawberry.type
class CaseSubscriptions:
    case_updated: AsyncGenerator[CaseUpdate, None] = strawberry.subscription(
        resolver=live.case_updated,
        permission_classes=[IsAuthenticated],
        description="Changes to cases, for queue screens and case screens: one case, a customer's, a rep's, the unassigned "
        "queue, given statuses or priorities, a channel's or a store's. Internal entries never reach customers or channels."
        + _RESUME,
    )
