"""Root fields: onboarding locations (the `locations` query lives in roots/catalog.py)."""

from __future__ import annotations

import strawberry

from graphql_schema.permissions import IsAuthenticated
from graphql_schema.types.locations import DeactivateLocationResult, ReactivateLocationResult, UpsertLocationResult
from resolvers import locations as resolve


@strawberry.type
class LocationMutations:
    upsert_location: UpsertLocationResult = strawberry.mutation(
        resolver=resolve.upsert_location,
        permission_classes=[IsAuthenticated],
        description="Create a location or replace it, by code (ADMIN only; audited as LocationCreated / "
        "LocationUpdated). Without a point the address is geocoded offline. Changing the point or kind "
        "updates what storeAvailability reads.",
    )
    deactivate_location: DeactivateLocationResult = strawberry.mutation(
        resolver=resolve.deactivate_location,
        permission_classes=[IsAuthenticated],
        description="Stop routing to a location (ADMIN only; audited as LocationDeactivated). Refused with "
        "LocationInUseError (CONFLICT) while it holds open allocations.",
    )
    reactivate_location: ReactivateLocationResult = strawberry.mutation(
        resolver=resolve.reactivate_location,
        permission_classes=[IsAuthenticated],
        description="Route to a deactivated location again (ADMIN only; audited as LocationReactivated).",
    )
