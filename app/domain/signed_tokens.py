"""Signed, expiring tokens (HMAC-SHA256) for URLs that must authorize their holder: document downloads."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import Mapping
from typing import Any

from app.domain.errors import DomainError, ErrorCode


class BadToken(DomainError):
    code = ErrorCode.UNAUTHENTICATED


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
        raise BadToken("token signature does not match")
    try:
        claims = json.loads(_unb64(payload))
    except (ValueError, json.JSONDecodeError) as exc:
        raise BadToken("token is malformed") from exc
    if not isinstance(claims, dict) or not isinstance(claims.get("exp"), int) or claims["exp"] < now:
        raise BadToken("token has expired")
    return claims
