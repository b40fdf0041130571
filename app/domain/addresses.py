"""Postal addresses as every input gives them (capture, order edits, locations, imports): trimmed,
then checked field by field with paths, so each transport names the same fields the same way."""

from __future__ import annotations

from app.domain.errors import Validator
from app.domain.locations import Address

MAX_ADDRESS_FIELD = 200


def _clean(value: str | None) -> str | None:
    return value.strip() if isinstance(value, str) and value.strip() else None


def normalized_address(address: Address) -> Address:
    """Trimmed fields, empty optional ones dropped, country upper-case."""
    return Address(
        line1=address.line1.strip(),
        city=address.city.strip(),
        postal_code=address.postal_code.strip(),
        country=address.country.strip().upper(),
        line2=_clean(address.line2),
        region=_clean(address.region),
        name=_clean(address.name),
        phone=_clean(address.phone),
    )


def check_text(check: Validator, value: str | None, limit: int, *path: str | int, required: bool = False) -> None:
    """Present when required, at most `limit` characters, printable."""
    if value is None or not value.strip():
        check.check(not required, "is required", *path)
        return
    check.check(len(value) <= limit, f"is longer than {limit} characters", *path)
    check.check(value.isprintable(), "contains control characters", *path)


def check_address(check: Validator, address: Address, *path: str | int) -> None:
    """Required line1, city, postal code; a 2-letter country; lengths. `path` prefixes every issue."""
    for name, value, required in (
        ("line1", address.line1, True),
        ("line2", address.line2, False),
        ("city", address.city, True),
        ("region", address.region, False),
        ("postalCode", address.postal_code, True),
        ("name", address.name, False),
        ("phone", address.phone, False),
    ):
        check_text(check, value, MAX_ADDRESS_FIELD, *path, name, required=required)
    country = address.country.strip()
    check.check(len(country) == 2 and country.isalpha() and country.isascii(), "country is a 2-letter ISO code", *path, "country")
