"""Built-in carriers priced from rate cards (UPS, USPS and FedEx look-alikes). No network: the figures
are illustrative, the structure is the real one. Each implements `app.domain.carriers.Carrier`."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import date, datetime

from app.domain.carriers import (
    GRAMS_PER_LB,
    CarrierError,
    PurchasedLabel,
    Quote,
    RateRequest,
    ServiceLevel,
    TrackingUpdate,
    add_business_days,
    billable_weight_grams,
    fedex_tracking_number,
    ups_tracking_number,
    usps_tracking_number,
    zone_for,
)
from app.domain.errors import ErrorCode
from app.domain.money import Money
from app.domain.products import HandlingFlag

ZONES = tuple(range(2, 9))


@dataclass(frozen=True, slots=True)
class ServiceCard:
    code: str
    name: str
    level: ServiceLevel
    first_lb_cents: tuple[int, ...]  # per zone 2..8
    extra_lb_cents: tuple[int, ...]  # per additional pound, per zone 2..8
    transit_days: tuple[int, ...]  # business days, per zone 2..8
    tracking_code: str  # service digits inside the tracking number
    max_weight_lb: int = 150
    air: bool = False

    def price(self, zone: int, pounds: int) -> int:
        i = zone - 2
        return self.first_lb_cents[i] + self.extra_lb_cents[i] * (pounds - 1)


def _ground_days() -> tuple[int, ...]:
    return (1, 2, 3, 4, 4, 5, 5)


UPS_SERVICES = (
    ServiceCard("UPS_GROUND", "UPS Ground", ServiceLevel.GROUND,
                (1095, 1160, 1230, 1310, 1390, 1460, 1530), (95, 120, 150, 185, 215, 245, 270), _ground_days(), "03"),
    ServiceCard("UPS_2ND_DAY_AIR", "UPS 2nd Day Air", ServiceLevel.TWO_DAY,
                (2290, 2480, 2660, 2890, 3120, 3350, 3560), (310, 360, 410, 470, 520, 580, 630), (2,) * 7, "02", air=True),
    ServiceCard("UPS_NEXT_DAY_AIR", "UPS Next Day Air", ServiceLevel.OVERNIGHT,
                (3690, 4120, 4530, 4980, 5420, 5810, 6190), (520, 610, 690, 780, 860, 940, 1020), (1,) * 7, "01", air=True),
)
FEDEX_SERVICES = (
    ServiceCard("FEDEX_GROUND", "FedEx Ground", ServiceLevel.GROUND,
                (1085, 1150, 1240, 1320, 1380, 1470, 1540), (92, 118, 152, 183, 218, 243, 268), _ground_days(), "92"),
    ServiceCard("FEDEX_2DAY", "FedEx 2Day", ServiceLevel.TWO_DAY,
                (2270, 2450, 2690, 2860, 3150, 3320, 3590), (305, 355, 415, 465, 525, 575, 635), (2,) * 7, "05", air=True),
    ServiceCard("FEDEX_PRIORITY_OVERNIGHT", "FedEx Priority Overnight", ServiceLevel.OVERNIGHT,
                (3720, 4090, 4560, 4950, 5460, 5790, 6230), (525, 605, 695, 775, 865, 935, 1025), (1,) * 7, "01", air=True),
)
USPS_SERVICES = (
    # USPS is cheapest for light parcels and slower far away; its air services reach fewer places overnight.
    ServiceCard("USPS_GROUND_ADVANTAGE", "USPS Ground Advantage", ServiceLevel.GROUND,
                (780, 820, 880, 960, 1050, 1130, 1240), (160, 190, 230, 270, 310, 350, 390), (2, 3, 3, 4, 5, 5, 5), "0011",
                max_weight_lb=70),
    ServiceCard("USPS_PRIORITY_MAIL", "USPS Priority Mail", ServiceLevel.TWO_DAY,
                (1040, 1090, 1160, 1290, 1470, 1620, 1790), (210, 260, 320, 390, 460, 520, 580), (1, 2, 2, 2, 3, 3, 3), "0055",
                max_weight_lb=70, air=True),
    ServiceCard("USPS_PRIORITY_MAIL_EXPRESS", "USPS Priority Mail Express", ServiceLevel.OVERNIGHT,
                (3110, 3390, 3760, 4180, 4530, 4970, 5390), (460, 540, 620, 700, 780, 860, 940), (1, 1, 1, 2, 2, 2, 2), "0065",
                max_weight_lb=70, air=True),
)

OVERSIZE_SURCHARGE_CENTS = 3_000
FUEL_SURCHARGE_BP = 1_250  # 12.5 %, applied to the transport charge


@dataclass
class RateCardCarrier:
    """A carrier priced from a rate card. Labels are local: the tracking number is derived from the
    idempotency key, so buying twice for the same shipment yields the same label. With
    `label_serials`, each new key takes the next serial instead (unique by construction; the demo
    history numbers its labels so, as tens of thousands of hashed keys would collide)."""

    code: str
    name: str
    services: tuple[ServiceCard, ...]
    dim_divisor: int  # cubic inches per pound
    shipper_number: str = ""
    label_serials: Iterator[int] | None = None

    def __post_init__(self) -> None:
        self._voided: set[str] = set()
        self._serial_of: dict[str, int] = {}

    async def rates(self, request: RateRequest) -> list[Quote]:
        return self.quote(request)

    def quote(self, request: RateRequest) -> list[Quote]:
        """Synchronous pricing: the rate card is local data, so promise dates can use it inside a transaction."""
        if not request.parcels:
            return []
        zone = zone_for(request.origin_point, request.destination_point)
        quotes = []
        for card in self.services:
            # Lithium batteries and aerosols do not fly: hazmat goes by ground only.
            if card.air and HandlingFlag.HAZMAT in request.handling:
                continue
            cents = 0
            billable = 0
            for parcel in request.parcels:
                grams = billable_weight_grams(parcel, self.dim_divisor)
                pounds = round(grams / GRAMS_PER_LB)
                if pounds > card.max_weight_lb:
                    break
                billable += grams
                cents += card.price(zone, pounds)
                if HandlingFlag.OVERSIZE in request.handling:
                    cents += OVERSIZE_SURCHARGE_CENTS
            else:
                cents += (cents * FUEL_SURCHARGE_BP + 5_000) // 10_000
                days = card.transit_days[zone - 2]
                quotes.append(
                    Quote(
                        carrier=self.code,
                        service=card.code,
                        service_name=card.name,
                        level=card.level,
                        amount=Money(cents),
                        zone=zone,
                        billable_weight_grams=billable,
                        transit_days=days,
                        estimated_delivery=add_business_days(request.ship_date, days),
                    )
                )
        return quotes

    async def buy_label(self, request: RateRequest, service: str, *, idempotency_key: str) -> PurchasedLabel:
        quote = next((q for q in self.quote(request) if q.service == service), None)
        if quote is None:
            raise CarrierError(f"{self.name} does not offer {service} for this shipment", code=ErrorCode.INVALID_INPUT, field=("service",))
        card = next(c for c in self.services if c.code == service)
        return PurchasedLabel(quote=quote, tracking_number=self._tracking_number(self._label_seed(idempotency_key), card))

    def _label_seed(self, idempotency_key: str) -> str | int:
        if self.label_serials is None:
            return idempotency_key
        if idempotency_key not in self._serial_of:
            self._serial_of[idempotency_key] = next(self.label_serials)
        return self._serial_of[idempotency_key]

    async def void_label(self, tracking_number: str) -> None:
        self._voided.add(tracking_number)

    def tracking_updates(self, payload: Mapping[str, object]) -> list[TrackingUpdate]:
        """Our canonical webhook format: {"events": [{"id", "trackingNumber", "type", "occurredAt", ...}]}."""
        events = payload.get("events")
        if not isinstance(events, list) or not 0 < len(events) <= 100:
            raise CarrierError("payload needs 1 to 100 events", code=ErrorCode.INVALID_INPUT, field=("events",))
        updates = []
        for n, raw in enumerate(events):
            if not isinstance(raw, dict):
                raise CarrierError("each event must be an object", code=ErrorCode.INVALID_INPUT, field=("events", str(n)))
            try:
                estimated = raw.get("estimatedDelivery")
                updates.append(
                    TrackingUpdate(
                        event_id=str(raw["id"]),
                        tracking_number=str(raw["trackingNumber"]),
                        kind=str(raw["type"]),
                        occurred_at=datetime.fromisoformat(str(raw["occurredAt"])),
                        description=str(raw["description"]) if raw.get("description") else None,
                        location=str(raw["location"]) if raw.get("location") else None,
                        estimated_delivery=date.fromisoformat(str(estimated)) if estimated else None,
                    )
                )
            except (KeyError, ValueError) as exc:
                raise CarrierError(f"event {n} is malformed: {exc}", code=ErrorCode.INVALID_INPUT, field=("events", str(n))) from exc
        return updates

    def _tracking_number(self, seed: str | int, card: ServiceCard) -> str:
        if self.code == "ups":
            return ups_tracking_number(seed, self.shipper_number, card.tracking_code)
        if self.code == "usps":
            return usps_tracking_number(seed, f"94{card.tracking_code[-3:]}")
        return fedex_tracking_number(seed)


def built_in_carriers(label_serials: Iterator[int] | None = None) -> list[RateCardCarrier]:
    """`label_serials`, shared by the three, numbers every label they sell (see RateCardCarrier)."""
    return [
        RateCardCarrier("ups", "UPS", UPS_SERVICES, dim_divisor=139, shipper_number="0M4X21", label_serials=label_serials),
        RateCardCarrier("usps", "USPS", USPS_SERVICES, dim_divisor=166, label_serials=label_serials),
        RateCardCarrier("fedex", "FedEx", FEDEX_SERVICES, dim_divisor=139, label_serials=label_serials),
    ]


# Only quoted from (pure): made once, not for every new shipment of every order transaction.
_ESTIMATORS = tuple(built_in_carriers())


def ground_estimate(request: RateRequest) -> date:
    """The first ETA a shopper sees, before any label: the earliest built-in ground delivery."""
    quotes = [q for carrier in _ESTIMATORS for q in carrier.quote(request) if q.level is ServiceLevel.GROUND]
    if not quotes:
        return add_business_days(request.ship_date, 5)
    return min(q.estimated_delivery for q in quotes)
