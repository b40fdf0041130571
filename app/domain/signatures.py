"""HMAC signatures: signed webhooks (with a timestamp for replay protection) and signed, expiring tokens.

Webhook scheme (Stripe-like): the sender signs `"{timestamp}.{raw body}"` with HMAC-SHA256 under the
shared secret and sends `X-Signature: t=<unix seconds>,v1=<hex digest>`. The receiver refuses a
signature that does not match, a timestamp outside the tolerance, and (with a nonce store) a
signature it has already seen.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from app.domain.errors import ErrorCode, DomainError

DEFAULT_TOLERANCE_SECONDS = 300


class BadSignature(DomainError):
    code = ErrorCode.UNAUTHENTICATED


@dataclass(frozen=True, slots=True)
class VerifiedWebhook:
    timestamp: int
    digest: str  # the nonce: a replay carries the same digest

    @property
    def replay_key(self) -> str:
        return hashlib.sha256(self.digest.encode()).hexdigest()


def sign(secret: str, timestamp: int, body: bytes) -> str:
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return mac.hexdigest()


def signature_header(secret: str, timestamp: int, body: bytes) -> str:
    return f"t={timestamp},v1={sign(secret, timestamp, body)}"


def verify_webhook(
    header: str | None, body: bytes, secret: str, *, now: float, tolerance: int = DEFAULT_TOLERANCE_SECONDS
) -> VerifiedWebhook:
    if not header:
        raise BadSignature("missing signature header")
    parts: dict[str, list[str]] = {}
    for item in header.split(","):
        key, _, value = item.strip().partition("=")
        parts.setdefault(key, []).append(value)
    try:
        timestamp = int(parts["t"][0])
    except (KeyError, ValueError) as exc:
        raise BadSignature("signature header has no timestamp") from exc
    expected = sign(secret, timestamp, body)
    match = next((v for v in parts.get("v1", []) if hmac.compare_digest(v, expected)), None)
    if match is None:
        raise BadSignature("signature does not match")
    if abs(now - timestamp) > tolerance:
        raise BadSignature("signature timestamp is outside the allowed window")
    return VerifiedWebhook(timestamp=timestamp, digest=match)


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def make_token(secret: str, claims: Mapping[str, Any]) -> str:
    """`<payload>.<mac>`, URL-safe. Claims must include `exp` (unix seconds)."""
    payload = _b64(json.dumps(dict(claims), separators=(",", ":"), sort_keys=True).encode())
    mac = _b64(hmac.new(secret.encode(), payload.encode(), hashlib.sha256).digest())
    return f"{payload}.{mac}"


def read_token(secret: str, token: str, *, now: float) -> dict[str, Any]:
    payload, _, mac = token.partition(".")
    expected = _b64(hmac.new(secret.encode(), payload.encode(), hashlib.sha256).digest())
    if not payload or not hmac.compare_digest(mac, expected):
        raise BadSignature("token signature does not match")
    try:
        claims = json.loads(_unb64(payload))
    except (ValueError, json.JSONDecodeError) as exc:
        raise BadSignature("token is malformed") from exc
    if not isinstance(claims, dict) or not isinstance(claims.get("exp"), int) or claims["exp"] < now:
        raise BadSignature("token has expired")
    return claims
