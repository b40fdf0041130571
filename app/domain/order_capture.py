"""Capturing an order from any channel: the request, its validation, and its idempotency hash."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, fields, is_dataclass, replace
from datetime import date, datetime, timedelta
from typing import Any

from app.domain.addresses import check_address, check_text, normalized_address
from app.domain.channels import Channel, ChannelKind
from app.domain.customers import ChannelIdentity, Customer, normalize_email, normalize_phone
from app.domain.errors import DomainError, ErrorCode, Validator
from app.domain.geo import GeoPoint
from app.domain.geocoding import Geocoded, PointSource, unlocated
from app.domain.locations import Address, Location
from app.domain.money import Money
from app.domain.orders import Allocation, Delivery, DeliveryMethod, Order, OrderLine, OrderStatus, OrderTotals
from app.domain.payments import Payment, PaymentRequest, check_paid_total, check_payments, normalized_payment, payments_of
from app.domain.products import Product
from app.domain.routing.plan import PickupAlternative

MAX_LINES = 100
MAX_QUANTITY = 10_000
MAX_UNIT_PRICE_CENTS = 100_000_000
MAX_DAYS_AHEAD = 366
# Longest accepted text per kind of field; anything longer is refused, never truncated.
MAX_ID = 100
MAX_NAME = 100
MAX_EMAIL = 254
MAX_PHONE = 32
MAX_NOTES = 2_000

# Channels on which shoppers order for themselves.
SELF_SERVICE_KINDS = frozenset({ChannelKind.WEB, ChannelKind.MOBILE_APP})


@dataclass(frozen=True, slots=True)
class CustomerDetails:
    """Who ordered, as the channel knows them. Matched to an existing customer or used to create one."""

    email: str | None = None
    phone: str | None = None
    first_name: str | None = None
    last_name: str | None = None
    channel_customer_id: str | None = None  # the channel's own id for the buyer (marketplace id, loyalty number)


@dataclass(frozen=True, slots=True)
class LineRequest:
    sku: str
    quantity: int
    unit_price_cents: int | None = None  # None: the catalog price


@dataclass(frozen=True, slots=True)
class DeliveryRequest:
    method: DeliveryMethod
    address: Address | None = None
    point: GeoPoint | None = None
    pickup_location_id: str | None = None


@dataclass(frozen=True, slots=True)
class CaptureRequest:
    channel_id: str
    external_id: str
    customer: CustomerDetails
    lines: tuple[LineRequest, ...]
    delivery: DeliveryRequest
    requested_date: date | None = None
    notes: str | None = None
    shipping_cents: int = 0
    tax_cents: int = 0
    currency: str = "USD"
    # What the channel's payment provider captured; refunds go back to these.
    payments: tuple[PaymentRequest, ...] = ()

    @property
    def identity(self) -> ChannelIdentity | None:
        cid = self.customer.channel_customer_id
        return ChannelIdentity(self.channel_id, cid) if cid else None


@dataclass(frozen=True, slots=True)
class Replacement:
    """Capture on behalf of an exchange: the caller's right to it was checked by the exchange, the
    customer is the original order's, and the returned goods' value pays for it (`credit`)."""

    return_id: str
    customer_id: str
    credit: tuple[Payment, ...] = ()


class PickupUnavailable(DomainError):
    """The chosen store cannot hand over everything; `nearby` lists stores that can."""

    code = ErrorCode.PICKUP_UNAVAILABLE

    def __init__(self, message: str, nearby: tuple[PickupAlternative, ...], *, field: tuple[str, ...] = ()):
        super().__init__(message, field=field)
        self.nearby = nearby


def _strip(value: str | None) -> str | None:
    return value.strip() if value is not None and value.strip() else None


def normalized(request: CaptureRequest) -> CaptureRequest:
    """Trimmed strings, lower-case email, digits-only phone: equal inputs hash equal."""
    details = request.customer
    customer = CustomerDetails(
        email=normalize_email(details.email),
        phone=normalize_phone(details.phone),
        first_name=_strip(details.first_name),
        last_name=_strip(details.last_name),
        channel_customer_id=_strip(details.channel_customer_id),
    )
    delivery = request.delivery
    address = normalized_address(delivery.address) if delivery.address is not None else None
    return replace(
        request,
        channel_id=request.channel_id.strip(),
        external_id=request.external_id.strip(),
        customer=customer,
        lines=tuple(replace(line, sku=line.sku.strip()) for line in request.lines),
        delivery=replace(delivery, address=address, pickup_location_id=_strip(delivery.pickup_location_id)),
        notes=_strip(request.notes),
        currency=request.currency.strip().upper(),
        payments=tuple(normalized_payment(p, request.currency.strip().upper()) for p in request.payments),
    )


def input_hash(request: CaptureRequest) -> str:
    """SHA-256 of the normalized request as canonical JSON (sorted keys, lines by SKU).

    The same order replayed hashes the same; any change of content changes the hash.
    """
    doc: dict[str, Any] = _plain(normalized(request))
    doc["lines"] = sorted(doc["lines"], key=lambda line: line["sku"])
    doc["requested_date"] = request.requested_date.isoformat() if request.requested_date else None
    # Payments are part of the content (a replay with other payments is a conflict), listed in a
    # canonical order; absent when there are none, so orders captured before payments existed
    # still hash as they did.
    if doc["payments"]:
        doc["payments"] = sorted(doc["payments"], key=lambda p: (p["provider"], p["reference"], p["amount_cents"]))
    else:
        del doc["payments"]
    raw = json.dumps(doc, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(raw.encode()).hexdigest()


# Field names per dataclass, for _plain.
_FIELD_NAMES: dict[type, tuple[str, ...]] = {}


def _plain(value: Any) -> Any:
    """What dataclasses.asdict gives, as far as JSON can tell (sequences become lists), without
    deep-copying every leaf: the same canonical JSON, so stored input hashes still match, at a
    fraction of the CPU of every capture."""
    kind = type(value)
    names = _FIELD_NAMES.get(kind)
    if names is None and is_dataclass(kind):
        names = _FIELD_NAMES[kind] = tuple(f.name for f in fields(kind))
    if names is not None:
        return {name: _plain(getattr(value, name)) for name in names}
    if isinstance(value, (list, tuple)):
        return [_plain(item) for item in value]
    if isinstance(value, dict):
        return {_plain(k): _plain(v) for k, v in value.items()}
    return value


def validate_shape(request: CaptureRequest, *, today: date, customer_required: bool) -> Validator:
    """Every check that needs no database. Returns the validator so callers add reference checks."""
    check = Validator()
    check_text(check, request.channel_id, MAX_ID, "channel", required=True)
    check_text(check, request.external_id, MAX_ID, "externalId", required=True)
    _check_customer(check, request.customer, required=customer_required)
    check.check(0 < len(request.lines) <= MAX_LINES, f"an order has 1 to {MAX_LINES} lines", "lines")
    seen: dict[str, int] = {}
    for index, line in enumerate(request.lines[:MAX_LINES]):
        if _text_ok(check, line.sku, MAX_ID, "lines", index, "sku"):
            if line.sku.strip() in seen:
                check.add(f"SKU {line.sku} is already on line {seen[line.sku.strip()]}", "lines", index, "sku")
            seen.setdefault(line.sku.strip(), index)
        check.check(0 < line.quantity <= MAX_QUANTITY, f"quantity must be between 1 and {MAX_QUANTITY}", "lines", index, "quantity")
        if line.unit_price_cents is not None:
            check.check(
                0 <= line.unit_price_cents <= MAX_UNIT_PRICE_CENTS, "unit price must be between 0 and 1,000,000.00", "lines", index, "unitPriceCents"
            )
    _check_delivery(check, request.delivery)
    if request.requested_date is not None:
        check.check(request.requested_date >= today, "the requested delivery date is in the past", "requestedDeliveryDate")
        check.check(
            request.requested_date <= today + timedelta(days=MAX_DAYS_AHEAD),
            f"the requested delivery date is more than {MAX_DAYS_AHEAD} days ahead",
            "requestedDeliveryDate",
        )
    check_text(check, request.notes, MAX_NOTES, "notes")
    for name, cents in (("shippingCents", request.shipping_cents), ("taxCents", request.tax_cents)):
        check.check(0 <= cents <= MAX_UNIT_PRICE_CENTS, f"{name} must be between 0 and 1,000,000.00", name)
    check.check(len(request.currency.strip()) == 3 and request.currency.strip().isalpha(), "currency is a 3-letter ISO code", "currency")
    check_payments(check, request.payments, currency=request.currency.strip().upper())
    return check


def _text_ok(check: Validator, value: str | None, limit: int, *path: str | int) -> bool:
    before = len(check.issues)
    check_text(check, value, limit, *path, required=True)
    return len(check.issues) == before


def _check_customer(check: Validator, details: CustomerDetails, *, required: bool) -> None:
    if required:
        check.check(
            any((_strip(details.email), _strip(details.phone), _strip(details.channel_customer_id))),
            "give the customer's email, phone or channel customer id",
            "customer",
        )
    check_text(check, details.email, MAX_EMAIL, "customer", "email")
    if details.email and details.email.strip():
        local, _, domain = details.email.strip().partition("@")
        check.check(bool(local) and "." in domain and " " not in details.email.strip(), "is not an email address", "customer", "email")
    check_text(check, details.phone, MAX_PHONE, "customer", "phone")
    if details.phone and details.phone.strip():
        digits = (normalize_phone(details.phone) or "").lstrip("+")
        check.check(6 <= len(digits) <= 15, "is not a phone number", "customer", "phone")
    check_text(check, details.first_name, MAX_NAME, "customer", "firstName")
    check_text(check, details.last_name, MAX_NAME, "customer", "lastName")
    check_text(check, details.channel_customer_id, MAX_ID, "customer", "channelCustomerId")


def _check_delivery(check: Validator, delivery: DeliveryRequest) -> None:
    if delivery.method is DeliveryMethod.SHIP:
        check.check(delivery.pickup_location_id is None, "only PICKUP_IN_STORE takes a pick-up location", "delivery", "pickupLocation")
        if check.check(delivery.address is not None, "SHIP needs an address", "delivery", "address"):
            assert delivery.address is not None
            check_address(check, delivery.address, "delivery", "address")
        # Without a point the address is geocoded (needs_geocoding, check_located).
        if delivery.point is not None:
            check.check(delivery.point.is_valid(), "lat must be within ±90 and lng within ±180", "delivery", "point")
    else:
        check_text(check, delivery.pickup_location_id, MAX_ID, "delivery", "pickupLocation", required=True)
        if delivery.address is not None:
            check_address(check, delivery.address, "delivery", "address")
        if delivery.point is not None:
            check.check(delivery.point.is_valid(), "lat must be within ±90 and lng within ±180", "delivery", "point")


def needs_geocoding(delivery: DeliveryRequest) -> bool:
    """A SHIP address that came without coordinates: the service finds a point for it."""
    return delivery.method is DeliveryMethod.SHIP and delivery.point is None and delivery.address is not None


def check_located(check: Validator, delivery: DeliveryRequest, located: Geocoded | None, *at: str) -> None:
    """Refuses a SHIP address without coordinates whose postal code and city are both unknown
    (`at`: where the input puts the address, ("delivery", "address") for capture). Only once the
    address is otherwise valid: a blank city is reported as such, not as a city nobody knows."""
    if not needs_geocoding(delivery) or located is not None or any(i.field[: len(at)] == at for i in check.issues):
        return
    address = delivery.address
    assert address is not None
    name, message = unlocated(address.country, address.city, address.postal_code, address.region)
    check.add(message, *at, name)


def ship_point(delivery: DeliveryRequest, located: Geocoded | None) -> Geocoded | None:
    """Where a SHIP order goes: the point the caller sent (GIVEN), else the geocoded one."""
    if delivery.method is not DeliveryMethod.SHIP:
        return None
    if delivery.point is not None:
        return Geocoded(delivery.point, PointSource.GIVEN)
    return located


def check_references(
    check: Validator,
    request: CaptureRequest,
    *,
    channel: Channel | None,
    products: dict[str, Product],
    pickup: Location | None,
) -> None:
    """Checks that need the database's answers: channel, SKUs, pick-up store."""
    if channel is None:
        check.add(f"unknown channel {request.channel_id!r}", "channel")
    elif not channel.active:
        check.add(f"channel {request.channel_id!r} is not taking orders", "channel")
    for index, line in enumerate(request.lines[:MAX_LINES]):
        sku = line.sku.strip()
        if sku and sku not in products:
            check.add(f"unknown SKU {sku!r}", "lines", index, "sku", code=ErrorCode.UNKNOWN_SKU)
        elif sku and not products[sku].active:
            check.add(f"SKU {sku!r} is no longer sold", "lines", index, "sku", code=ErrorCode.UNKNOWN_SKU)
    if request.delivery.method is DeliveryMethod.PICKUP_IN_STORE and request.delivery.pickup_location_id:
        if pickup is None:
            check.add(f"unknown location {request.delivery.pickup_location_id!r}", "delivery", "pickupLocation", code=ErrorCode.NOT_FOUND)
        elif not (pickup.active and pickup.capabilities.offers_pickup):
            check.add(f"{pickup.id} does not offer pick-up in store", "delivery", "pickupLocation")
    skus = [line.sku.strip() for line in request.lines[:MAX_LINES]]
    if request.payments and skus and all(sku in products for sku in skus):
        total = request.shipping_cents + request.tax_cents + sum(
            line.quantity * (products[line.sku.strip()].price.cents if line.unit_price_cents is None else line.unit_price_cents)
            for line in request.lines[:MAX_LINES]
        )
        check_paid_total(check, request.payments, order_total_cents=total)


