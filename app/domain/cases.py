"""Customer service cases (tickets): why a customer got in touch, what was done, and by when it must be answered.

A case belongs to one customer, may link that customer's orders, shipments and returns, and carries a
thread of entries: MESSAGEs the customer sees, internal NOTEs they never see, and ACTIONs taken on an
order from the case. Its status follows `TRANSITIONS`; a RESOLVED case may be reopened within
`REOPEN_WINDOW`. SLA targets (first response, resolution) come from a policy per priority and
contact channel; while the case is PENDING_CUSTOMER the clock is paused and the due times move on by
the time it spent waiting.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta, timezone
from enum import StrEnum
from typing import Any

from app.domain.errors import Conflict, DomainError, ErrorCode, Validator
from app.domain.events import Actor, DomainEvent
from app.domain.ids import new_id

MAX_SUBJECT = 200
MAX_BODY = 5_000
MAX_CLIENT_KEY = 100
MAX_LINKS = 20
MAX_ENTRIES = 500
MAX_SEARCH = 100
REOPEN_WINDOW = timedelta(days=14)
CASE_AGGREGATE = "Case"
# Sorts a paused or finished case after every running one in "most urgent first" order.
NEVER = datetime(9999, 12, 31, tzinfo=timezone.utc)


class CaseStatus(StrEnum):
    NEW = "NEW"  # nobody has worked on it yet
    OPEN = "OPEN"  # being worked on
    PENDING_CUSTOMER = "PENDING_CUSTOMER"  # waiting for the customer: the SLA clock is paused
    RESOLVED = "RESOLVED"  # answered; may be reopened within REOPEN_WINDOW
    CLOSED = "CLOSED"  # final


class ContactChannel(StrEnum):
    PHONE = "PHONE"
    EMAIL = "EMAIL"
    CHAT = "CHAT"
    STORE = "STORE"
    MARKETPLACE = "MARKETPLACE"
    SOCIAL = "SOCIAL"
    WEB = "WEB"  # the customer themself, on the web site or app


class CaseTopic(StrEnum):
    WHERE_IS_MY_ORDER = "WHERE_IS_MY_ORDER"
    CHANGE_ORDER = "CHANGE_ORDER"
    CANCEL = "CANCEL"
    RETURN = "RETURN"
    DAMAGED = "DAMAGED"
    BILLING = "BILLING"
    OTHER = "OTHER"


class CasePriority(StrEnum):
    LOW = "LOW"
    NORMAL = "NORMAL"
    HIGH = "HIGH"
    URGENT = "URGENT"


PRIORITY_RANK = {CasePriority.LOW: 1, CasePriority.NORMAL: 2, CasePriority.HIGH: 3, CasePriority.URGENT: 4}


class EntryKind(StrEnum):
    MESSAGE = "MESSAGE"  # customer-visible: to or from the customer
    NOTE = "NOTE"  # internal: never shown to CUSTOMER or CHANNEL callers
    ACTION = "ACTION"  # an order action taken from the case (internal)


class SlaKind(StrEnum):
    FIRST_RESPONSE = "FIRST_RESPONSE"
    RESOLUTION = "RESOLUTION"


# Time runs against the SLA only in these statuses.
CLOCK_RUNNING = frozenset({CaseStatus.NEW, CaseStatus.OPEN})
ACTIVE = frozenset({CaseStatus.NEW, CaseStatus.OPEN, CaseStatus.PENDING_CUSTOMER})
CLAIMABLE = frozenset({CaseStatus.NEW, CaseStatus.OPEN})

TRANSITIONS: dict[CaseStatus, frozenset[CaseStatus]] = {
    CaseStatus.NEW: frozenset({CaseStatus.OPEN, CaseStatus.PENDING_CUSTOMER, CaseStatus.RESOLVED}),
    CaseStatus.OPEN: frozenset({CaseStatus.PENDING_CUSTOMER, CaseStatus.RESOLVED}),
    CaseStatus.PENDING_CUSTOMER: frozenset({CaseStatus.OPEN, CaseStatus.RESOLVED}),
    CaseStatus.RESOLVED: frozenset({CaseStatus.OPEN, CaseStatus.CLOSED}),  # OPEN = reopen, within the window
    CaseStatus.CLOSED: frozenset(),
}


class IllegalCaseTransition(DomainError):
    code = ErrorCode.ILLEGAL_TRANSITION


class DuplicateCaseKey(Conflict):
    """A different case was opened under this client key."""

    code = ErrorCode.DUPLICATE_CLIENT_KEY


class CaseKeyTaken(Exception):
    """The repository's signal that (customer, client key) is already stored: the service replays it."""


