"""Customers, unified across channels: one person, many channel identities."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

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

    @property
    def display_name(self) -> str:
        return f"{self.first_name} {self.last_name}".strip()


@dataclass(frozen=True, slots=True)
class ChannelSpend:
    channel_id: str
    order_count: int
    spend: Money


@dataclass(frozen=True, slots=True)
class LifetimeFigures:
    """Computed from orders, never stored: always consistent with the order history."""

    order_count: int
    spend: Money
    by_channel: tuple[ChannelSpend, ...] = field(default_factory=tuple)
    first_order_at: datetime | None = None
    last_order_at: datetime | None = None

    @classmethod
    def empty(cls) -> LifetimeFigures:
        return cls(order_count=0, spend=Money.zero())


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
    keys += [f"identity:{i.channel_id}:{i.external_id}" for i in customer.identities]
    return keys