def order_lines(request: CaptureRequest, products: dict[str, Product]) -> tuple[OrderLine, ...]:
    """Line ids are 1-based positions in the request; prices default to the catalog's."""
    return tuple(
        OrderLine(
            id=str(index),
            sku=line.sku,
            name=products[line.sku].name,
            quantity=line.quantity,
            unit_price=Money(products[line.sku].price.cents if line.unit_price_cents is None else line.unit_price_cents, request.currency),
        )
        for index, line in enumerate(request.lines, start=1)
    )


def new_order(
    request: CaptureRequest,
    *,
    order_id: str,
    customer_id: str,
    lines: tuple[OrderLine, ...],
    destination: GeoPoint | None,
    point_source: PointSource | None,
    allocations: tuple[Allocation, ...],
    routing: dict[str, Any] | None,
    release_at: datetime | None,
    digest: str,
    at: datetime,
    extra_payments: tuple[Payment, ...] = (),
    exchange_for_return_id: str | None = None,
) -> Order:
    """The captured order, still CREATED: callers move it to its settled status (an event of its own).
    `extra_payments`: paid other than by the channel's input (an exchange's credit)."""
    subtotal = Money.zero(request.currency)
    for line in lines:
        subtotal = subtotal + line.total
    delivery = request.delivery
    return Order(
        id=order_id,
        channel_id=request.channel_id,
        external_id=request.external_id,
        customer_id=customer_id,
        status=OrderStatus.CREATED,
        lines=lines,
        delivery=Delivery(
            method=delivery.method,
            address=delivery.address,
            point=destination,
            pickup_location_id=delivery.pickup_location_id,
            requested_date=request.requested_date,
            point_source=point_source,
        ),
        totals=OrderTotals(
            subtotal=subtotal,
            shipping=Money(request.shipping_cents, request.currency),
            tax=Money(request.tax_cents, request.currency),
        ),
        created_at=at,
        updated_at=at,
        notes=request.notes,
        allocations=allocations,
        release_at=release_at,
        routing=routing,
        input_hash=digest,
        payments=payments_of(request.payments, request.currency) + extra_payments,
        exchange_for_return_id=exchange_for_return_id,
    )


def new_customer(request: CaptureRequest, customer_id: str, at: datetime) -> Customer:
    details = request.customer
    address = request.delivery.address
    name_parts = (address.name or "").split(" ", 1) if address and address.name else []
    return Customer(
        id=customer_id,
        first_name=details.first_name or (name_parts[0] if name_parts else ""),
        last_name=details.last_name or (name_parts[1] if len(name_parts) > 1 else ""),
        email=details.email,
        phone=details.phone,
        created_at=at,
        addresses=(address,) if address else (),
        identities=(request.identity,) if request.identity else (),
    )
