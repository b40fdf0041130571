"""Document ↔ domain conversions for value objects shared by several collections."""

from __future__ import annotations

from datetime import date, datetime, time, timezone
from typing import Any

from app.domain.geo import GeoPoint
from app.domain.locations import Address
from app.domain.money import DEFAULT_CURRENCY, Money


def point_to_doc(point: GeoPoint) -> dict[str, Any]:
    return {"type": "Point", "coordinates": [point.lng, point.lat]}  # GeoJSON is lng, lat


def point_from_doc(doc: dict[str, Any] | None) -> GeoPoint | None:
    if not doc:
        return None
    lng, lat = doc["coordinates"]
    return GeoPoint(lat=float(lat), lng=float(lng))


def address_to_doc(address: Address) -> dict[str, Any]:
    return {
        "name": address.name,
        "line1": address.line1,
        "line2": address.line2,
        "city": address.city,
        "region": address.region,
        "postal_code": address.postal_code,
        "country": address.country,
        "phone": address.phone,
    }


def address_from_doc(doc: dict[str, Any] | None) -> Address | None:
    if not doc:
        return None
    return Address(
        name=doc.get("name"),
        line1=doc["line1"],
        line2=doc.get("line2"),
        city=doc["city"],
        region=doc.get("region"),
        postal_code=doc["postal_code"],
        country=doc.get("country", "US"),
        phone=doc.get("phone"),
    )


def money_to_doc(money: Money) -> dict[str, Any]:
    return {"cents": money.cents, "currency": money.currency}


def money_from_doc(doc: dict[str, Any] | None) -> Money:
    if not doc:
        return Money.zero()
    return Money(int(doc["cents"]), doc.get("currency", DEFAULT_CURRENCY))


def day_to_doc(value: date | None) -> datetime | None:
    """BSON has no date type: a calendar day is stored as its midnight UTC."""
    return datetime.combine(value, time.min, tzinfo=timezone.utc) if value else None


def day_from_doc(value: datetime | None) -> date | None:
    return value.date() if value else None
