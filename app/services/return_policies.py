"""Return policies per channel: the one in force (a channel's own, else the global one, else the
built-in default), and changing it (ADMIN, audited in the same transaction as the write)."""

from __future__ import annotations

from app.domain.errors import NotFound, Validator
from app.domain.principals import Principal, Role
from app.domain.returns import (
    DEFAULT_RETURN_POLICY,
    GLOBAL_SCOPE,
    MAX_RESTOCKING_FEE_BP,
    MAX_WINDOW_DAYS,
    ConfiguredReturnPolicy,
    ReturnPolicy,
)
from app.repositories.channels import ChannelRepository
from app.repositories.database import Mongo, Session
from app.repositories.events import EventRepository
from app.repositories.locations import LocationRepository
from app.repositories.return_policies import ReturnPolicyRepository, policy_to_doc
from app.services.scoped_policies import change_scoped_policy

MAX_REASON_LENGTH = 500


class ReturnPolicyService:
    def __init__(
        self,
        *,
        mongo: Mongo,
        policies: ReturnPolicyRepository,
        channels: ChannelRepository,
        locations: LocationRepository,
        events: EventRepository,
    ):
        self._mongo = mongo
        self._policies = policies
        self._channels = channels
        self._locations = locations
        self._events = events

    async def policy_for(self, channel_id: str | None, *, session: Session | None = None) -> ConfiguredReturnPolicy:
        """No permission check: every return needs its channel's policy."""
        scope = channel_id or GLOBAL_SCOPE
        stored = await self._policies.get_many(list(dict.fromkeys([scope, GLOBAL_SCOPE])), session=session)
        if scope in stored:
            return stored[scope]
        inherited = scope != GLOBAL_SCOPE
        found = stored.get(GLOBAL_SCOPE)
        if found is not None:
            return ConfiguredReturnPolicy(
                scope=scope,
                policy=found.policy,
                inherited=inherited,
                version=found.version,
                updated_at=found.updated_at,
                updated_by=found.updated_by,
            )
        return ConfiguredReturnPolicy(scope=scope, policy=DEFAULT_RETURN_POLICY, inherited=inherited)

    async def configured_policy(self, principal: Principal, channel_id: str | None) -> ConfiguredReturnPolicy:
        """Any authenticated caller: a return policy is what every shop shows its shoppers.
        NotFound for an unknown channel."""
        del principal  # readable by every role; kept for the transport's uniform call shape
        if channel_id is not None:
            await self._require_channel(channel_id)
        return await self.policy_for(channel_id)

    async def set_policy(
        self, principal: Principal, channel_id: str | None, policy: ReturnPolicy | None, *, reason: str | None = None
    ) -> ConfiguredReturnPolicy:
        """ADMIN only. `channel_id=None`: the global policy; `policy=None` removes a channel's own policy
        (it inherits the global one again). Validated first (InvalidInput with SetReturnPolicyInput paths);
        the write and `ReturnPolicyChanged` commit together."""
        principal.require_role(Role.ADMIN)
        if channel_id is not None:
            await self._require_channel(channel_id)
        check = Validator()
        check.check(reason is None or len(reason) <= MAX_REASON_LENGTH, f"at most {MAX_REASON_LENGTH} characters", "reason")
        if policy is None:
            check.check(channel_id is not None, "the global policy cannot be removed; give a policy", "policy")
        else:
            check.check(
                0 <= policy.window_days <= MAX_WINDOW_DAYS, f"windowDays must be between 0 and {MAX_WINDOW_DAYS}", "policy", "windowDays"
            )
            check.check(
                0 <= policy.restocking_fee_bp <= MAX_RESTOCKING_FEE_BP,
                f"restockingFeeBasisPoints must be between 0 and {MAX_RESTOCKING_FEE_BP}",
                "policy", "restockingFeeBasisPoints",
            )
            centre = policy.returns_centre_location_id
            if centre is not None:
                found = await self._locations.by_ids([centre])
                if check.check(bool(found), f"unknown location {centre}", "policy", "returnsCentre"):
                    check.check(
                        found[0].active and found[0].capabilities.accepts_returns,
                        f"{centre} must be active and accept returns",
                        "policy", "returnsCentre",
                    )
        check.raise_if_any()
        scope = channel_id or GLOBAL_SCOPE
        return await self._mongo.transaction(
            lambda session: change_scoped_policy(
                session,
                policies=self._policies,
                events=self._events,
                principal=principal,
                scope=scope,
                channel_id=channel_id,
                policy=policy,
                reason=reason,
                event_type="ReturnPolicyChanged",
                aggregate_type="ReturnPolicy",
                to_doc=policy_to_doc,
                in_force=lambda s: self.policy_for(channel_id, session=s),
            )
        )

    async def _require_channel(self, channel_id: str) -> None:
        if not await self._channels.by_ids([channel_id]):
            raise NotFound(f"unknown channel {channel_id}", field=("channel",))
