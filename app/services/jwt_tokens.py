"""JWT bearer tokens for frontends: verified against one configured key or the identity provider's
JWKS (app/services/jwks.py), claims → Principal."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Any

import jwt

from app.domain.errors import ErrorCode, Unauthenticated
from app.domain.principals import Principal, principal_from_claims
from app.services.jwks import JwksKeys

log = logging.getLogger("oms.auth")

_SYMMETRIC = frozenset({"HS256", "HS384", "HS512"})
_ASYMMETRIC = frozenset({"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"})
_MIN_SECRET_BYTES = {"HS256": 32, "HS384": 48, "HS512": 64}


@dataclass(frozen=True, slots=True)
class JwtConfig:
    """`key` is the HS* shared secret, or the issuer's PEM public key for RS*/PS*/ES*/EdDSA; or,
    instead of a key, `jwks_url`: the identity provider's key set (public-key algorithms only).
    One family only: mixing HMAC and public-key algorithms is how algorithm-confusion attacks work."""

    key: str | None = None
    algorithms: tuple[str, ...] = ("HS256",)
    issuer: str | None = None
    audience: str | None = None
    leeway_seconds: int = 30
    claim_prefix: str = "oms_"
    jwks_url: str | None = None
    # Least time between two fetches of the JWKS (an unknown kid asks for one), and the most a
    # fetched set is kept before it is fetched again.
    jwks_refresh_seconds: float = 30.0
    jwks_max_age_seconds: float = 3600.0

    def __post_init__(self) -> None:
        if (self.key is None) == (self.jwks_url is None):
            raise ValueError("JWT: configure either OMS_JWT_KEY (or OMS_JWT_KEY_FILE) or OMS_JWT_JWKS_URL, not both")
        if self.jwks_url is not None:
            if not self.jwks_url.startswith(("https://", "http://")):
                raise ValueError("OMS_JWT_JWKS_URL must be an http(s) URL")
            if set(self.algorithms) & _SYMMETRIC:
                raise ValueError("OMS_JWT_ALGORITHMS: a JWKS holds public keys; HS* algorithms cannot be used with it")
        algorithms = set(self.algorithms)
        unknown = algorithms - _SYMMETRIC - _ASYMMETRIC
        if not algorithms or unknown:
            raise ValueError(f"OMS_JWT_ALGORITHMS: unsupported {sorted(unknown) or 'empty list'}")
        if algorithms & _SYMMETRIC and algorithms & _ASYMMETRIC:
            raise ValueError("OMS_JWT_ALGORITHMS: do not mix HS* with public-key algorithms")
        for name in algorithms & _SYMMETRIC:
            if len((self.key or "").encode()) < _MIN_SECRET_BYTES[name]:
                raise ValueError(f"OMS_JWT_KEY: {name} needs a secret of at least {_MIN_SECRET_BYTES[name]} bytes")


_CACHE_MAX_ENTRIES = 10_000
INVALID_TOKEN = "The token is not valid."


class JwtVerifier:
    """Verified tokens are remembered for up to `cache_seconds` (never past their `exp`), so a
    frontend's repeated requests cost a dict lookup rather than a signature check (~0.2 ms)."""

    def __init__(self, config: JwtConfig, *, cache_seconds: float = 10.0):
        self._config = config
        self._cache_seconds = cache_seconds
        self._cache: dict[str, tuple[float, float, Principal]] = {}
        # Keys parsed once (a PEM parse per request would cost more than the signature check);
        # this also refuses a public key configured as an HMAC secret at startup.
        self._keys: dict[str, Any] = (
            {name: jwt.get_algorithm_by_name(name).prepare_key(config.key) for name in config.algorithms}
            if config.key is not None
            else {}
        )
        self.jwks = (
            JwksKeys(
                config.jwks_url,
                algorithms=config.algorithms,
                refresh_interval_seconds=config.jwks_refresh_seconds,
                max_age_seconds=config.jwks_max_age_seconds,
            )
            if config.jwks_url is not None
            else None
        )
        required = ["exp", "sub"]
        if config.issuer:
            required.append("iss")
        if config.audience:
            required.append("aud")
        self._options: dict[str, Any] = {"require": required}

    def verify(self, token: str) -> Principal:
        """With a configured key (no JWKS)."""
        cached = self._cached(token)
        if cached is not None:
            return cached
        return self._decode(token, lambda algorithm, kid: self._keys[algorithm])

    async def verify_async(self, token: str) -> Principal:
        """With either: the JWKS may have to be fetched first (without blocking the event loop)."""
        if self.jwks is None:
            return self.verify(token)
        cached = self._cached(token)
        if cached is not None:
            return cached
        key = None
        try:
            header = jwt.get_unverified_header(token)
            algorithm, kid = header.get("alg"), header.get("kid")
            if algorithm in self._config.algorithms:
                key = await self.jwks.key_for(kid if isinstance(kid, str) else None, algorithm)
        except jwt.PyJWTError as exc:
            log.info("bearer token refused", extra={"reason": str(exc)[:200]})
            raise Unauthenticated(INVALID_TOKEN, code=ErrorCode.INVALID_CREDENTIAL) from exc
        return self._decode(token, lambda algorithm, kid: key)

    def _cached(self, token: str) -> Principal | None:
        cached = self._cache.get(token)
        if cached and cached[0] > time.monotonic() and cached[1] > time.time():
            return cached[2]
        return None

    def _decode(self, token: str, key_for: Any) -> Principal:
        config = self._config
        try:
            header = jwt.get_unverified_header(token)
            algorithm = header.get("alg")
            if algorithm not in config.algorithms:
                raise jwt.InvalidAlgorithmError(f"algorithm {algorithm!r} is not accepted")
            claims = jwt.decode(
                token,
                key_for(algorithm, header.get("kid")),
                algorithms=[algorithm],
                audience=config.audience,
                issuer=config.issuer,
                leeway=config.leeway_seconds,
                options=self._options,
            )
        except jwt.ExpiredSignatureError as exc:
            # Only a token whose signature verified gets this far: saying "expired" reveals nothing.
            log.info("bearer token refused", extra={"reason": "expired"})
            raise Unauthenticated("The token has expired.", code=ErrorCode.CREDENTIAL_EXPIRED) from exc
        except jwt.PyJWTError as exc:
            log.info("bearer token refused", extra={"reason": str(exc)[:200]})
            raise Unauthenticated(INVALID_TOKEN, code=ErrorCode.INVALID_CREDENTIAL) from exc
        try:
            principal = principal_from_claims(claims, prefix=config.claim_prefix)
        except Unauthenticated as exc:
            log.info("bearer token refused", extra={"reason": exc.message})
            raise Unauthenticated(INVALID_TOKEN, code=ErrorCode.INVALID_CREDENTIAL) from exc
        if len(self._cache) >= _CACHE_MAX_ENTRIES:
            self._cache.clear()
        self._cache[token] = (time.monotonic() + self._cache_seconds, float(claims["exp"]), principal)
        return principal
