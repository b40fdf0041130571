"""Pick lists: a wave of shipments at one location, walked once, bin by bin."""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime

from app.domain.inventory import BinLocation
from app.domain.locations import Location
from app.domain.products import HandlingFlag
from app.domain.shipments import Shipment

MAX_WAVE = 100
UNKNOWN_ZONE_ORDER = 10_000  # SKUs without a bin are fetched last, from the exceptions shelf


@dataclass(frozen=True, slots=True)
class PickShare:
    """The part of a pick line that goes into one shipment's tote."""

    shipment_id: str
    shipment_number: str
    tote: int
    quantity: int


@dataclass(frozen=True, slots=True)
class PickLine:
    sequence: int
    sku: str
    name: str
    bin: BinLocation | None
    zone_name: str | None
    quantity: int
    handling: frozenset[HandlingFlag]
    shares: tuple[PickShare, ...]


@dataclass(frozen=True, slots=True)
class PickShipment:
    shipment_id: str
    shipment_number: str
    order_id: str
    tote: int
    item_count: int
    handling: frozenset[HandlingFlag]
    promised_date: date | None


@dataclass(frozen=True, slots=True)
class PickList:
    location_id: str
    location_name: str
    generated_at: datetime
    shipments: tuple[PickShipment, ...]
    lines: tuple[PickLine, ...]

    @property
    def unit_count(self) -> int:
        return sum(line.quantity for line in self.lines)


def _natural(value: str) -> tuple[object, ...]:
    """'2' before '10': aisles and bins are numbered, not spelled."""
    return tuple(int(part) if part.isdigit() else part for part in re.split(r"(\d+)", value) if part != "")


def build_pick_list(
    location: Location,
    shipments: list[Shipment],
    bins: Mapping[str, BinLocation | None],
    now: datetime,
) -> PickList:
    """Totes are numbered in the order shipments were given (most urgent first); lines are summed per
    SKU and bin and sorted by zone walk order, then aisle, shelf and bin."""
    zones = {zone.code: zone for zone in location.zones}
    totes = {s.id: n for n, s in enumerate(shipments, start=1)}
    grouped: dict[tuple[str, str], list[tuple[Shipment, int, str, frozenset[HandlingFlag]]]] = defaultdict(list)
    for shipment in shipments:
        for line in shipment.lines:
            where = bins.get(line.sku)
            grouped[(line.sku, where.code if where else "")].append((shipment, line.quantity, line.name, line.handling))

    def walk_key(item: tuple[tuple[str, str], list[tuple[Shipment, int, str, frozenset[HandlingFlag]]]]) -> tuple[object, ...]:
        (sku, _), _ = item
        where = bins.get(sku)
        if where is None:
            return (UNKNOWN_ZONE_ORDER, (), (), (), sku)
        zone = zones.get(where.zone)
        order = zone.walk_order if zone else UNKNOWN_ZONE_ORDER - 1
        return (order, _natural(where.aisle), _natural(where.shelf), _natural(where.bin), sku)

    lines = []
    for sequence, ((sku, _), parts) in enumerate(sorted(grouped.items(), key=walk_key), start=1):
        where = bins.get(sku)
        shares: dict[str, PickShare] = {}
        for shipment, quantity, _, _ in parts:
            previous = shares.get(shipment.id)
            shares[shipment.id] = PickShare(
                shipment_id=shipment.id,
                shipment_number=shipment.number,
                tote=totes[shipment.id],
                quantity=quantity + (previous.quantity if previous else 0),
            )
        handling: frozenset[HandlingFlag] = frozenset().union(*(p[3] for p in parts))
        lines.append(
            PickLine(
                sequence=sequence,
                sku=sku,
                name=parts[0][2],
                bin=where,
                zone_name=zones[where.zone].name if where and where.zone in zones else None,
                quantity=sum(p[1] for p in parts),
                handling=handling,
                shares=tuple(sorted(shares.values(), key=lambda s: s.tote)),
            )
        )
    return PickList(
        location_id=location.id,
        location_name=location.name,
        generated_at=now,
        shipments=tuple(
            PickShipment(
                shipment_id=s.id,
                shipment_number=s.number,
                order_id=s.order_id,
                tote=totes[s.id],
                item_count=s.item_count,
                handling=s.handling,
                promised_date=s.promised_date,
            )
            for s in shipments
        ),
        lines=tuple(lines),
    )
