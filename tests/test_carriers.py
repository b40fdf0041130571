"""Carriers: zones, billable weight, rates, transit, tracking numbers, selection policies, the registry."""

from __future__ import annotations

import itertools
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date

import pytest

from app.domain.carriers import (
    Carrier,
    CarrierRegistry,
    Parcel,
    PurchasedLabel,
    Quote,
    RateRequest,
    ServiceLevel,
    ShippingPolicy,
    TrackingUpdate,
    add_business_days,
    billable_weight_grams,
    choose_quote,
    is_valid_tracking_number,
    zone_for,
)
from app.domain.errors import NotFound
from app.domain.locations import Address
from app.domain.money import Money
from app.domain.products import HandlingFlag
from app.domain.rate_cards import built_in_carriers
from tests.fulfilment_world import BOSTON, COLUMBUS, NEW_YORK, SEATTLE

ADDRESS = Address(line1="1 Main St", city="X", postal_code="00000")
MONDAY = date(2026, 1, 12)


def request(origin=COLUMBUS, destination=BOSTON, parcel=Parcel(2000, 30, 20, 10), handling=frozenset()) -> RateRequest:  # type: ignore[no-untyped-def]
    return RateRequest(ADDRESS, origin, ADDRESS, destination, (parcel,), MONDAY, handling)


def test_zones_grow_with_distance() -> None:
    assert zone_for(BOSTON, BOSTON) == 2  # local still bills as zone 2
    assert zone_for(NEW_YORK, BOSTON) == 3  # ~190 miles
    assert zone_for(COLUMBUS, BOSTON) == 5  # ~640 miles
    assert zone_for(BOSTON, SEATTLE) == 8  # ~2,500 miles


def test_billable_weight_is_the_larger_of_actual_and_dimensional_rounded_up_to_a_pound() -> None:
    # 1 kg in a 10 cm cube: actual 2.2 lb wins -> 3 lb.
    assert billable_weight_grams(Parcel(1000, 10, 10, 10), 139) == round(3 * 453.59237)
    # 500 g in a 60x40x40 cm box: 5,858 in³ / 139 = 42.1 lb -> 43 lb dimensional.
    assert billable_weight_grams(Parcel(500, 60, 40, 40), 139) == round(43 * 453.59237)
    # USPS divides by 166: the same box bills lighter.
    assert billable_weight_grams(Parcel(500, 60, 40, 40), 166) == round(36 * 453.59237)


def test_business_days_skip_weekends() -> None:
    friday = date(2026, 1, 16)
    assert add_business_days(friday, 1) == date(2026, 1, 19)
    assert add_business_days(date(2026, 1, 17), 0) == date(2026, 1, 19)  # a Saturday ships Monday


async def test_rate_cards_price_by_zone_and_weight_and_quote_transit() -> None:
    ups = next(c for c in built_in_carriers() if c.code == "ups")
    near = {q.service: q for q in await ups.rates(request(destination=NEW_YORK, origin=BOSTON))}
    far = {q.service: q for q in await ups.rates(request(destination=SEATTLE, origin=BOSTON))}
    assert set(near) == {"UPS_GROUND", "UPS_2ND_DAY_AIR", "UPS_NEXT_DAY_AIR"}
    for service in near:
        assert far[service].amount.cents > near[service].amount.cents  # farther costs more
    assert near["UPS_GROUND"].amount.cents < near["UPS_2ND_DAY_AIR"].amount.cents < near["UPS_NEXT_DAY_AIR"].amount.cents
    assert (near["UPS_GROUND"].transit_days, far["UPS_GROUND"].transit_days) == (2, 5)
    assert far["UPS_NEXT_DAY_AIR"].estimated_delivery == date(2026, 1, 13)
    heavy = {q.service: q for q in await ups.rates(request(parcel=Parcel(9000, 30, 20, 10)))}
    light = {q.service: q for q in await ups.rates(request())}
    assert heavy["UPS_GROUND"].amount.cents > light["UPS_GROUND"].amount.cents


async def test_hazmat_goes_by_ground_only_and_oversize_pays_a_surcharge() -> None:
    for carrier in built_in_carriers():
        quotes = await carrier.rates(request(handling=frozenset({HandlingFlag.HAZMAT})))
        assert quotes and {q.level for q in quotes} == {ServiceLevel.GROUND}, carrier.code
    fedex = next(c for c in built_in_carriers() if c.code == "fedex")
    plain = {q.service: q.amount.cents for q in await fedex.rates(request())}
    oversize = {q.service: q.amount.cents for q in await fedex.rates(request(handling=frozenset({HandlingFlag.OVERSIZE})))}
    assert all(oversize[s] > plain[s] for s in plain)