# --- SLAs ----------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SlaTargets:
    first_response_minutes: int
    resolution_minutes: int


DEFAULT_SLA: dict[CasePriority, SlaTargets] = {
    CasePriority.URGENT: SlaTargets(60, 8 * 60),
    CasePriority.HIGH: SlaTargets(4 * 60, 24 * 60),
    CasePriority.NORMAL: SlaTargets(8 * 60, 72 * 60),
    CasePriority.LOW: SlaTargets(24 * 60, 120 * 60),
}
MAX_SLA_MINUTES = 60 * 24 * 90
# Shorter targets cannot be worked to (or measured against a scheduler that ticks every few seconds)
# and are most likely a unit mistake.
MIN_SLA_MINUTES = 5


@dataclass(frozen=True, slots=True)
class SlaPolicy:
    """Targets per priority for one scope: `global`, or a contact channel whose targets replace the global ones."""

    scope: str
    targets: dict[CasePriority, SlaTargets]
    version: int = 0

    def for_priority(self, priority: CasePriority) -> SlaTargets:
        return self.targets.get(priority, DEFAULT_SLA[priority])


def check_sla_targets(targets: dict[CasePriority, SlaTargets]) -> None:
    check = Validator()
    for priority, target in targets.items():
        for name, minutes in (("firstResponseMinutes", target.first_response_minutes), ("resolutionMinutes", target.resolution_minutes)):
            check.check(
                MIN_SLA_MINUTES <= minutes <= MAX_SLA_MINUTES, f"{name} must be between {MIN_SLA_MINUTES} and {MAX_SLA_MINUTES}",
                "targets", priority.value, name,
            )
        check.check(
            target.first_response_minutes <= target.resolution_minutes,
            "the first response cannot be due after the resolution",
            "targets", priority.value, "firstResponseMinutes",
        )
    check.raise_if_any()


@dataclass(frozen=True, slots=True)
class Sla:
    """A case's due times and breaches. Due times are null while the clock is paused or stopped."""

    first_response_due: datetime | None
    resolution_due: datetime | None
    first_responded_at: datetime | None = None
    first_response_breached_at: datetime | None = None
    resolution_breached_at: datetime | None = None
    paused_at: datetime | None = None

    @property
    def breached(self) -> bool:
        return self.first_response_breached_at is not None or self.resolution_breached_at is not None

    def next_due(self) -> datetime:
        """The earliest target still running, for "most urgent first"; NEVER when none runs."""
        dues = [d for d in (None if self.first_responded_at else self.first_response_due, self.resolution_due) if d is not None]
        return min(dues) if dues and self.paused_at is None else NEVER


def start_sla(targets: SlaTargets, at: datetime) -> Sla:
    return Sla(
        first_response_due=at + timedelta(minutes=targets.first_response_minutes),
        resolution_due=at + timedelta(minutes=targets.resolution_minutes),
    )


def _sla_for_status(sla: Sla, before: CaseStatus, after: CaseStatus, at: datetime, targets: SlaTargets) -> Sla:
    """Pausing keeps the due times and notes when; resuming moves them on by the pause. Resolving stops
    the clock (nothing more can breach); reopening starts a new resolution target."""
    if after is CaseStatus.PENDING_CUSTOMER and sla.paused_at is None:
        return replace(sla, paused_at=at)
    if before is CaseStatus.PENDING_CUSTOMER and after is not CaseStatus.PENDING_CUSTOMER and sla.paused_at is not None:
        waited = at - sla.paused_at
        sla = replace(
            sla,
            paused_at=None,
            first_response_due=sla.first_response_due + waited if sla.first_response_due else None,
            resolution_due=sla.resolution_due + waited if sla.resolution_due else None,
        )
    if after in (CaseStatus.RESOLVED, CaseStatus.CLOSED):
        return replace(sla, paused_at=None, first_response_due=None if not sla.first_responded_at else sla.first_response_due, resolution_due=None)
    if before in (CaseStatus.RESOLVED,) and after is CaseStatus.OPEN:
        return replace(sla, resolution_due=at + timedelta(minutes=targets.resolution_minutes), resolution_breached_at=None)
    return sla


# --- the case ------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CaseEntry:
    id: str
    kind: EntryKind
    body: str
    author: str  # principal subject
    author_role: str
    at: datetime
    from_customer: bool = False
    order_id: str | None = None  # ACTION: the order acted on
    action: str | None = None  # ACTION: editOrder, cancelOrder, holdOrder, ...

    @property
    def customer_visible(self) -> bool:
        return self.kind is EntryKind.MESSAGE


