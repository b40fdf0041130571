"""Root resolvers: upsertLocation, deactivateLocation, reactivateLocation."""

from __future__ import annotations

from app.domain.errors import DomainError
from app.services.locations import LocationWrite
from graphql_schema.context import Info
from graphql_schema.errors import error_from_domain
from graphql_schema.ids import node_id_of
from graphql_schema.types.catalog import Location
from graphql_schema.types.locations import (
    DeactivateLocationInput,
    DeactivateLocationResult,
    LocationActivePayload,
    ReactivateLocationInput,
    ReactivateLocationResult,
    UpsertLocationInput,
    UpsertLocationPayload,
    UpsertLocationResult,
)


async def upsert_location(info: Info, input: UpsertLocationInput) -> UpsertLocationResult:  # noqa: A002
    try:
        written = await info.context.services.locations.upsert(info.context.actor, input.to_draft(), reason=input.reason)
    except DomainError as exc:
        return error_from_domain(exc)
    return UpsertLocationPayload(
        location=Location.from_domain(written.location),
        created=written.created,
        changed_fields=list(written.changed),
        inventory_copies_current=written.copies_current,
    )


async def deactivate_location(info: Info, input: DeactivateLocationInput) -> DeactivateLocationResult:  # noqa: A002
    try:
        location_id = node_id_of(input.location_id, "Location", field="locationId")
        written = await info.context.services.locations.deactivate(info.context.actor, location_id, input.reason)
    except DomainError as exc:
        return error_from_domain(exc)
    return _active_payload(written)


async def reactivate_location(info: Info, input: ReactivateLocationInput) -> ReactivateLocationResult:  # noqa: A002
    try:
        location_id = node_id_of(input.location_id, "Location", field="locationId")
        written = await info.context.services.locations.reactivate(info.context.actor, location_id, input.reason)
    except DomainError as exc:
        return error_from_domain(exc)
    return _active_payload(written)


def _active_payload(written: LocationWrite) -> LocationActivePayload:
    return LocationActivePayload(
        location=Location.from_domain(written.location), inventory_copies_current=written.copies_current
    )
