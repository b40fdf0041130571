"""Pick lists: a wave of shipments at one location, in walking order."""

from __future__ import annotations

from datetime import date, datetime

import strawberry

from app.domain import picking
from graphql_schema.context import Info
from graphql_schema.enums import HandlingFlag
from graphql_schema.prefetch import now_or_later
from graphql_schema.types.catalog import Location
from graphql_schema.types.inventory import BinLocation
from graphql_schema.types.shipments import Shipment


@strawberry.type(description="A shipment on the wave and the tote its items go into.")
class PickListShipment:
    tote: int = strawberry.field(description="Tote number: items that ship together go into the same tote.")
    shipment_number: str
    shipment_code: strawberry.Private[str]
    item_count: int
    handling: list[HandlingFlag] = strawberry.field(description="Special handling of anything in this shipment.")
    promised_date: date | None

    @strawberry.field(description="The shipment.")
    def shipment(self, info: Info) -> Shipment | None:
        return now_or_later(info.context.loaders.shipment_by_id, self.shipment_code, Shipment.from_domain)  # type: ignore[return-value]


@strawberry.type(description="How many units of a pick line go into one shipment's tote.")
class PickShare:
    tote: int
    shipment_number: str
    quantity: int


@strawberry.type(description="One stop on the walk: a SKU in a bin, summed over the wave.")
class PickListLine:
    sequence: int = strawberry.field(description="Position in the walk (zone walk order, aisle, shelf, bin).")
    sku: str
    name: str
    bin: BinLocation | None = strawberry.field(description="Where to pick it; null when the SKU has no bin here.")
    zone_name: str | None
    quantity: int = strawberry.field(description="Units to pick here, all shipments together.")
    handling: list[HandlingFlag]
    shares: list[PickShare] = strawberry.field(description="Which totes get how many.")


@strawberry.type(description="A wave of released shipments at one location, in walking order.")
class PickList:
    location_code: str
    generated_at: datetime
    shipments: list[PickListShipment]
    lines: list[PickListLine]
    unit_count: int
    shipment_codes: strawberry.Private[list[str]]

    @classmethod
    def from_domain(cls, value: picking.PickList) -> PickList:
        return cls(
            location_code=value.location_id,
            generated_at=value.generated_at,
            shipments=[
                PickListShipment(tote=s.tote, shipment_number=s.shipment_number, shipment_code=s.shipment_id, item_count=s.item_count,
                                 handling=sorted(s.handling), promised_date=s.promised_date)
                for s in value.shipments
            ],
            lines=[
                PickListLine(
                    sequence=line.sequence, sku=line.sku, name=line.name,
                    bin=BinLocation.from_domain(line.bin),
                    zone_name=line.zone_name, quantity=line.quantity, handling=sorted(line.handling),
                    shares=[PickShare(tote=s.tote, shipment_number=s.shipment_number, quantity=s.quantity) for s in line.shares],
                )
                for line in value.lines
            ],
            unit_count=value.unit_count,
            shipment_codes=[s.shipment_id for s in value.shipments],
        )

    @strawberry.field(description="The location.")
    def location(self, info: Info) -> Location | None:
        return now_or_later(info.context.loaders.location_by_id, self.location_code, Location.from_domain)  # type: ignore[return-value]

    @strawberry.field(description="This wave as a printable PDF: a signed URL, valid for 15 minutes, relative to the API's origin.")
    def pdf_url(self, info: Info) -> str:
        return info.context.services.documents.pick_list_url(info.context.actor, self.location_code, self.shipment_codes)