@dataclass(frozen=True, slots=True)
class PendingClaim:
    """A claim whose `CaseAssigned` event is not in the log yet: written with the claim itself (one
    atomic update), moved to the log right after, or by the scheduler if the claimer died first."""

    event_id: str
    role: str
    at: datetime


@dataclass(frozen=True, slots=True)
class CaseLinks:
    order_ids: tuple[str, ...] = ()
    shipment_ids: tuple[str, ...] = ()
    return_ids: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Case:
    id: str
    number: str
    customer_id: str
    client_key: str
    contact_channel: ContactChannel
    topic: CaseTopic
    priority: CasePriority
    status: CaseStatus
    subject: str
    links: CaseLinks
    sla: Sla
    created_at: datetime
    updated_at: datetime
    opened_by: str
    channel_id: str | None = None  # the sales channel it concerns (a channel integration sees only its own)
    location_id: str | None = None  # the store it was opened at
    assignee: str | None = None
    entries: tuple[CaseEntry, ...] = ()
    resolved_at: datetime | None = None
    closed_at: datetime | None = None
    last_contact_at: datetime | None = None  # the customer's latest message (or the opening)
    input_hash: str | None = None
    version: int = 1
    pending_claim: PendingClaim | None = None

    def visible_entries(self, internal: bool) -> tuple[CaseEntry, ...]:
        return self.entries if internal else tuple(e for e in self.entries if e.customer_visible)

    def can_reopen(self, at: datetime) -> bool:
        return self.status is CaseStatus.RESOLVED and self.resolved_at is not None and at - self.resolved_at <= REOPEN_WINDOW


@dataclass(frozen=True, slots=True)
class OpenCase:
    """What `openCase` asks for; the customer may be implied by a linked order (channel integrations)."""

    client_key: str
    contact_channel: ContactChannel
    topic: CaseTopic
    subject: str
    message: str | None = None
    priority: CasePriority = CasePriority.NORMAL
    customer_id: str | None = None
    links: CaseLinks = field(default_factory=CaseLinks)
    location_id: str | None = None


def validate_open(request: OpenCase) -> None:
    check = Validator()
    check.check(0 < len(request.client_key.strip()) <= MAX_CLIENT_KEY, f"clientKey must be 1 to {MAX_CLIENT_KEY} characters", "clientKey")
    check.check(0 < len(request.subject.strip()) <= MAX_SUBJECT, f"subject must be 1 to {MAX_SUBJECT} characters", "subject")
    if request.message is not None:
        check.check(0 < len(request.message.strip()) <= MAX_BODY, f"message must be 1 to {MAX_BODY} characters", "message")
    links = request.links
    for name, ids in (("orderIds", links.order_ids), ("shipmentIds", links.shipment_ids), ("returnIds", links.return_ids)):
        check.check(len(ids) <= MAX_LINKS, f"at most {MAX_LINKS} {name}", name)
    check.raise_if_any()


def check_body(body: str) -> str:
    text = body.strip()
    check = Validator()
    check.check(0 < len(text) <= MAX_BODY, f"body must be 1 to {MAX_BODY} characters", "body")
    check.raise_if_any()
    return text


def open_hash(request: OpenCase) -> str:
    """Identifies an openCase input, so a replay under its client key can be told from a different case."""
    body = {
        "channel": request.contact_channel.value, "topic": request.topic.value, "subject": request.subject.strip(),
        "message": (request.message or "").strip(), "priority": request.priority.value, "customer": request.customer_id,
        "orders": sorted(request.links.order_ids), "shipments": sorted(request.links.shipment_ids),
        "returns": sorted(request.links.return_ids), "location": request.location_id,
    }
    return hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()


def case_number(case_id: str) -> str:
    """Human-readable, unique: the id's time-ordered tail."""
    return f"C-{case_id[-8:].upper()}"


def transition(case: Case, target: CaseStatus, at: datetime, targets: SlaTargets) -> Case:
    """The case in `target` status, or IllegalCaseTransition (a reopen after the window included)."""
    if target not in TRANSITIONS[case.status]:
        raise IllegalCaseTransition(f"a case that is {case.status} cannot become {target}", field=("status",))
    if case.status is CaseStatus.RESOLVED and target is CaseStatus.OPEN and not case.can_reopen(at):
        raise IllegalCaseTransition(f"a case can be reopened only within {REOPEN_WINDOW.days} days of its resolution", field=("status",))
    return replace(
        case,
        status=target,
        sla=_sla_for_status(case.sla, case.status, target, at, targets),
        resolved_at=at if target is CaseStatus.RESOLVED else (None if target is CaseStatus.OPEN else case.resolved_at),
        closed_at=at if target is CaseStatus.CLOSED else case.closed_at,
    )


