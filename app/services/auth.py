"""Authentication: turn a credential into a Principal, whatever the transport (HTTP header,
WebSocket connection_init payload). API keys (`oms_<id>_<secret>`) and JWT bearer tokens."""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Protocol

from app.domain.api_keys import PREFIX, ApiKey, generate_secret, hash_secret, parse_token, secret_matches
from app.domain.clock import utcnow
from app.domain.errors import ErrorCode, Unauthenticated, Validator
from app.domain.global_ids import decode_global_id
from app.domain.principals import ANONYMOUS_ADMIN, SCOPE_OF_ROLE, Principal, Role, scope_problems, stray_scopes
from app.repositories.api_keys import ApiKeyRepository
from app.repositories.channels import ChannelRepository
from app.repositories.customers import CustomerRepository
from app.repositories.locations import LocationRepository
from app.services.jwt_tokens import JwtConfig, JwtVerifier

log = logging.getLogger("oms.auth")

_CACHE_MAX_ENTRIES = 10_000
# What a client is told. Which part of a key was wrong (its id, its secret, a revocation) is logged
# only: telling a caller "that key id exists" would help whoever is guessing keys.
INVALID_API_KEY = "The API key is not valid."


class _Identified(Protocol):
    @property
    def id(self) -> str: ...


Lookup = Callable[[list[str]], Awaitable[Sequence[_Identified]]]


class AuthService:
    """Verified API keys are cached for `key_cache_seconds` so a hot client costs no query per
    request; a revocation therefore takes effect within that window on every instance (at once
    on the instance that revoked). Failures are never cached."""

    def __init__(
        self,
        *,
        api_keys: ApiKeyRepository,
        locations: LocationRepository,
        channels: ChannelRepository,
        customers: CustomerRepository,
        allow_anonymous_admin: bool,
        jwt: JwtConfig | None = None,
        key_cache_seconds: float = 10.0,
    ):
        self._api_keys = api_keys
        self._locations = locations
        self._channels = channels
        self._customers = customers
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
            return await self._jwt.verify_async(credential)
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
        """Returns the stored key and the token, which is shown once and never stored. The scope is
        taken as given (ids as stored); `issue_api_key` is the checked way in for a person's input."""
        check = Validator()
        _check_shape(check, name, role, location_ids=location_ids, channel_id=channel_id, customer_id=customer_id)
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

    async def issue_api_key(
        self,
        *,
        name: str,
        role: Role,
        locations: Sequence[str] = (),
        channel: str | None = None,
        customer: str | None = None,
    ) -> tuple[ApiKey, str]:
        """`oms apikey create`, and any transport that takes a scope from a person: each reference
        may be a code, an id or the API's global id, and must exist; a scope the role does not use
        is refused rather than dropped. Every problem is reported at once and nothing is created
        unless all is well."""
        check = Validator()
        given = {"locations": bool(locations), "channel": bool(channel), "customer": bool(customer)}
        for field, message in stray_scopes(role, {scope for scope, present in given.items() if present}):
            check.add(message, field)
        uses = SCOPE_OF_ROLE.get(role)
        location_ids: list[str] = []
        channel_id = customer_id = None
        if uses == "locations" and locations:
            location_ids = await _resolve(check, "locations", "Location", list(dict.fromkeys(locations)), self._locations.by_ids)
        elif uses == "channel" and channel:
            channel_id = next(iter(await _resolve(check, "channel", "Channel", [channel], self._channels.by_ids)), None)
        elif uses == "customer" and customer:
            customer_id = next(iter(await _resolve(check, "customer", "Customer", [customer], self._customers.by_ids)), None)
        if check.issues:  # a scope refused above is not reported missing as well
            check.check(bool(name.strip()), "name is required", "name")
        else:
            _check_shape(check, name, role, location_ids=frozenset(location_ids), channel_id=channel_id, customer_id=customer_id)
        check.raise_if_any()
        return await self.create_api_key(
            name=name, role=role, location_ids=frozenset(location_ids), channel_id=channel_id, customer_id=customer_id
        )

    async def list_api_keys(self) -> list[ApiKey]:
        return await self._api_keys.list()

    async def revoke_api_key(self, key_id: str) -> bool:
        self._cache.clear()
        return await self._api_keys.revoke(key_id, utcnow())


def _check_shape(
    check: Validator, name: str, role: Role, *, location_ids: frozenset[str], channel_id: str | None, customer_id: str | None
) -> None:
    check.check(bool(name.strip()), "name is required", "name")
    for field, message in scope_problems(role, location_ids=location_ids, channel_id=channel_id, customer_id=customer_id):
        check.add(f"{message} ({role} keys are scoped)", field)


async def _resolve(check: Validator, field: str, type_name: str, given: list[str], lookup: Lookup) -> list[str]:
    """The stored ids of the references given as codes, ids or global ids of `type_name`; each one
    that does not exist is named in one issue on `field`, with what its global id says it is."""
    decoded = {value: decode_global_id(value) for value in given}
    wanted = set(given) | {pair[1] for pair in decoded.values() if pair and pair[0] == type_name}
    found = {item.id for item in await lookup(sorted(wanted))}
    resolved: list[str] = []
    unknown: list[str] = []
    for value in given:
        pair = decoded[value]
        if value in found:
            resolved.append(value)
        elif pair and pair[0] == type_name and pair[1] in found:
            resolved.append(pair[1])
        elif pair:
            unknown.append(f"{value} ({pair[0]} {pair[1]})")
        else:
            unknown.append(value)
    if unknown:
        noun = type_name.lower() + ("s" if len(unknown) > 1 else "")
        check.add(f"no such {noun}: {', '.join(unknown)}", field, code=ErrorCode.NOT_FOUND)
    return list(dict.fromkeys(resolved))
