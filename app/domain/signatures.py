"""HMAC-SHA256 signatures for inbound webhooks (carriers, marketplaces), with replay protection.

The sender puts one header on the request:

    X-OMS-Signature: t=<unix seconds>,n=<nonce>,v1=<hex HMAC-SHA256>

where the HMAC is over the bytes `f"{t}.{n}.".encode() + raw_body` with the shared secret. Several
`v1=` entries are allowed (a sender signing with an old and a new secret during a rotation), and
the receiver may hold several secrets too. The timestamp must be within the tolerance of the
receiver's clock; the nonce must not have been seen before (`app/services/signatures.py` records
it in MongoDB until the timestamp falls out of the tolerance, after which the time check refuses
a replay anyway).
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets as _secrets
from collections.abc import Sequence
from dataclasses import dataclass

from app.domain.errors import DomainError, ErrorCode

SIGNATURE_HEADER = "X-OMS-Signature"
DEFAULT_TOLERANCE_SECONDS = 300
_NONCE = re.compile(r"^[A-Za-z0-9_-]{16,128}$")
_HEX = re.compile(r"^[0-9a-f]{64}$")
_MAX_HEADER = 1_024


class SignatureError(DomainError):
    """The request is not provably from the holder of the secret. `reason` is one of `missing`,
    `malformed`, `stale`, `mismatch`, `replayed`: for logs and metrics; clients get one answer."""

    code = ErrorCode.UNAUTHENTICATED

    def __init__(self, reason: str):
        super().__init__(f"webhook signature refused: {reason}")
        self.reason = reason


@dataclass(frozen=True, slots=True)
class SignedRequest:
    timestamp: int
    nonce: str
    signatures: tuple[str, ...]


def _as_bytes(secret: str | bytes) -> bytes:
    return secret.encode() if isinstance(secret, str) else secret


def _mac(secret: str | bytes, body: bytes, timestamp: int, nonce: str) -> str:
    return hmac.new(_as_bytes(secret), f"{timestamp}.{nonce}.".encode() + body, hashlib.sha256).hexdigest()


def new_nonce() -> str:
    return _secrets.token_urlsafe(24)


def sign(secret: str | bytes, body: bytes, *, timestamp: int, nonce: str | None = None) -> str:
    """The header value for `body`, as a sender (or a test) produces it."""
    nonce = nonce or new_nonce()
    if not _NONCE.match(nonce):
        raise ValueError("nonce must be 16-128 characters of A-Z a-z 0-9 _ -")
    return f"t={timestamp},n={nonce},v1={_mac(secret, body, timestamp, nonce)}"


def parse_header(value: str | None) -> SignedRequest:
    if not value:
        raise SignatureError("missing")
    if len(value) > _MAX_HEADER:
        raise SignatureError("malformed")
    timestamp: int | None = None
    nonce: str | None = None
    signatures: list[str] = []
    for part in value.split(","):
        key, sep, item = part.strip().partition("=")
        if not sep:
            raise SignatureError("malformed")
        if key == "t" and item.isdigit() and len(item) <= 12 and timestamp is None:
            timestamp = int(item)
        elif key == "n" and _NONCE.match(item) and nonce is None:
            nonce = item
        elif key == "v1" and _HEX.match(item):
            signatures.append(item)
        elif key not in ("t", "n", "v1"):
            continue  # later schemes (v2=...) are ignored, not refused
        else:
            raise SignatureError("malformed")
    if timestamp is None or nonce is None or not signatures:
        raise SignatureError("malformed")
    return SignedRequest(timestamp=timestamp, nonce=nonce, signatures=tuple(signatures))


def verify(
    secrets: Sequence[str | bytes],
    header: str | None,
    body: bytes,
    *,
    now: float,
    tolerance_seconds: int = DEFAULT_TOLERANCE_SECONDS,
) -> SignedRequest:
    """The parsed header when one of its signatures matches one of `secrets` and its timestamp is
    within `tolerance_seconds` of `now`; SignatureError otherwise. The nonce is NOT checked here:
    use `SignatureService.verify`, which also refuses a nonce seen before."""
    if not secrets:
        raise SignatureError("missing")  # no secret configured: nothing can be verified
    signed = parse_header(header)
    if abs(now - signed.timestamp) > tolerance_seconds:
        raise SignatureError("stale")
    expected = [_mac(secret, body, signed.timestamp, signed.nonce) for secret in secrets]
    # Every comparison runs, so timing says nothing about which secret or entry came close.
    matched = False
    for candidate in signed.signatures:
        for mac in expected:
            matched |= hmac.compare_digest(candidate, mac)
    if not matched:
        raise SignatureError("mismatch")
    return signed