def with_entry(case: Case, entry: CaseEntry, targets: SlaTargets) -> tuple[Case, CaseStatus | None]:
    """The case with the entry appended, and the status it moved to because of it (or None):
    a staff MESSAGE is the first response (NEW → OPEN); a customer's MESSAGE puts a case waiting for
    them back to OPEN, and reopens a RESOLVED one within the window."""
    if len(case.entries) >= MAX_ENTRIES:
        raise Conflict(f"a case holds at most {MAX_ENTRIES} entries; open a new case", field=("body",))
    if case.status is CaseStatus.CLOSED:
        raise IllegalCaseTransition("a closed case takes no more entries; open a new case", field=("caseId",))
    updated = replace(case, entries=(*case.entries, entry))
    target: CaseStatus | None = None
    if entry.kind is EntryKind.MESSAGE and entry.from_customer:
        updated = replace(updated, last_contact_at=entry.at)
        if case.status in (CaseStatus.PENDING_CUSTOMER, CaseStatus.RESOLVED):
            target = CaseStatus.OPEN
    elif entry.kind is EntryKind.MESSAGE:
        if updated.sla.first_responded_at is None:
            updated = replace(updated, sla=replace(updated.sla, first_responded_at=entry.at))
        if case.status is CaseStatus.NEW:
            target = CaseStatus.OPEN
    if target is not None:
        updated = transition(updated, target, entry.at, targets)
    return updated, target


def bump(case: Case, at: datetime) -> Case:
    return replace(case, updated_at=at, version=case.version + 1)


def new_entry(kind: EntryKind, body: str, actor: Actor, at: datetime, *, from_customer: bool, **extra: Any) -> CaseEntry:
    return CaseEntry(id=new_id(), kind=kind, body=body, author=actor.subject, author_role=actor.role, at=at, from_customer=from_customer, **extra)


# --- events --------------------------------------------------------------------------------------


def case_event(case: Case, type_: str, actor: Actor, at: datetime, payload: dict[str, Any] | None = None, reason: str | None = None) -> DomainEvent:
    """Every case event states the case's status, priority and assignee, so a queue screen can follow
    it without a read; `internal` marks what CUSTOMER and CHANNEL subscribers must not receive."""
    body = {
        "caseId": case.id, "number": case.number, "status": case.status.value, "priority": case.priority.value,
        "topic": case.topic.value, "contactChannel": case.contact_channel.value, "assignee": case.assignee,
        "internal": False, **(payload or {}),
    }
    return DomainEvent(
        id=new_id(), type=type_, aggregate_type=CASE_AGGREGATE, aggregate_id=case.id, at=at, actor=actor, payload=body,
        reason=reason, customer_id=case.customer_id, channel_id=case.channel_id, location_id=case.location_id,
        order_id=case.links.order_ids[0] if case.links.order_ids else None,
    )


def entry_payload(entry: CaseEntry) -> dict[str, Any]:
    """A customer-visible message travels with its text; an internal entry only says that one was added."""
    payload: dict[str, Any] = {"entryId": entry.id, "kind": entry.kind.value, "internal": not entry.customer_visible}
    if entry.customer_visible:
        payload["body"] = entry.body
        payload["fromCustomer"] = entry.from_customer
    return payload


# --- queues --------------------------------------------------------------------------------------


class CaseOrder(StrEnum):
    NEWEST = "NEWEST"  # created_at desc
    MOST_URGENT = "MOST_URGENT"  # priority desc, next due time asc


@dataclass(frozen=True, slots=True)
class CaseFilter:
    """All given criteria must hold; values within one criterion are alternatives."""

    statuses: tuple[CaseStatus, ...] = ()
    priorities: tuple[CasePriority, ...] = ()
    topics: tuple[CaseTopic, ...] = ()
    contact_channels: tuple[ContactChannel, ...] = ()
    channel_ids: tuple[str, ...] = ()
    location_ids: tuple[str, ...] = ()
    assignee: str | None = None
    unassigned: bool | None = None
    breached: bool | None = None
    customer_id: str | None = None
    order_id: str | None = None
    text: str | None = None
    # Set by the service for CUSTOMER and CHANNEL callers: text search sees only customer-visible entries.
    visible_text_only: bool = False


def check_search(text: str | None) -> str | None:
    if text is None:
        return None
    cleaned = text.strip()
    check = Validator()
    check.check(len(cleaned) <= MAX_SEARCH, f"text is at most {MAX_SEARCH} characters", "filter", "text")
    check.raise_if_any()
    return cleaned or None
