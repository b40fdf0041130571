"""The offline geocoder: US ZIP centres, city centres worldwide, normalisation, and misses."""

from __future__ import annotations

import asyncio

import pytest

from app.domain.geo import GeoPoint, distance_km
from app.domain.geocoding import PointSource, place_key, unlocated, us_zip5
from app.domain.locations import Address
from app.services.geocoding import Geocoder, geocoder

# The ZIP 02108's centre as the `zipcodes` package ships it.
ZIP_02108 = GeoPoint(42.3576, -71.0684)


def at(city: str = "", postal_code: str = "", country: str = "US", region: str | None = None) -> Address:
    return Address(line1="1 Main St", city=city, postal_code=postal_code, country=country, region=region)


def near(point: GeoPoint, lat: float, lng: float, km: float = 10.0) -> bool:
    return distance_km(point, GeoPoint(lat, lng)) < km


@pytest.mark.parametrize("postal_code", ["02108", "02108-1234", "021081234", " 02108 ", "2108", "02108 1234"])
def test_a_us_zip_in_any_usual_spelling_finds_its_centre(postal_code: str) -> None:
    found = geocoder().locate(at("Anywhere", postal_code))
    assert found is not None and (found.point, found.source) == (ZIP_02108, PointSource.POSTAL_CODE)


def test_the_zip_wins_over_the_city_and_territories_use_zips_too() -> None:
    found = geocoder().locate(at("Springfield", "10118", region="IL"))  # a New York ZIP, a city elsewhere
    assert found is not None and found.source is PointSource.POSTAL_CODE and near(found.point, 40.75, -73.99)
    san_juan = geocoder().locate(at("San Juan", "00901", country="PR"))
    assert san_juan is not None and san_juan.source is PointSource.POSTAL_CODE and near(san_juan.point, 18.47, -66.10)


def test_an_unknown_zip_falls_back_to_the_city_within_its_state() -> None:
    found = geocoder().locate(at("Springfield", "00000", region="MA"))
    assert found is not None and found.source is PointSource.CITY and near(found.point, 42.10, -72.59)
    by_state_name = geocoder().locate(at("springfield", "", region="Illinois"))
    assert by_state_name is not None and near(by_state_name.point, 39.80, -89.64)
    # No state: the most populous namesake (Springfield, Missouri).
    anywhere = geocoder().locate(at("Springfield", "ZIP?"))
    assert anywhere is not None and near(anywhere.point, 37.22, -93.30)


def test_a_small_us_town_is_placed_at_the_centre_of_its_zip_codes() -> None:
    found = geocoder().locate(at("Sturbridge", "", region="MA"))  # too small for the city list
    assert found is not None and found.source is PointSource.CITY and near(found.point, 42.11, -72.08)


def test_non_us_addresses_are_placed_by_city_with_accents_case_and_exonyms_forgiven() -> None:
    for city, country in (("Köln", "DE"), ("KOLN ", "de"), ("Cologne", "DE")):
        found = geocoder().locate(at(city, "50667", country))
        assert found is not None and found.source is PointSource.CITY and near(found.point, 50.94, 6.95), city
    for city, country, lat, lng in (
        ("London", "GB", 51.51, -0.13),
        ("Saint-Étienne", "FR", 45.43, 4.39),
        ("saint etienne", "FR", 45.43, 4.39),
        ("Tromso", "NO", 69.65, 18.96),
        ("São Paulo", "BR", -23.55, -46.64),
    ):
        found = geocoder().locate(at(city, "X", country))
        assert found is not None and found.source is PointSource.CITY and near(found.point, lat, lng), city


def test_misses_are_none() -> None:
    for address in (
        at("Nowhereville", "00000", region="NY"),
        at("Nowhereville", "00000"),
        at("Springfield", "00000", region="NV"),  # a state is given: never a namesake elsewhere
        at("London", "SW1A 1AA", country="ZZ"),
        at("Atlantis", "12345", country="GB"),  # a US-looking code means nothing outside the US
        at("", "", country="DE"),
    ):
        assert geocoder().locate(address) is None, address


def test_locate_async_answers_the_same_and_the_process_shares_one_geocoder() -> None:
    assert geocoder() is geocoder()
    fresh = Geocoder()  # tables not read yet: the first answer comes from a worker thread
    found = asyncio.run(fresh.locate_async(at("Boston", "02108-1234")))
    assert found is not None and found.point == ZIP_02108
    assert asyncio.run(fresh.locate_async(at("Boston", "02108"))) == found


def test_normalisation_helpers() -> None:
    assert place_key("  Saint-Étienne ") == place_key("SAINT ETIENNE") == "saint etienne"
    assert place_key("St. Louis") == "st louis"
    assert place_key("Tromsø") == place_key("Tromso")
    assert us_zip5("02108-1234") == us_zip5("021081234") == us_zip5("2108") == "02108"
    assert us_zip5("SW1A 1AA") is None and us_zip5("123") is None and us_zip5("1234567") is None
    assert unlocated("us", "Nowhereville", "00000", "NY")[0] == "postalCode"
    assert unlocated("GB", "Atlantis", "AB1 2CD")[0] == "city"
