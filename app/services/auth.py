"""Authentication: turn a credential into a Principal, whatever the transport (HTTP header,
WebSocket connection_init payload)."""

from __future__ import annotations

import time

from app.domain.api_keys import ApiKey, generate_secret, hash_secret, parse_token, secret_matches
from app.domain.clock import utcnow
from app.domain.errors import Unauthenticated, Validator
from app.domain.principals import ANONYMOUS_ADMIN, Principal, Role
from app.repositories.api_keys import ApiKeyRepository

# Verified keys are cached briefly so a hot client costs no extra query per request;
# a revocation takes effect within this many seconds on every instance.
KEY_CACHE_SECONDS = 10.0


class AuthService:
    def __init__(self, *, api_keys: ApiKeyRepository, allow_anonymous_admin: bool):
        self._api_keys = api_keys
        self._allow_anonymous_admin = allow_anonymous_admin
        self._cache: dict[str, tuple[float, Principal]] = {}

    async def authenticate(self, credential: str | None) -> Principal | None:
        """None when no credential was given (anonymous); Unauthenticated when one was given and is bad."""
        if not credential:
            return ANONYMOUS_ADMIN if self._allow_anonymous_admin else None
        cached = self._cache.get(credential)
        if cached and cached[0] > time.monotonic():
            return cached[1]
        principal = await self._verify(credential)
        self._cache[credential] = (time.monotonic() + KEY_CACHE_SECONDS, principal)
        if len(self._cache) > 10_000:
            self._cache.clear()
        return principal

    async def _verify(self, credential: str) -> Principal:
        parsed = parse_token(credential)
        if parsed is None:
            raise Unauthenticated("credential is not a valid API key")
        key_id, secret = parsed
        key = await self._api_keys.get(key_id)
        if key is None or key.revoked_at is not None or not secret_matches(key, secret):
            raise Unauthenticated("API key is unknown or revoked")
        return key.principal()

    async def create_api_key(
        self,
        *,
        name: str,
        role: Role,
        location_ids: frozenset[str] = frozenset(),
        channel_id: str | None = None,
        customer_id: str | None = None,
    ) -> tuple[ApiKey, str]:
        """Returns the stored key and the token, which is shown once and never stored."""
        check = Validator()
        check.check(bool(name.strip()), "name is required", "name")
        if role in (Role.STORE_STAFF, Role.WAREHOUSE):
            check.check(bool(location_ids), f"{role} keys need at least one location", "locations")
        if role is Role.CHANNEL:
            check.check(bool(channel_id), "CHANNEL keys need a channel", "channel")
        if role is Role.CUSTOMER:
            check.check(bool(customer_id), "CUSTOMER keys need a customer", "customer")
        check.raise_if_any()
        key_id, secret, token = generate_secret()
        key = ApiKey(
            id=key_id,
            name=name.strip(),
            role=role,
            secret_hash=hash_secret(secret),
            created_at=utcnow(),
            location_ids=location_ids,
            channel_id=channel_id,
            customer_id=customer_id,
        )
        await self._api_keys.insert(key)
        return key, token

    async def revoke_api_key(self, key_id: str) -> bool:
        self._cache.clear()
        return await self._api_keys.revoke(key_id, utcnow())
