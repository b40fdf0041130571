"""Routing use cases: the policy in force per channel, changing it (audited), and planning an order.

`plan` only reads: it loads the stock of the requested SKUs and the locations holding it (with the
caller's session, so an order service can plan and reserve in one transaction) and calls the pure
planner. Reserving what the plan says is the caller's job.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass

from app.domain.errors import Forbidden, NotFound, Validator
from app.domain.inventory import InventoryLevel
from app.domain.locations import Location
from app.domain.orders import DeliveryMethod
from app.domain.principals import Principal, Role
from app.domain.routing.plan import PickupAlternative, RoutingPlan, RoutingRequest
from app.domain.routing.planner import find_pickup_alternatives, plan_routing
from app.domain.routing.policy import (
    DEFAULT_POLICY,
    GLOBAL_SCOPE,
    MAX_EXCLUDED_LOCATIONS,
    ConfiguredPolicy,
    RoutingPolicy,
    check_policy,
    validate_policy,
)
from app.repositories.channels import ChannelRepository
from app.repositories.database import Mongo, Session
from app.repositories.events import EventRepository
from app.repositories.inventory import InventoryRepository, stock_at
from app.repositories.locations import LocationRepository
from app.repositories.routing import RoutingPolicyRepository, policy_to_doc
from app.services.scoped_policies import change_scoped_policy

OVERRIDE_SOURCE = "override"


@dataclass(frozen=True, slots=True)
class Routed:
    """A plan and what it was made from: the candidate locations and the stock levels (available > 0)
    as read, by (sku, location id); in a transaction, as of its snapshot."""

    plan: RoutingPlan
    locations: Mapping[str, Location]
    levels: Mapping[tuple[str, str], InventoryLevel]
_POLICY_READERS = (Role.ADMIN, Role.CSR, Role.STORE_STAFF, Role.WAREHOUSE)


class RoutingService:
    def __init__(
        self,
        *,
        mongo: Mongo,
        policies: RoutingPolicyRepository,
        channels: ChannelRepository,
        locations: LocationRepository,
        inventory: InventoryRepository,
        events: EventRepository,
        location_cache_seconds: float = 0.0,
    ):
        """`location_cache_seconds` > 0 keeps locations (reference data) in memory that long, saving
        a read per plan; a deactivated location may then still be routed to for that long. Stock is
        never cached: the reservation's guarded update is the last word on it anyway."""
        self._location_cache_seconds = location_cache_seconds
        self._location_cache: dict[str, tuple[float, Location | None]] = {}
        self._mongo = mongo
        self._policies = policies
        self._channels = channels
        self._locations = locations
        self._inventory = inventory
        self._events = events

    async def policy_for(self, channel_id: str | None, *, session: Session | None = None) -> ConfiguredPolicy:
        """The policy in force for a channel (its own, else the global one, else DEFAULT_POLICY);
        `channel_id=None` for the global policy. No permission check: routing needs it for every
        order. Use `configured_policy` for callers that must be authorised."""
        scope = channel_id or GLOBAL_SCOPE
        stored = await self._policies.get_many(list(dict.fromkeys([scope, GLOBAL_SCOPE])), session=session)
        if scope in stored:
            return stored[scope]
        inherited = scope != GLOBAL_SCOPE
        if GLOBAL_SCOPE in stored:
            found = stored[GLOBAL_SCOPE]
            return ConfiguredPolicy(
                scope=scope,
                policy=found.policy,
                inherited=inherited,
                version=found.version,
                updated_at=found.updated_at,
                updated_by=found.updated_by,
            )
        return ConfiguredPolicy(scope=scope, policy=DEFAULT_POLICY, inherited=inherited)

    async def configured_policy(self, principal: Principal, channel_id: str | None) -> ConfiguredPolicy:
        """`policy_for`, for staff (ADMIN, CSR, STORE_STAFF, WAREHOUSE) and a channel reading its own.
        Raises Forbidden otherwise, NotFound for an unknown channel."""
        own_channel = principal.role is Role.CHANNEL and channel_id is not None and channel_id == principal.channel_id
        if principal.role not in _POLICY_READERS and not own_channel:
            raise Forbidden("routing policies are for staff, and for a channel its own")
        if channel_id is not None:
            await self._require_channel(channel_id)
        return await self.policy_for(channel_id)

    async def set_policy(
        self, principal: Principal, channel_id: str | None, policy: RoutingPolicy | None, *, reason: str | None = None
    ) -> ConfiguredPolicy:
        """ADMIN only (Forbidden otherwise, nothing written). `channel_id=None` sets the global policy;
        `policy=None` removes a channel's own policy so it inherits the global one again (InvalidInput
        for the global scope). Validated (InvalidInput, field paths as in SetRoutingPolicyInput:
        ("policy", "maxSplits"), ...); unknown channel → NotFound, unknown excluded location →
        InvalidInput. Writes the policy and appends `RoutingPolicyChanged` in one transaction.
        Returns the policy now in force for the scope."""
        principal.require_role(Role.ADMIN)
        if channel_id is not None:
            await self._require_channel(channel_id)
        check = Validator()
        if policy is None:
            check.check(channel_id is not None, "the global policy cannot be removed; give a policy", "policy")
        else:
            check_policy(policy, check, prefix=("policy",))
            wanted = sorted(policy.excluded_location_ids)
            if 0 < len(wanted) <= MAX_EXCLUDED_LOCATIONS:
                known = {loc.id for loc in await self._locations.by_ids(wanted)}
                for i, location_id in enumerate(wanted):
                    check.check(location_id in known, f"unknown location {location_id}", "policy", "excludedLocationCodes", i)
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
                event_type="RoutingPolicyChanged",
                aggregate_type="RoutingPolicy",
                to_doc=policy_to_doc,
                in_force=lambda s: self.policy_for(channel_id, session=s),
            )
        )

    async def plan(
        self,
        request: RoutingRequest,
        *,
        session: Session | None = None,
        policy_override: RoutingPolicy | None = None,
    ) -> RoutingPlan:
        """Plan `request` with the channel's policy (or `policy_override`, which is validated first,
        field paths under ("policy", ...), and recorded as policy source "override"). Reads with
        `session` when given. Does not validate the request (SKUs, quantities, addresses): the order
        service does. Reads are bounded and indexed: the policy (≤ 2 documents), the stock of the
        requested SKUs with available > 0, and the locations holding it plus the pick-up store.
        Candidates are those locations: a location with none of the SKUs is not listed."""
        return (await self.plan_seen(request, session=session, policy_override=policy_override)).plan

    async def plan_seen(
        self,
        request: RoutingRequest,
        *,
        session: Session | None = None,
        policy_override: RoutingPolicy | None = None,
    ) -> Routed:
        """`plan`, with the locations and stock levels it read, for a caller that would read them again."""
        if policy_override is not None:
            validate_policy(policy_override, prefix=("policy",))
            policy, source = policy_override, OVERRIDE_SOURCE
        else:
            configured = await self.policy_for(request.channel_id, session=session)
            policy, source = configured.policy, configured.source
        locations, levels = await self._network(request, session=session)
        plan = plan_routing(request, locations, [stock_at(level) for level in levels], policy, policy_source=source)
        return Routed(
            plan=plan,
            locations={loc.id: loc for loc in locations},
            levels={(level.sku, level.location_id): level for level in levels},
        )

    async def nearby_pickup_stores(
        self,
        request: RoutingRequest,
        *,
        session: Session | None = None,
        policy: RoutingPolicy | None = None,
    ) -> list[PickupAlternative]:
        """Pick-up stores within the policy's `pickup_radius_km` of `request.pickup_location_id` that
        can fill every line now, nearest first (at most 10). Same list as `plan(...).pickup.alternatives`."""
        if request.delivery_method is not DeliveryMethod.PICKUP_IN_STORE or not request.pickup_location_id:
            return []
        if policy is None:
            policy = (await self.policy_for(request.channel_id, session=session)).policy
        locations, levels = await self._network(request, session=session)
        origin = next((loc for loc in locations if loc.id == request.pickup_location_id), None)
        if origin is None:
            return []
        return list(find_pickup_alternatives(request, locations, [stock_at(level) for level in levels], policy, origin=origin))

    async def _network(
        self, request: RoutingRequest, *, session: Session | None
    ) -> tuple[list[Location], list[InventoryLevel]]:
        """The levels of the requested SKUs with stock available, and the locations holding them."""
        stock = await self._inventory.routing_levels(list(request.skus), session=session) if request.skus else []
        ids = {s.location_id for s in stock}
        if request.pickup_location_id:
            ids.add(request.pickup_location_id)
        locations = await self._locations_by_ids(sorted(ids), session=session) if ids else []
        locations.sort(key=lambda loc: loc.id)
        return locations, stock

    async def _locations_by_ids(self, ids: list[str], *, session: Session | None) -> list[Location]:
        if self._location_cache_seconds <= 0:
            return await self._locations.by_ids(ids, session=session)
        now = time.monotonic()
        cache = self._location_cache
        missing = [i for i in ids if i not in cache or cache[i][0] < now]
        if missing:
            found = {loc.id: loc for loc in await self._locations.by_ids(missing, session=session)}
            expires = now + self._location_cache_seconds
            for location_id in missing:
                cache[location_id] = (expires, found.get(location_id))
        return [loc for i in ids if (loc := cache[i][1]) is not None]

    async def _require_channel(self, channel_id: str) -> None:
        if not await self._channels.by_ids([channel_id]):
            raise NotFound(f"unknown channel {channel_id}", field=("channel",))
