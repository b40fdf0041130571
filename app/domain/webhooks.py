"""Outbound webhooks: endpoints integrations register, and the deliveries of the event log to them.

An endpoint selects events by type (none: every event). Each matching event becomes one delivery per
endpoint, tried until the receiver answers 2xx, with exponential backoff plus jitter between tries,
and dead-lettered (DEAD) after `max_attempts` failures. Deliveries of one aggregate (an order, a
shipment, a stock level...) go out in the log's order: the next waits until the one before it was
delivered or dead-lettered.

Requests are signed with the inbound webhooks' scheme (app/domain/signatures.py: `X-OMS-Signature:
t=<unix seconds>,n=<nonce>,v1=<HMAC-SHA256>`), so a receiver verifies them with the same code.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from urllib.parse import urlsplit

from app.domain.errors import Validator
from app.domain.events import DomainEvent, EventFilter

# The webhook area's own events (endpoint changes, replays) are audited but never delivered: an
# endpoint would otherwise learn about the others' configuration, and a failing one could feed itself.
ENDPOINT_AGGREGATE = "WebhookEndpoint"

MAX_URL_LENGTH = 2_048
MAX_EVENT_TYPES = 50
MAX_DESCRIPTION_LENGTH = 500
MIN_SECRET_LENGTH = 24
MAX_SECRET_LENGTH = 256
MAX_ATTEMPT_LOG = 20  # attempts kept on a delivery (the most recent)
MAX_REPLAY_EVENTS = 1_000  # one replay mutation re-sends at most this many events
_EVENT_TYPE = re.compile(r"^[A-Z][A-Za-z0-9]{2,63}$")


class EndpointStatus(StrEnum):
    ACTIVE = "ACTIVE"
    DISABLED = "DISABLED"


class DeliveryStatus(StrEnum):
    PENDING = "PENDING"  # not tried yet (or replayed)
    RETRYING = "RETRYING"  # failed; tried again at next_attempt_at
    DELIVERED = "DELIVERED"  # the receiver answered 2xx
    DEAD = "DEAD"  # failed max_attempts times; only a replay sends it again


OPEN_STATUSES = (DeliveryStatus.PENDING, DeliveryStatus.RETRYING)


@dataclass(frozen=True, slots=True)
class WebhookOptions:
    """Per deployment (app/settings.py, OMS_WEBHOOK_*)."""

    max_attempts: int = 8
    backoff_base_seconds: float = 1.0
    backoff_max_seconds: float = 300.0
    timeout_seconds: float = 10.0
    concurrency_per_endpoint: int = 4
    # Loopback, private, link-local and other non-global targets (SSRF); on outside production.
    allow_private_targets: bool = False
    poll_seconds: float = 0.5
    lease_seconds: float = 2.0


@dataclass(frozen=True, slots=True)
class WebhookEndpoint:
    id: str
    url: str
    event_types: frozenset[str]
    description: str | None
    status: EndpointStatus
    # Kept to sign with (HMAC needs the secret itself); shown to the admin once, never read back.
    secret: str
    cursor: int  # the last event seq scanned for this endpoint: deliveries exist for every match up to it
    created_at: datetime
    updated_at: datetime
    created_by: str
    version: int = 1

    @property
    def enabled(self) -> bool:
        return self.status is EndpointStatus.ACTIVE

    @property
    def secret_hint(self) -> str:
        return f"…{self.secret[-4:]}"

    def selection(self) -> EventFilter:
        return EventFilter(types=self.event_types)

    def wants(self, event: DomainEvent) -> bool:
        return event.aggregate_type != ENDPOINT_AGGREGATE and self.selection().matches(event)


@dataclass(frozen=True, slots=True)
class DeliveryAttempt:
    at: datetime
    response_code: int | None
    latency_ms: int
    error: str | None


@dataclass(frozen=True, slots=True)
class WebhookDelivery:
    id: str
    endpoint_id: str
    event_id: str
    event_type: str
    seq: int
    aggregate_type: str
    aggregate_id: str
    status: DeliveryStatus
    attempts: int  # since it was last enqueued or replayed
    next_attempt_at: datetime
    created_at: datetime
    updated_at: datetime
    delivered_at: datetime | None = None
    response_code: int | None = None
    latency_ms: int | None = None
    last_error: str | None = None
    log: tuple[DeliveryAttempt, ...] = ()

    @property
    def aggregate(self) -> str:
        """Deliveries with the same key go out in seq order."""
        return f"{self.aggregate_type}:{self.aggregate_id}"


@dataclass(frozen=True, slots=True)
class DeliveryFilter:
    endpoint_id: str | None = None
    statuses: tuple[DeliveryStatus, ...] = ()
    event_types: tuple[str, ...] = ()
    aggregate_id: str | None = None


@dataclass(frozen=True, slots=True)
class EndpointDraft:
    """What an admin registers or changes; None leaves a field as it is (on update)."""

    url: str | None = None
    event_types: tuple[str, ...] | None = None
    description: str | None = None
    secret: str | None = None
    enabled: bool | None = None


def aggregate_key(event: DomainEvent) -> str:
    return f"{event.aggregate_type}:{event.aggregate_id}"


def check_draft(check: Validator, draft: EndpointDraft, *, creating: bool) -> None:
    """Shape checks (the service adds the address check, which needs name resolution)."""
    if creating or draft.url is not None:
        url_issue = url_problem(draft.url or "")
        check.check(url_issue is None, url_issue or "", "url")
    if draft.event_types is not None:
        check.check(len(draft.event_types) <= MAX_EVENT_TYPES, f"at most {MAX_EVENT_TYPES} event types", "eventTypes")
        for i, name in enumerate(draft.event_types):
            check.check(bool(_EVENT_TYPE.match(name)), f"{name!r} is not an event type (PascalCase, e.g. OrderCaptured)", "eventTypes", i)
            check.check(name not in _ENDPOINT_EVENTS, f"{name} is never delivered", "eventTypes", i)
    if draft.description is not None:
        check.check(len(draft.description) <= MAX_DESCRIPTION_LENGTH, f"at most {MAX_DESCRIPTION_LENGTH} characters", "description")
    if draft.secret is not None:
        check.check(
            MIN_SECRET_LENGTH <= len(draft.secret) <= MAX_SECRET_LENGTH and draft.secret.isprintable() and draft.secret.strip() == draft.secret,
            f"{MIN_SECRET_LENGTH}-{MAX_SECRET_LENGTH} printable characters without surrounding spaces",
            "secret",
        )


_ENDPOINT_EVENTS = frozenset(
    {"WebhookEndpointRegistered", "WebhookEndpointUpdated", "WebhookEndpointDeleted", "WebhookDeliveriesReplayed"}
)


def url_problem(url: str) -> str | None:
    """Why `url` cannot be a target (scheme, host, credentials, length), or None."""
    if not url or len(url) > MAX_URL_LENGTH:
        return f"a URL of at most {MAX_URL_LENGTH} characters is required"
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises on a malformed port
    except ValueError:
        return "not a valid URL"
    if parts.scheme not in ("http", "https"):
        return "only http and https URLs can receive webhooks"
    if not parts.hostname:
        return "the URL needs a host"
    if parts.username is not None or parts.password is not None:
        return "credentials in the URL are not allowed; the signature authenticates the OMS"
    if parts.fragment:
        return "the URL must not have a fragment"
    return None


def host_of(url: str) -> tuple[str, int]:
    parts = urlsplit(url)
    return parts.hostname or "", parts.port or (443 if parts.scheme == "https" else 80)


def address_refusal(address: str) -> str | None:
    """Why an IP address is not a public target (loopback, private, link-local, ...), or None."""
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return "not an IP address"
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    for name, refused in (
        ("loopback", ip.is_loopback),
        ("unspecified", ip.is_unspecified),
        ("link-local", ip.is_link_local),
        ("multicast", ip.is_multicast),
        ("private", ip.is_private),
        ("reserved", ip.is_reserved or not ip.is_global),
    ):
        if refused:
            return f"{address} is a {name} address"
    return None


def backoff_seconds(attempts: int, *, base: float, cap: float, jitter: float) -> float:
    """Delay before the next try after `attempts` failures: base × 2^(attempts-1), at most `cap`,
    of which a random half (`jitter` in [0, 1)) is taken off, so receivers recovering from an
    outage are not hit by every sender's retries at the same instant."""
    delay = min(cap, base * (2 ** max(0, attempts - 1)))
    return delay * (0.5 + 0.5 * jitter)


def after_failure(attempts: int, max_attempts: int) -> DeliveryStatus:
    return DeliveryStatus.DEAD if attempts >= max_attempts else DeliveryStatus.RETRYING
