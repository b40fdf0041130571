"""Authentication: turn a credential into a Principal, whatever the transport (HTTP header,
WebSocket connection_init payload). API keys (`oms_<id>_<secret>`) and JWT bearer tokens."""

from __future__ import annotations

import logging
import time

from app.domain.api_keys import PREFIX, ApiKey, generate_secret, hash_secret, parse_token, secret_matches
from app.domain.clock import utcnow
from app.domain.errors import ErrorCode, Unauthenticated, Validator
from app.domain.principals import ANONYMOUS_ADMIN, Principal, Role, scope_problems
from app.repositories.api_keys import ApiKeyRepository
from app.services.jwt_tokens import JwtConfig, JwtVerifier

log = logging.getLogger("oms.auth")

_CACHE_MAX_ENTRIES = 10_000
# What a client is told. Which part of a key was wrong (its id, its secret, a revocation) is logged
# only: telling a caller "that key id exists" would help whoever is guessing keys.
INVALID_API_KEY = "The API key is not valid."


class AuthService:
    """Verified API keys are cached for `key_cache_seconds` so a hot client costs no query per
    request; a revocation therefore takes effect within that window on every instance (at once
    on the instance that revoked). Failures are never cached."""

    def __init__(
        self,
        *,
        api_keys: ApiKeyRepository,
        allow_anonymous_admin: bool,
        jwt: JwtConfig | None = None,
        key_cache_seconds: float = 10.0,
    ):
        self._api_keys = api_keys
        self._allow_anonymous_admin = allow_anonymous_admin
        self._jwt = JwtVerifier(jwt, cache_seconds=key_cache_seconds) if jwt else None
        self._key_cache_seconds = key_cache_seconds
        self._cache: dict[str, tuple[float, Principal]] = {}

    async def authenticate(self, credential: str | None) -> Principal | None:
        """None when no credential was given (anonymous); Unauthenticated when one was given and is bad."""
        if not credential:
            return ANONYMOUS_ADMIN if self._allow_anonymous_admin else None
        if credential.startswith(f"{PREFIX}_"):
            return await self._api_key(credential)
        if credential.count(".") == 2:
            if self._jwt is None:
                log.info("bearer token refused", extra={"reason": "no JWT key is configured"})
                raise Unauthenticated("Bearer tokens are not accepted here.", code=ErrorCode.INVALID_CREDENTIAL)
            return self._jwt.verify(credential)
        log.info("credential refused", extra={"reason": "neither an API key nor a bearer token"})
        raise Unauthenticated(
            "The credential is neither an API key nor a bearer token.", code=ErrorCode.INVALID_CREDENTIAL
        )

    async def _api_key(self, credential: str) -> Principal:
        cached = self._cache.get(credential)
        if cached and cached[0] > time.monotonic():
            return cached[1]
        parsed = parse_token(credential)
        if parsed is None:
            log.info("API key refused", extra={"reason": "malformed"})
            raise Unauthenticated(INVALID_API_KEY, code=ErrorCode.INVALID_CREDENTIAL)
        key_id, secret = parsed
        key = await self._api_keys.get(key_id)
        if key is None or key.revoked_at is not None or not secret_matches(key, secret):
            reason = "unknown" if key is None else "revoked" if key.revoked_at is not None else "wrong secret"
            log.info("API key refused", extra={"key_id": key_id[:32], "reason": reason})
            raise Unauthenticated(INVALID_API_KEY, code=ErrorCode.INVALID_CREDENTIAL)
        principal = key.principal()
        if len(self._cache) >= _CACHE_MAX_ENTRIES:
            self._cache.clear()
        self._cache[credential] = (time.monotonic() + self._key_cache_seconds, principal)
        return principal

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
        for field, message in scope_problems(
            role, location_ids=location_ids, channel_id=channel_id, customer_id=customer_id
        ):
            check.add(f"{message} ({role} keys are scoped)", field)
        check.raise_if_any()
        key_id, secret, token = generate_secret()
        key = ApiKey(
            id=key_id,
            name=name.strip(),
            role=role,
            secret_hash=hash_secret(secret),
            created_at=utcnow(),
            # Only the scope the role uses is kept, so a key can never carry a stray scope.
            location_ids=location_ids if role in (Role.STORE_STAFF, Role.WAREHOUSE) else frozenset(),
            channel_id=channel_id if role is Role.CHANNEL else None,
            customer_id=customer_id if role is Role.CUSTOMER else None,
        )
        await self._api_keys.insert(key)
        return key, token

    async def list_api_keys(self) -> list[ApiKey]:
        return await self._api_keys.list()

    async def revoke_api_key(self, key_id: str) -> bool:
        self._cache.clear()
        return await self._api_keys.revoke(key_id, utcnow())
