"""Sales channels: where orders come from, and how each channel wants them handled."""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from datetime import datetime
from enum import StrEnum
from typing import Any

from app.domain.carriers import ShippingPolicy
from app.domain.errors import Validator
from app.domain.events import Actor, DomainEvent, field_changes
from app.domain.ids import new_id

# Codes travel in inputs, API key scopes and event keys: short, lower-case, URL-safe.
CODE_PATTERN = re.compile(r"[a-z0-9_-]{1,40}")
MAX_NAME_LENGTH = 100

CHANNEL_CREATED = "ChannelCreated"
CHANNEL_UPDATED = "ChannelUpdated"
CHANNEL_AGGREGATE = "Channel"


class ChannelKind(StrEnum):
    WEB = "WEB"
    MOBILE_APP = "MOBILE_APP"
    STORE_POS = "STORE_POS"
    MARKETPLACE = "MARKETPLACE"
    PHONE = "PHONE"
    CATALOG = "CATALOG"
    SOCIAL = "SOCIAL"


class BackorderPolicy(StrEnum):
    """What to do with quantity the network cannot fill at capture."""

    BACKORDER = "BACKORDER"
    REFUSE = "REFUSE"


@dataclass(frozen=True, slots=True)
class Channel:
    id: str
    name: str
    kind: ChannelKind
    backorder_policy: BackorderPolicy = BackorderPolicy.BACKORDER
    # How its orders are routed lives in `routing_policies` (app.domain.routing.policy), not here.
    shipping_policy: ShippingPolicy = ShippingPolicy.CHEAPEST  # how a carrier service is chosen at ship time
    active: bool = True


def validate_channel(channel: Channel) -> Channel:
    """The channel with its name trimmed, or InvalidInput with paths ("code",), ("name",)."""
    check = Validator()
    check.check(
        isinstance(channel.id, str) and CODE_PATTERN.fullmatch(channel.id) is not None,
        "a channel code is 1 to 40 lower-case letters, digits, - or _",
        "code",
    )
    name = channel.name.strip() if isinstance(channel.name, str) else ""
    if check.check(bool(name), "is required", "name"):
        check.check(len(name) <= MAX_NAME_LENGTH, f"is longer than {MAX_NAME_LENGTH} characters", "name")
        check.check(name.isprintable(), "contains control characters", "name")
    check.raise_if_any()
    return replace(channel, name=name)


def channel_data(channel: Channel) -> dict[str, Any]:
    """The channel in the API's field names, for event payloads."""
    return {
        "code": channel.id,
        "name": channel.name,
        "kind": channel.kind.value,
        "backorderPolicy": channel.backorder_policy.value,
        "shippingPolicy": channel.shipping_policy.value,
        "active": channel.active,
    }


def upsert_event(before: Channel | None, after: Channel, *, actor: Actor, at: datetime, reason: str | None) -> DomainEvent | None:
    """`ChannelCreated` (the whole channel), `ChannelUpdated` (only what changed), or None when
    nothing changed."""
    if before == after:
        return None
    if before is None:
        kind, payload = CHANNEL_CREATED, {"channel": channel_data(after)}
    else:
        kind, payload = CHANNEL_UPDATED, {"changes": field_changes(channel_data(before), channel_data(after))}
    return DomainEvent(
        id=new_id(),
        type=kind,
        aggregate_type=CHANNEL_AGGREGATE,
        aggregate_id=after.id,
        at=at,
        actor=actor,
        payload=payload,
        reason=reason,
        channel_id=after.id,
    )
