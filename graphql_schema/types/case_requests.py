"""openCase, addCaseEntry, setCaseStatus, assignCase, claimNextCase, setCaseSlaPolicy: inputs and results."""

from __future__ import annotations

from typing import Annotated

import strawberry
from strawberry import relay

from app.domain import cases
from graphql_schema.enums import CaseEntryKind, CasePriority, CaseStatus, CaseTopic, ContactChannel
from graphql_schema.errors import ConflictError, InvalidInputError, NotFoundError, PermissionDeniedError
from graphql_schema.ids import node_id_of
from graphql_schema.types.cases import Case, CaseFilterInput

_Errors = InvalidInputError | NotFoundError | ConflictError | PermissionDeniedError


@strawberry.input(description="Open a case from any contact channel.")
class OpenCaseInput:
    client_key: str = strawberry.field(
        description="Your idempotency key (1-100 characters, per customer): the same key and content return the same case; "
        "the same key with other content is refused (DUPLICATE_CLIENT_KEY)."
    )
    contact_channel: ContactChannel
    topic: CaseTopic
    subject: str = strawberry.field(description="One line, at most 200 characters.")
    message: str | None = strawberry.field(default=None, description="What the customer said: the thread's first (customer-visible) message.")
    priority: CasePriority = strawberry.field(default=cases.CasePriority.NORMAL, description="Sets the SLA targets.")
    customer_id: relay.GlobalID | None = strawberry.field(
        default=None, description="The customer; customers omit it (themselves), others may let a linked order imply it."
    )
    order_ids: list[relay.GlobalID] | None = strawberry.field(default=None, description="The customer's orders it is about (at most 20).")
    shipment_ids: list[relay.GlobalID] | None = strawberry.field(default=None, description="The customer's shipments it is about.")
    return_ids: list[relay.GlobalID] | None = strawberry.field(default=None, description="The customer's returns it is about.")
    location: str | None = strawberry.field(default=None, description="Store staff: the store it is opened at (may be omitted when they have one).")

    def to_domain(self) -> cases.OpenCase:
        return cases.OpenCase(
            client_key=self.client_key,
            contact_channel=cases.ContactChannel(self.contact_channel),
            topic=cases.CaseTopic(self.topic),
            subject=self.subject,
            message=self.message,
            priority=cases.CasePriority(self.priority),
            customer_id=node_id_of(self.customer_id, "Customer", field="customerId") if self.customer_id else None,
            links=cases.CaseLinks(
                order_ids=tuple(dict.fromkeys(node_id_of(i, "Order", field="orderIds") for i in self.order_ids or ())),
                shipment_ids=tuple(dict.fromkeys(node_id_of(i, "Shipment", field="shipmentIds") for i in self.shipment_ids or ())),
                return_ids=tuple(dict.fromkeys(node_id_of(i, "Return", field="returnIds") for i in self.return_ids or ())),
            ),
            location_id=self.location,
        )


@strawberry.type(description="The case opened (or, on a replay, the one opened before under this key).")
class OpenCasePayload:
    case: Case
    replayed: bool = strawberry.field(description="True when this client key was used before with the same content.")


@strawberry.input(description="Add a message or an internal note to a case's thread.")
class AddCaseEntryInput:
    case_id: relay.GlobalID
    kind: CaseEntryKind = strawberry.field(
        default=cases.EntryKind.MESSAGE, description="MESSAGE (customer-visible) or NOTE (internal; staff only)."
    )
    body: str = strawberry.field(description="At most 5,000 characters.")

    def case(self) -> str:
        return node_id_of(self.case_id, "Case", field="caseId")


@strawberry.input(description="Move a case along its status machine; reopening (RESOLVED → OPEN) only within the reopen window.")
class SetCaseStatusInput:
    case_id: relay.GlobalID
    status: CaseStatus
    reason: str | None = None


@strawberry.input(description="Give a case to a rep, or back to the queue (assignee null).")
class AssignCaseInput:
    case_id: relay.GlobalID
    assignee: str | None = strawberry.field(default=None, description="The rep's principal subject; null: back to the queue.")
    reason: str | None = None


@strawberry.input(description="Take the most urgent unassigned case, optionally from a narrower queue.")
class ClaimNextCaseInput:
    filter: CaseFilterInput | None = None


@strawberry.type(description="The case after the change.")
class CasePayload:
    case: Case


@strawberry.type(description="The case now assigned to the caller; null when the queue is empty.")
class ClaimNextCasePayload:
    case: Case | None


@strawberry.input(description="Service-level targets for one priority.")
class SlaTargetsInput:
    priority: CasePriority
    first_response_minutes: int = strawberry.field(description="Minutes from opening to the first answer.")
    resolution_minutes: int = strawberry.field(description="Minutes from opening to resolution.")


@strawberry.input(description="Set SLA targets globally or for one contact channel; the given priorities replace theirs. New cases use them.")
class SetCaseSlaPolicyInput:
    contact_channel: ContactChannel | None = strawberry.field(default=None, description="Omit for the global policy.")
    targets: list[SlaTargetsInput]
    reason: str | None = None

    def to_domain(self) -> dict[cases.CasePriority, cases.SlaTargets]:
        return {
            cases.CasePriority(t.priority): cases.SlaTargets(t.first_response_minutes, t.resolution_minutes) for t in self.targets[:10]
        }


@strawberry.type(description="Service-level targets for one priority.")
class SlaTargets:
    priority: CasePriority
    first_response_minutes: int
    resolution_minutes: int


@strawberry.type(description="The SLA targets in force for a scope (every priority; unset ones from the global policy or the defaults).")
class CaseSlaPolicy:
    scope: str = strawberry.field(description='"global" or the contact channel.')
    targets: list[SlaTargets] = strawberry.field(metadata={"cost_list_size": 4})
    version: int = strawberry.field(description="Of the scope's own policy; 0 when it has none.")

    @classmethod
    def from_domain(cls, value: cases.SlaPolicy) -> CaseSlaPolicy:
        return cls(
            scope=value.scope,
            targets=[SlaTargets(priority=p, first_response_minutes=t.first_response_minutes, resolution_minutes=t.resolution_minutes)
                     for p, t in sorted(value.targets.items(), key=lambda item: -cases.PRIORITY_RANK[item[0]])],
            version=value.version,
        )


@strawberry.type(description="The policy after the change.")
class SetCaseSlaPolicyPayload:
    policy: CaseSlaPolicy


OpenCaseResult = Annotated[OpenCasePayload | _Errors, strawberry.union("OpenCaseResult", description="The case opened (or replayed), or why not.")]
AddCaseEntryResult = Annotated[CasePayload | _Errors, strawberry.union("AddCaseEntryResult", description="The case with the new entry, or why not.")]
SetCaseStatusResult = Annotated[CasePayload | _Errors, strawberry.union("SetCaseStatusResult", description="The case in its new status, or why not.")]
AssignCaseResult = Annotated[CasePayload | _Errors, strawberry.union("AssignCaseResult", description="The reassigned case, or why not.")]
ClaimNextCaseResult = Annotated[ClaimNextCasePayload | _Errors, strawberry.union("ClaimNextCaseResult", description="The case now the caller's (null when the queue is empty), or why not.")]
SetCaseSlaPolicyResult = Annotated[SetCaseSlaPolicyPayload | _Errors, strawberry.union("SetCaseSlaPolicyResult", description="The policy now in force, or why not.")]