async def test_tracking_numbers_are_carrier_shaped_valid_and_stable_per_shipment() -> None:
    shapes = {"ups": ("1Z", 18), "usps": ("94", 22), "fedex": ("7", 12)}
    for carrier in built_in_carriers():
        quote = (await carrier.rates(request()))[0]
        first = await carrier.buy_label(request(), quote.service, idempotency_key="shipment-1")
        again = await carrier.buy_label(request(), quote.service, idempotency_key="shipment-1")
        other = await carrier.buy_label(request(), quote.service, idempotency_key="shipment-2")
        prefix, length = shapes[carrier.code]
        assert first.tracking_number == again.tracking_number != other.tracking_number
        assert first.tracking_number.startswith(prefix) and len(first.tracking_number) == length
        assert is_valid_tracking_number(carrier.code, first.tracking_number)
        broken = first.tracking_number[:-1] + str((int(first.tracking_number[-1]) + 1) % 10)
        assert not is_valid_tracking_number(carrier.code, broken)
    # Published examples validate with the same check-digit rules.
    assert is_valid_tracking_number("ups", "1Z999AA10123456784")
    assert is_valid_tracking_number("fedex", "986578788855")


async def test_numbered_labels_never_collide_where_hashed_shipment_ids_do() -> None:
    # Given 20,000 UPS ground labels, as the demo history sells for 20,000 orders
    keys = [f"shipment-{n}" for n in range(20_000)]
    hashed = next(c for c in built_in_carriers() if c.code == "ups")
    numbered = {c.code: c for c in built_in_carriers(itertools.count(1))}
    service = "UPS_GROUND"
    # A 7-digit reference hashed from the shipment id repeats by chance (the birthday bound is ~3,700)
    by_hash = [(await hashed.buy_label(request(), service, idempotency_key=key)).tracking_number for key in keys]
    assert len(set(by_hash)) < len(keys)
    # Numbered from one counter shared by the three carriers, every label is distinct and valid
    sold = []
    for n, key in enumerate(keys):
        carrier = numbered[("ups", "usps", "fedex")[n % 3]]
        quote = (await carrier.rates(request()))[0]
        label = await carrier.buy_label(request(), quote.service, idempotency_key=key)
        sold.append(label.tracking_number)
        assert is_valid_tracking_number(carrier.code, label.tracking_number)
    assert len(set(sold)) == len(keys)
    # and buying again for the same shipment still gives the same label, without using a serial
    ups = numbered["ups"]
    again = await ups.buy_label(request(), "UPS_GROUND", idempotency_key=keys[0])
    assert again.tracking_number == sold[0]
    # the next new shipment takes the next serial: 1Z + shipper + service + 7-digit reference + check digit
    assert (await ups.buy_label(request(), "UPS_GROUND", idempotency_key="next")).tracking_number[-8:-1] == "0020001"



def quote(carrier: str, cents: int, delivery: date) -> Quote:
    return Quote(carrier, f"{carrier}-svc", carrier, ServiceLevel.GROUND, Money(cents), 4, 1000, 3, delivery)


def test_selection_policies() -> None:
    cheap_slow = quote("a", 800, date(2026, 1, 20))
    mid = quote("b", 1500, date(2026, 1, 15))
    fast = quote("c", 4000, date(2026, 1, 13))
    quotes = [fast, cheap_slow, mid]
    assert choose_quote(quotes, ShippingPolicy.CHEAPEST) == cheap_slow
    assert choose_quote(quotes, ShippingPolicy.FASTEST) == fast
    assert choose_quote(quotes, ShippingPolicy.CHEAPEST_ON_TIME, promised=date(2026, 1, 16)) == mid
    assert choose_quote(quotes, ShippingPolicy.CHEAPEST_ON_TIME, promised=date(2026, 1, 30)) == cheap_slow
    # Nothing is on time: the least late wins.
    assert choose_quote(quotes, ShippingPolicy.CHEAPEST_ON_TIME, promised=date(2026, 1, 10)) == fast


@dataclass
class PartnerApiCarrier:
    """A stand-in for a real carrier API (the truly external part): plugs in through the same interface."""

    code: str = "ups"
    name: str = "UPS (partner API)"

    async def rates(self, request: RateRequest) -> list[Quote]:
        return [Quote("ups", "UPS_SUREPOST", "UPS SurePost", ServiceLevel.GROUND, Money(650), 5, 1000, 4, add_business_days(request.ship_date, 4))]

    async def buy_label(self, request: RateRequest, service: str, *, idempotency_key: str) -> PurchasedLabel:
        return PurchasedLabel((await self.rates(request))[0], "1Z0M4X21930000001" + "0")

    async def void_label(self, tracking_number: str) -> None:
        return None

    def tracking_updates(self, payload: Mapping[str, object]) -> list[TrackingUpdate]:
        return []


def test_registry_is_keyed_by_code_and_a_real_api_replaces_a_built_in() -> None:
    registry = CarrierRegistry(built_in_carriers())
    assert sorted(c.code for c in registry.all()) == ["fedex", "ups", "usps"]
    partner = PartnerApiCarrier()
    assert isinstance(partner, Carrier)
    swapped = registry.with_carrier(partner)
    assert swapped.get("UPS") is partner and swapped.get("usps") is registry.get("usps")
    with pytest.raises(NotFound):
        registry.get("dhl")
