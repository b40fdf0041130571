"""Value types shared by several areas."""

from __future__ import annotations

from decimal import Decimal

import strawberry

from app.domain import geo, locations, money


@strawberry.type(description="An amount of money.")
class Money:
    amount: Decimal = strawberry.field(description="Amount in major units, e.g. 19.99.")
    cents: int = strawberry.field(description="Amount in minor units, e.g. 1999.")
    currency: str = strawberry.field(description="ISO 4217 currency code.")

    @classmethod
    def from_domain(cls, value: money.Money) -> Money:
        return cls(amount=Decimal(value.cents).scaleb(-2), cents=value.cents, currency=value.currency)


@strawberry.type(description="A postal address.")
class Address:
    name: str | None
    line1: str
    line2: str | None
    city: str
    region: str | None = strawberry.field(description="State, province or county.")
    postal_code: str
    country: str = strawberry.field(description="ISO 3166-1 alpha-2 country code.")
    phone: str | None

    @classmethod
    def from_domain(cls, value: locations.Address) -> Address:
        return cls(
            name=value.name,
            line1=value.line1,
            line2=value.line2,
            city=value.city,
            region=value.region,
            postal_code=value.postal_code,
            country=value.country,
            phone=value.phone,
        )


@strawberry.type(description="A point on Earth (WGS 84).")
class GeoPoint:
    lat: float = strawberry.field(description="Latitude in degrees.")
    lng: float = strawberry.field(description="Longitude in degrees.")

    @classmethod
    def from_domain(cls, value: geo.GeoPoint) -> GeoPoint:
        return cls(lat=value.lat, lng=value.lng)


@strawberry.input(description="A point on Earth (WGS 84).")
class GeoPointInput:
    lat: float = strawberry.field(description="Latitude in degrees, -90 to 90.")
    lng: float = strawberry.field(description="Longitude in degrees, -180 to 180.")

    def to_domain(self) -> geo.GeoPoint:
        return geo.GeoPoint(lat=self.lat, lng=self.lng)


@strawberry.input(description="A postal address.")
class AddressInput:
    line1: str
    city: str
    postal_code: str
    country: str = strawberry.field(default="US", description="ISO 3166-1 alpha-2 country code.")
    line2: str | None = None
    region: str | None = strawberry.field(default=None, description="State, province or county.")
    name: str | None = strawberry.field(default=None, description="Recipient.")
    phone: str | None = None

    def to_domain(self) -> locations.Address:
        return locations.Address(
            line1=self.line1,
            city=self.city,
            postal_code=self.postal_code,
            country=self.country,
            line2=self.line2,
            region=self.region,
            name=self.name,
            phone=self.phone,
        )
