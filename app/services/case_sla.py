"""SLA targets per priority and contact channel (configurable, with defaults), and breach marking.

Breaches are marked by the in-process scheduler (app/services/scheduler.py), which leases a case
before working on it like a scheduled order; the mark itself is a transaction guarded on the
breach still being unmarked, so a breach is recorded, and `CaseSlaBreached` emitted, exactly once
however many instances tick at the same time.
"""

from __future__ import annotations

import time
from dataclasses import replace
from datetime import datetime

from app.domain.cases import (
    CLOCK_RUNNING,
    DEFAULT_SLA,
    CasePriority,
    ContactChannel,
    SlaKind,
    SlaPolicy,
    SlaTargets,
    bump,
    case_event,
    check_sla_targets,
)
from app.domain.clock import utcnow
from app.domain.errors import Conflict
from app.domain.events import Actor, DomainEvent
from app.domain.ids import new_id
from app.domain.principals import Principal, Role, actor_of
from app.repositories.cases import CaseRepository
from app.repositories.database import Mongo, Session
from app.repositories.events import EventRepository

GLOBAL = "global"
SLA_POLICY_AGGREGATE = "CaseSlaPolicy"


class CaseSla:
    def __init__(self, *, mongo: Mongo, cases: CaseRepository, events: EventRepository, cache_seconds: float = 5.0):
        self._mongo = mongo
        self._cases = cases
        self._events = events
        # Policies change rarely and every case operation needs them: kept for a few seconds, so another
        # instance's change reaches this one's new cases within `cache_seconds` (this one's at once).
        self._cache_seconds = cache_seconds
        self._cached: dict[str, tuple[float, SlaPolicy | None]] = {}

    async def targets(self, contact_channel: ContactChannel, priority: CasePriority, *, session: Session | None = None) -> SlaTargets:
        """The contact channel's own policy, else the global one, else the built-in defaults."""
        for scope in (contact_channel.value, GLOBAL):
            policy = await self._policy_of(scope)
            if policy is not None and priority in policy.targets:
                return policy.targets[priority]
        return DEFAULT_SLA[priority]

    async def _policy_of(self, scope: str) -> SlaPolicy | None:
        now = time.monotonic()
        cached = self._cached.get(scope)
        if cached is not None and cached[0] > now:
            return cached[1]
        policy = await self._cases.sla_policy(scope)
        self._cached[scope] = (now + self._cache_seconds, policy)
        return policy

    async def policy(self, contact_channel: ContactChannel | None) -> SlaPolicy:
        """The targets in force for a scope, every priority filled in from the global policy and the defaults."""
        scopes = [contact_channel.value, GLOBAL] if contact_channel else [GLOBAL]
        found = [await self._cases.sla_policy(scope) for scope in scopes]
        own = found[0]
        merged = {p: DEFAULT_SLA[p] for p in CasePriority}
        for policy in reversed([f for f in found if f is not None]):
            merged.update(policy.targets)
        return SlaPolicy(scope=scopes[0], targets=merged, version=own.version if own else 0)

    async def set_policy(
        self, principal: Principal, contact_channel: ContactChannel | None, targets: dict[CasePriority, SlaTargets], reason: str | None
    ) -> SlaPolicy:
        """ADMIN: replaces the given priorities' targets of a scope (new cases use them); audited."""
        principal.require_role(Role.ADMIN)
        check_sla_targets(targets)
        scope = contact_channel.value if contact_channel else GLOBAL
        actor = actor_of(principal)

        async def work(session: Session) -> SlaPolicy:
            at = utcnow()
            before = await self._cases.sla_policy(scope, session=session)
            merged = {**(before.targets if before else {}), **targets}
            saved = await self._cases.save_sla_policy(SlaPolicy(scope, merged), actor=actor.subject, at=at, session=session)
            payload = {
                "scope": scope, "version": saved.version,
                "targets": {p.value: {"firstResponseMinutes": t.first_response_minutes, "resolutionMinutes": t.resolution_minutes} for p, t in merged.items()},
            }
            event = DomainEvent(
                id=new_id(), type="CaseSlaPolicyChanged", aggregate_type=SLA_POLICY_AGGREGATE, aggregate_id=scope, at=at,
                actor=actor, payload=payload, reason=reason,
            )
            await self._events.append([event], session=session)
            return saved

        await self._mongo.transaction(work)
        self._cached.clear()
        return await self.policy(contact_channel)

    async def mark_breach(self, case_id: str, kind: SlaKind, *, actor: Actor, now: datetime | None = None) -> bool:
        """Records one breach and its `CaseSlaBreached` event; False when there is nothing (any more) to mark."""

        async def work(session: Session) -> bool:
            at = now or utcnow()
            case = await self._cases.get(case_id, session=session)
            if case is None or case.status not in CLOCK_RUNNING:
                return False
            sla = case.sla
            if kind is SlaKind.FIRST_RESPONSE:
                due, already = (None if sla.first_responded_at else sla.first_response_due), sla.first_response_breached_at
            else:
                due, already = sla.resolution_due, sla.resolution_breached_at
            if due is None or already is not None or due > at:
                return False
            marked = replace(
                sla,
                first_response_breached_at=at if kind is SlaKind.FIRST_RESPONSE else sla.first_response_breached_at,
                resolution_breached_at=at if kind is SlaKind.RESOLUTION else sla.resolution_breached_at,
            )
            after = bump(replace(case, sla=marked), at)
            if not await self._cases.replace(after, expected_version=case.version, session=session):
                raise Conflict("the case changed meanwhile")
            event = case_event(after, "CaseSlaBreached", actor, at, {"sla": kind.value, "dueAt": due.isoformat()})
            await self._events.append([event], session=session)
            return True

        return await self._mongo.transaction(work)
