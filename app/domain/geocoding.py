"""How a delivery point was found, and the normalisation a geocoder matches addresses by.

The data (ZIP and city tables) lives in app/services/geocoding.py; the domain sees only the
`Geocoded` values it is handed, so it stays free of the packages that ship the data.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from enum import StrEnum

from app.domain.geo import GeoPoint


class PointSource(StrEnum):
    GIVEN = "GIVEN"  # the caller sent coordinates
    POSTAL_CODE = "POSTAL_CODE"  # the centre of the address's postal code
    CITY = "CITY"  # the centre of the address's city

    @property
    def is_centroid(self) -> bool:
        """Whether distances from this point are approximate (an area's centre, not the address)."""
        return self is not PointSource.GIVEN


@dataclass(frozen=True, slots=True)
class Geocoded:
    point: GeoPoint
    source: PointSource


# Countries and territories that use US ZIP codes (the US Postal Service serves them).
US_ZIP_COUNTRIES = frozenset({"US", "PR", "VI", "GU", "AS", "MP", "FM", "MH", "PW"})

_NON_ALNUM = re.compile(r"[^0-9a-z]+")
# Latin letters that Unicode does not decompose into a base letter plus an accent.
_UNDECOMPOSABLE = str.maketrans({"ø": "o", "æ": "ae", "œ": "oe", "ł": "l", "đ": "d", "ð": "d", "þ": "th", "ı": "i"})
_ZIP = re.compile(r"(\d{5})(?:-?\d{4})?")
_ZIP_LOST_ZERO = re.compile(r"\d{4}")


def place_key(name: str) -> str:
    """A city or region name as matched: accents dropped, case folded, punctuation and runs of
    spaces collapsed, so "Köln", "KOLN " and "köln" meet, as do "Tromsø" and "Tromso", and
    "St. Louis" and "st louis"."""
    if not name.isascii():  # the common case skips the decomposition (the city table reads 150,000 names)
        decomposed = unicodedata.normalize("NFKD", name)
        name = "".join(ch for ch in decomposed if not unicodedata.combining(ch)).casefold().translate(_UNDECOMPOSABLE)
    return _NON_ALNUM.sub(" ", name.casefold()).strip()


def us_zip5(postal_code: str) -> str | None:
    """The five-digit ZIP in "02108", "02108-1234", "021081234" or " 02108 "; a four-digit code is
    taken as a ZIP whose leading zero a spreadsheet dropped ("2108" -> "02108"). None otherwise."""
    compact = "".join(postal_code.split())
    match = _ZIP.fullmatch(compact)
    if match:
        return match.group(1)
    if _ZIP_LOST_ZERO.fullmatch(compact):
        return "0" + compact
    return None


def unlocated(country: str, city: str, postal_code: str, region: str | None = None) -> tuple[str, str]:
    """The address field to blame, and why, when neither its postal code nor its city is known.
    A US ZIP is matched first, so a US address blames its postal code; elsewhere only the city is
    matched (no shipped data places other countries' postal codes), so the city is blamed."""
    country = country.strip().upper()
    if country in US_ZIP_COUNTRIES:
        where = f" in {region}" if region and country == "US" else ""
        return "postalCode", (
            f"no known US ZIP code {postal_code.strip()!r} and no city {city.strip()!r}{where}: "
            "correct them or send the address's coordinates (point)"
        )
    return "city", (
        f"no city {city.strip()!r} known in {country}: correct it or send the address's coordinates (point)"
    )
