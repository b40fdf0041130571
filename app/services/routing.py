"""Routing use cases: the policy in force per channel, changing it (audited), and planning an order.

`plan` only reads: it loads candidate locations and the stock of the requested SKUs (with the
caller's session, so an order service can plan and reserve in one transaction) and calls the pure
planner. Reserving what the plan says is the caller's job.
"""

from __future__ import annotations

from app.domain.principals import Principal
from app.domain.routing.plan import PickupAlternative, RoutingPlan, RoutingRequest
from app.domain.routing.policy import ConfiguredPolicy, RoutingPolicy
from app.repositories.channels import ChannelRepository
from app.repositories.database import Mongo, Session
from app.repositories.events import EventRepository
from app.repositories.inventory import InventoryRepository
from app.repositories.locations import LocationRepository
from app.repositories.routing import RoutingPolicyRepository


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
    ):
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
        raise NotImplementedError

    async def configured_policy(self, principal: Principal, channel_id: str | None) -> ConfiguredPolicy:
        """`policy_for`, for staff (ADMIN, CSR, STORE_STAFF, WAREHOUSE) and a channel reading its own.
        Raises Forbidden otherwise, NotFound for an unknown channel."""
        raise NotImplementedError

    async def set_policy(
        self, principal: Principal, channel_id: str | None, policy: RoutingPolicy | None, *, reason: str | None = None
    ) -> ConfiguredPolicy:
        """ADMIN only (Forbidden otherwise, nothing written). `channel_id=None` sets the global policy;
        `policy=None` removes a channel's own policy so it inherits the global one again (InvalidInput
        for the global scope). Validated (InvalidInput with field paths under ("input", ...));
        unknown channel or excluded location → NotFound / InvalidInput. Writes the policy and appends
        `RoutingPolicyChanged` in one transaction. Returns the policy now in force for the scope."""
        raise NotImplementedError

    async def plan(
        self,
        request: RoutingRequest,
        *,
        session: Session | None = None,
        policy_override: RoutingPolicy | None = None,
    ) -> RoutingPlan:
        """Plan `request` with the channel's policy (or `policy_override`, which is validated first
        and recorded as policy source "override"). Reads with `session` when given. Does not
        validate the request (SKUs, quantities, addresses): the order service does. Reads are
        bounded: active locations (≤ 5,000) and the stock of the requested SKUs with available > 0,
        plus the chosen pick-up store's levels."""
        raise NotImplementedError

    async def nearby_pickup_stores(
        self,
        request: RoutingRequest,
        *,
        session: Session | None = None,
        policy: RoutingPolicy | None = None,
    ) -> list[PickupAlternative]:
        """Pick-up stores within the policy's `pickup_radius_km` of `request.pickup_location_id` that
        can fill every line now, nearest first (at most 10). Same list as `plan(...).pickup.alternatives`."""
        raise NotImplementedError
