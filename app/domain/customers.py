"""Customers, unified across channels: one person, many channel identities."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime

from app.domain.addresses import MAX_ADDRESS_FIELD
from app.domain.errors import Conflict, ErrorCode, FieldIssue, InvalidInput, Validator
from app.domain.locations import Address
from app.domain.money import Money


@dataclass(frozen=True, slots=True)
class ChannelIdentity:
    """How a channel knows this customer (marketplace buyer id, loyalty number, ...)."""

    channel_id: str
    external_id: str


@dataclass(frozen=True, slots=True)
class Customer:
    id: str
    first_name: str
    last_name: str
    email: str | None
    phone: str | None
    created_at: datetime
    addresses: tuple[Address, ...] = ()
    identities: tuple[ChannelIdentity, ...] = ()
    # Set on a customer merged into another: a tombstone kept for the audit trail, never listed.
    merged_into: str | None = None

    @property
    def display_name(self) -> str:
        return f"{self.first_name} {self.last_name}".strip()


@dataclass(frozen=True, slots=True)
class ChannelSpend:
    channel_id: str
    order_count: int
    spend: Money  # net of refunds and exchange credit
    refunds: Money = field(default_factory=Money.zero)  # money given back
    units: int = 0  # units bought (cancelled ones excluded)
    returned_units: int = 0  # units in live returns (received quantity once known)

    @property
    def return_rate(self) -> float:
        return return_rate(self.returned_units, self.units)


@dataclass(frozen=True, slots=True)
class LifetimeFigures:
    """Computed from orders and returns, never stored: always consistent with the history. `spend` is
    net of refunds and of exchange credit (the replacement order's total counts instead)."""

    order_count: int
    spend: Money
    by_channel: tuple[ChannelSpend, ...] = field(default_factory=tuple)
    first_order_at: datetime | None = None
    last_order_at: datetime | None = None
    refunds: Money = field(default_factory=Money.zero)

    @property
    def units(self) -> int:
        return sum(c.units for c in self.by_channel)

    @property
    def returned_units(self) -> int:
        return sum(c.returned_units for c in self.by_channel)

    @property
    def return_rate(self) -> float:
        return return_rate(self.returned_units, self.units)

    @classmethod
    def empty(cls) -> LifetimeFigures:
        return cls(order_count=0, spend=Money.zero())


def return_rate(returned: int, bought: int) -> float:
    """Share of units bought that came (or are coming) back, 0..1, four decimals."""
    return round(returned / bought, 4) if bought > 0 else 0.0


def normalize_email(email: str | None) -> str | None:
    return email.strip().lower() if email and email.strip() else None


def normalize_phone(phone: str | None) -> str | None:
    """Digits only, with a leading + kept, so '+1 (617) 555-0101' and '+16175550101' match."""
    if not phone:
        return None
    digits = "".join(ch for ch in phone if ch.isdigit())
    if not digits:
        return None
    return ("+" if phone.strip().startswith("+") else "") + digits


class CustomerKeyTaken(Exception):
    """Another transaction created a customer with this email, phone or channel identity first: re-match."""


def customer_keys(customer: Customer) -> list[str]:
    """What identifies a person across channels; each may belong to one customer only."""
    keys = []
    if customer.email:
        keys.append(f"email:{customer.email}")
    if customer.phone:
        keys.append(f"phone:{customer.phone}")
    keys += [identity_key(i) for i in customer.identities]
    return keys


# --- Writing customers: drafts, validation, merges -------------------------------------------------

MAX_NAME = 100
MAX_EMAIL = 254
MAX_PHONE = 32
MAX_EXTERNAL_ID = 100
MAX_ADDRESSES = 20
MAX_IDENTITIES = 20


@dataclass(frozen=True, slots=True)
class CustomerDraft:
    """A customer as a client (a CSR, an import row) describes it, before validation.

    Creating: what is missing is empty. Updating: None keeps the stored value; anything given
    replaces it: "" clears a name, the email or the phone, and a tuple (possibly empty) replaces
    all addresses or all identities.
    """

    first_name: str | None = None
    last_name: str | None = None
    email: str | None = None
    phone: str | None = None
    addresses: tuple[Address, ...] | None = None
    identities: tuple[ChannelIdentity, ...] | None = None


def customer_from_draft(
    draft: CustomerDraft, *, current: Customer | None, customer_id: str, at: datetime
) -> Customer | list[FieldIssue]:
    """The customer `draft` describes (applied to `current` when updating), normalized: trimmed
    text, lower-case email, digits-only phone, upper-case country, duplicate addresses and
    identities dropped. Or every issue found, with paths relative to the draft (("email",),
    ("addresses", "1", "postalCode"), ("identities", "0", "externalId")). Pure: whether channels
    exist and whether keys are free is for the caller to check."""
    check = Validator()
    first = _text(check, draft.first_name, MAX_NAME, "firstName")
    last = _text(check, draft.last_name, MAX_NAME, "lastName")
    email = _email(check, draft.email)
    phone = _phone(check, draft.phone)
    addresses = _addresses(check, draft.addresses)
    identities = _identities(check, draft.identities)
    if check.issues:
        return check.issues
    base = current or Customer(id=customer_id, first_name="", last_name="", email=None, phone=None, created_at=at)
    customer = Customer(
        id=base.id,
        first_name=base.first_name if first is None else first,
        last_name=base.last_name if last is None else last,
        email=base.email if draft.email is None else email,
        phone=base.phone if draft.phone is None else phone,
        created_at=base.created_at,
        addresses=base.addresses if addresses is None else addresses,
        identities=base.identities if identities is None else identities,
    )
    if not (customer.email or customer.phone or customer.identities):
        return [FieldIssue(ErrorCode.INVALID_INPUT, "give the customer's email, phone or a channel identity", ())]
    return customer


def changed_fields(before: Customer | None, after: Customer) -> tuple[str, ...]:
    """Which draft fields differ (all that are set, for a new customer), in a stable order."""
    pairs = (
        ("firstName", "first_name"),
        ("lastName", "last_name"),
        ("email", "email"),
        ("phone", "phone"),
        ("addresses", "addresses"),
        ("identities", "identities"),
    )
    if before is None:
        return tuple(name for name, attr in pairs if getattr(after, attr))
    return tuple(name for name, attr in pairs if getattr(before, attr) != getattr(after, attr))


def key_field(customer: Customer, key: str) -> tuple[str, ...]:
    """The draft field that a customer key comes from, for a CONFLICT naming it."""
    if key.startswith("email:"):
        return ("email",)
    if key.startswith("phone:"):
        return ("phone",)
    for index, identity in enumerate(customer.identities):
        if key == identity_key(identity):
            return ("identities", str(index))
    return ()


def identity_key(identity: ChannelIdentity) -> str:
    return f"identity:{identity.channel_id}:{identity.external_id}"


@dataclass(frozen=True, slots=True)
class CustomerMerge:
    """What merging `merged` into `survivor` gives: the survivor as it will be, and what moved."""

    survivor: Customer
    merged: Customer
    identities_moved: int
    addresses_added: int
    email_taken: bool
    phone_taken: bool


def merge_customers(survivor: Customer, merged: Customer) -> CustomerMerge:
    """The survivor with the merged customer's identities, its addresses the survivor lacks, and
    its email, phone and names where the survivor has none. Conflict when both have an identity
    on one channel with different external ids (they may be two people, or the channel's ids must
    be reconciled first), or when together they exceed the limits on addresses or identities."""
    if survivor.id == merged.id:
        raise InvalidInput([FieldIssue(ErrorCode.INVALID_INPUT, "a customer cannot be merged into itself", ("mergedId",))])
    own = {i.channel_id: i for i in survivor.identities}
    clashes = sorted(
        {i.channel_id for i in merged.identities if i.channel_id in own and i not in survivor.identities}
    )
    if clashes:
        raise Conflict(
            "both customers have a different identity on channel(s) " + ", ".join(clashes)
            + "; reconcile them before merging",
            field=("mergedId",),
        )
    identities = survivor.identities + tuple(i for i in merged.identities if i not in survivor.identities)
    known = {address_key(a) for a in survivor.addresses}
    added: list[Address] = []
    for address in merged.addresses:
        if address_key(address) not in known:
            known.add(address_key(address))
            added.append(address)
    addresses = survivor.addresses + tuple(added)
    if len(addresses) > MAX_ADDRESSES or len(identities) > MAX_IDENTITIES:
        raise Conflict(
            f"together they have {len(addresses)} addresses and {len(identities)} identities; at most "
            f"{MAX_ADDRESSES} and {MAX_IDENTITIES}: remove some first",
            field=("mergedId",),
        )
    result = replace(
        survivor,
        first_name=survivor.first_name or merged.first_name,
        last_name=survivor.last_name or merged.last_name,
        email=survivor.email or merged.email,
        phone=survivor.phone or merged.phone,
        addresses=addresses,
        identities=identities,
    )
    return CustomerMerge(
        survivor=result,
        merged=merged,
        identities_moved=len(identities) - len(survivor.identities),
        addresses_added=len(added),
        email_taken=survivor.email is None and merged.email is not None,
        phone_taken=survivor.phone is None and merged.phone is not None,
    )


def address_key(address: Address) -> tuple[str, ...]:
    """Two addresses are the same place when these agree, ignoring case, spacing, name and phone."""
    parts = (address.line1, address.line2, address.city, address.region, address.postal_code, address.country)
    return tuple(" ".join((p or "").lower().split()) for p in parts)


def _text(check: Validator, value: str | None, limit: int, *path: str | int, required: bool = False) -> str | None:
    """The trimmed text, or None when absent; issues for over-long text and control characters."""
    if value is None:
        check.check(not required, "is required", *path)
        return None
    text = value.strip()
    if required and not text:
        check.add("is required", *path)
    check.check(len(text) <= limit, f"is longer than {limit} characters", *path)
    check.check(text.isprintable(), "contains control characters", *path)
    return text


def _email(check: Validator, value: str | None) -> str | None:
    text = _text(check, value, MAX_EMAIL, "email")
    if not text:
        return None
    local, _, domain = text.partition("@")
    check.check(bool(local) and "." in domain.strip(".") and " " not in text and "@" not in domain, "is not an email address", "email")
    return normalize_email(text)


def _phone(check: Validator, value: str | None) -> str | None:
    text = _text(check, value, MAX_PHONE, "phone")
    if not text:
        return None
    normalized = normalize_phone(text)
    check.check(6 <= len((normalized or "").lstrip("+")) <= 15, "is not a phone number (6 to 15 digits)", "phone")
    return normalized


def _addresses(check: Validator, given: tuple[Address, ...] | None) -> tuple[Address, ...] | None:
    if given is None:
        return None
    if not check.check(len(given) <= MAX_ADDRESSES, f"at most {MAX_ADDRESSES} addresses", "addresses"):
        return None
    kept: list[Address] = []
    seen: set[tuple[str, ...]] = set()
    for index, address in enumerate(given):
        fields = {
            name: _text(check, value, MAX_ADDRESS_FIELD, "addresses", index, name, required=required)
            for name, value, required in (
                ("line1", address.line1, True),
                ("line2", address.line2, False),
                ("city", address.city, True),
                ("region", address.region, False),
                ("postalCode", address.postal_code, True),
                ("name", address.name, False),
                ("phone", address.phone, False),
            )
        }
        country = address.country.strip().upper()
        check.check(len(country) == 2 and country.isalpha(), "country is a 2-letter ISO code", "addresses", index, "country")
        clean = Address(
            line1=fields["line1"] or "",
            city=fields["city"] or "",
            postal_code=fields["postalCode"] or "",
            country=country,
            line2=fields["line2"] or None,
            region=fields["region"] or None,
            name=fields["name"] or None,
            phone=fields["phone"] or None,
        )
        if address_key(clean) not in seen:
            seen.add(address_key(clean))
            kept.append(clean)
    return tuple(kept)


def _identities(check: Validator, given: tuple[ChannelIdentity, ...] | None) -> tuple[ChannelIdentity, ...] | None:
    if given is None:
        return None
    if not check.check(len(given) <= MAX_IDENTITIES, f"at most {MAX_IDENTITIES} channel identities", "identities"):
        return None
    kept: list[ChannelIdentity] = []
    for index, identity in enumerate(given):
        channel = _text(check, identity.channel_id, MAX_EXTERNAL_ID, "identities", index, "channel", required=True)
        external = _text(check, identity.external_id, MAX_EXTERNAL_ID, "identities", index, "externalId", required=True)
        clean = ChannelIdentity(channel or "", external or "")
        if clean not in kept:
            kept.append(clean)
    return tuple(kept)
