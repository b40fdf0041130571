"""API keys: shown once, stored as a hash, revocable."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime

from app.domain.principals import Principal, Role

PREFIX = "oms"


@dataclass(frozen=True, slots=True)
class ApiKey:
    id: str
    name: str
    role: Role
    secret_hash: str
    created_at: datetime
    location_ids: frozenset[str] = frozenset()
    channel_id: str | None = None
    customer_id: str | None = None
    revoked_at: datetime | None = None

    def principal(self) -> Principal:
        return Principal(
            subject=f"apikey:{self.name}",
            role=self.role,
            location_ids=self.location_ids,
            channel_id=self.channel_id,
            customer_id=self.customer_id,
        )


def generate_secret() -> tuple[str, str, str]:
    """(key id, secret, full token). The token is `oms_<id>_<secret>`; only the secret's hash is kept."""
    key_id = secrets.token_hex(8)
    secret = secrets.token_urlsafe(32)
    return key_id, secret, f"{PREFIX}_{key_id}_{secret}"


def hash_secret(secret: str) -> str:
    # The secret has 256 bits of entropy, so one fast hash is enough (no password stretching needed).
    return hashlib.sha256(secret.encode()).hexdigest()


def parse_token(token: str) -> tuple[str, str] | None:
    parts = token.split("_", 2)
    if len(parts) != 3 or parts[0] != PREFIX or not parts[1] or not parts[2]:
        return None
    return parts[1], parts[2]


def secret_matches(key: ApiKey, secret: str) -> bool:
    return hmac.compare_digest(key.secret_hash, hash_secret(secret))
