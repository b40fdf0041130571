"""Setting or removing one scope's policy (routing, returns): the write and its audit event in the
caller's transaction. The event names the settings before and after and whether the scope now
inherits the global policy."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, Protocol, TypeVar

from app.domain.clock import utcnow
from app.domain.events import DomainEvent
from app.domain.ids import new_id
from app.domain.principals import Principal, actor_of
from app.repositories.database import Session
from app.repositories.events import EventRepository
from app.repositories.scoped_policies import ScopedPolicyRepository

P = TypeVar("P")


class _InForce(Protocol):
    version: int
    inherited: bool


N = TypeVar("N", bound=_InForce)


async def change_scoped_policy(
    session: Session,
    *,
    policies: ScopedPolicyRepository[P, Any],
    events: EventRepository,
    principal: Principal,
    scope: str,
    channel_id: str | None,
    policy: P | None,
    reason: str | None,
    event_type: str,
    aggregate_type: str,
    to_doc: Callable[[P], dict[str, Any]],
    in_force: Callable[[Session], Awaitable[N]],
) -> N:
    """Stores `policy` for `scope` (None: removes it, so the scope inherits) and appends the
    `event_type` event; returns the policy now in force there."""
    before = (await policies.get_many([scope], session=session)).get(scope)
    at = utcnow()
    if policy is None:
        await policies.delete(scope, session=session)
        now = await in_force(session)
    else:
        now = await policies.put(scope, policy, updated_by=principal.subject, at=at, session=session)
    event = DomainEvent(
        id=new_id(),
        type=event_type,
        aggregate_type=aggregate_type,
        aggregate_id=scope,
        at=at,
        actor=actor_of(principal),
        payload={
            "scope": scope,
            "version": None if policy is None else now.version,
            "before": to_doc(before.policy) if before else None,
            "after": to_doc(policy) if policy is not None else None,
            "inherited": now.inherited,
        },
        reason=reason,
        channel_id=channel_id,
    )
    await events.append([event], session=session)
    return now
