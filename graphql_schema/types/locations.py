"""Onboarding locations: the inputs of upsertLocation, deactivateLocation, reactivateLocation and
their results. (The Location type itself lives in types/catalog.py.)"""

from __future__ import annotations

from typing import Annotated

import strawberry
from strawberry import relay

from app.domain import location_drafts as drafts, locations as lo
from graphql_schema.enums import LocationKind, Weekday
from graphql_schema.errors import (
    ConflictError,
    InvalidInputError,
    LocationInUseError,
    NotFoundError,
    PermissionDeniedError,
)
from graphql_schema.types.catalog import Location
from graphql_schema.types.common import AddressInput, GeoPointInput


@strawberry.input(description="What a location can do; omitted flags take these defaults.")
class LocationCapabilitiesInput:
    ships: bool = strawberry.field(default=True, description="Ships orders to customers.")
    offers_pickup: bool = strawberry.field(default=False, description="Hands over orders picked up in store.")
    accepts_returns: bool = strawberry.field(default=False, description="Takes returns over the counter.")


@strawberry.input(description="A pick zone.")
class ZoneInput:
    code: str = strawberry.field(description="1 to 20 upper-case letters or digits, unique in the location, e.g. `A`, `BACK`.")
    name: str = strawberry.field(description="Name shown on pick lists.")
    walk_order: int = strawberry.field(description="Pick lists walk zones in this order (0–100000).")


@strawberry.input(description="A bin of the location's master list.")
class LocationBinInput:
    code: str = strawberry.field(description="`<zone>-<aisle>-<shelf>-<bin>`, e.g. `A-01-1-07`; unique in the location.")
    zone: str = strawberry.field(description="Code of one of the location's zones; the code's first part.")


@strawberry.input(description="Pick-up hand-over hours on one weekday, in the location's time zone.")
class OpeningHoursInput:
    weekday: Weekday = strawberry.field(description="At most one entry per weekday.")
    opens: str = strawberry.field(description="HH:MM, 24-hour, e.g. 09:00.")
    closes: str = strawberry.field(description="HH:MM, 24-hour, after `opens` on the same day, e.g. 21:00.")


@strawberry.input(
    description="A location, created or replaced by its code. Omitted fields take the defaults shown, not the "
    "current values. The active flag is not set here: deactivateLocation / reactivateLocation change it."
)
class UpsertLocationInput:
    code: str = strawberry.field(
        description="2 to 40 upper-case letters, digits and single `-` inside, e.g. `ST-MA-BOS-01`, `DC-OH-COL`."
    )
    name: str = strawberry.field(description="Display name (at most 200 characters).")
    kind: LocationKind = strawberry.field(description="Store, distribution center or drop-ship partner.")
    address: AddressInput = strawberry.field(description="Postal address.")
    timezone: str = strawberry.field(description="IANA time zone name, e.g. America/New_York.")
    point: GeoPointInput | None = strawberry.field(
        default=None,
        description="Coordinates. Omitted: an existing location with the same address keeps its point; otherwise "
        "the address is geocoded offline (postal code, else city), and refused on `address.postalCode` (US) or "
        "`address.city` when nothing matches.",
    )
    capabilities: LocationCapabilitiesInput | None = strawberry.field(
        default=None, description="What it can do; omitted: ships only."
    )
    zones: list[ZoneInput] = strawberry.field(default_factory=list, description="Pick zones (at most 100).")
    bins: list[LocationBinInput] = strawberry.field(
        default_factory=list, description="Bin master list (at most 500), each in one of `zones`."
    )
    handling_cost_cents: int = strawberry.field(
        default=0, description="Cost of handling one shipment here, used by routing (0–1000000)."
    )
    priority: int = strawberry.field(default=0, description="Higher wins routing ties (-1000 to 1000).")
    opening_hours: list[OpeningHoursInput] = strawberry.field(
        default_factory=list, description="Pick-up hand-over hours, at most one entry per weekday."
    )
    reason: str | None = strawberry.field(default=None, description="Why, for the audit trail.")

    def to_draft(self) -> drafts.LocationDraft:
        """Unvalidated: the service validates (so every transport gets the same checks)."""
        caps = self.capabilities or LocationCapabilitiesInput()
        return drafts.LocationDraft(
            code=self.code,
            name=self.name,
            kind=self.kind.value,
            address=self.address.to_domain(),
            timezone=self.timezone,
            point=self.point.to_domain() if self.point else None,
            capabilities=lo.Capabilities(
                ships=caps.ships, offers_pickup=caps.offers_pickup, accepts_returns=caps.accepts_returns
            ),
            zones=tuple(lo.Zone(z.code, z.name, z.walk_order) for z in self.zones),
            bins=tuple(lo.LocationBin(b.code, b.zone) for b in self.bins),
            handling_cost_cents=self.handling_cost_cents,
            priority=self.priority,
            opening_hours=tuple(drafts.OpeningHoursDraft(h.weekday.value, h.opens, h.closes) for h in self.opening_hours),
        )


_COPIES = (
    "Whether storeAvailability already reflects the change (point, kind, active). False only for a location "
    "with very many stock levels: their copies are then still being refreshed, in the background."
)


@strawberry.type(description="The location as stored now.")
class UpsertLocationPayload:
    location: Location = strawberry.field(description="The location after the change.")
    created: bool = strawberry.field(description="True when the code was new.")
    changed_fields: list[str] = strawberry.field(
        description="Fields that changed (input names, e.g. `point`, `zones`); empty when the input matched what "
        "was stored, in which case nothing was written."
    )
    inventory_copies_current: bool = strawberry.field(description=_COPIES)


@strawberry.input(description="Stop routing to a location.")
class DeactivateLocationInput:
    location_id: relay.GlobalID = strawberry.field(description="The location's global id.")
    reason: str = strawberry.field(description="Why; kept in the audit trail.")


@strawberry.input(description="Route to a deactivated location again.")
class ReactivateLocationInput:
    location_id: relay.GlobalID = strawberry.field(description="The location's global id.")
    reason: str | None = strawberry.field(default=None, description="Why; kept in the audit trail.")


@strawberry.type(description="The location after the change (unchanged when it already was in that state).")
class LocationActivePayload:
    location: Location = strawberry.field(description="The location after the change.")
    inventory_copies_current: bool = strawberry.field(description=_COPIES)


UpsertLocationResult = Annotated[
    UpsertLocationPayload | InvalidInputError | NotFoundError | ConflictError | PermissionDeniedError,
    strawberry.union("UpsertLocationResult", description="The location as stored, or why it was not."),
]

DeactivateLocationResult = Annotated[
    LocationActivePayload | LocationInUseError | InvalidInputError | NotFoundError | ConflictError | PermissionDeniedError,
    strawberry.union(
        "DeactivateLocationResult",
        description="The deactivated location, or why not (LocationInUseError while it holds open allocations).",
    ),
]

ReactivateLocationResult = Annotated[
    LocationActivePayload | InvalidInputError | NotFoundError | ConflictError | PermissionDeniedError,
    strawberry.union("ReactivateLocationResult", description="The reactivated location, or why not."),
]
