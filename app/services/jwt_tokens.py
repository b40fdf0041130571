"""JWT bearer tokens for frontends: verified against one configured key, claims → Principal."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Any

import jwt

from app.domain.errors import ErrorCode, Unauthenticated
from app.domain.principals import Principal, principal_from_claims

log = logging.getLogger("oms.auth")

_SYMMETRIC = frozenset({"HS256", "HS384", "HS512"})
_ASYMMETRIC = frozenset({"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"})
_MIN_SECRET_BYTES = {"HS256": 32, "HS384": 48, "HS512": 64}


@dataclass(frozen=True, slots=True)
class JwtConfig:
    """`key` is the HS* shared secret, or the issuer's PEM public key for RS*/PS*/ES*/EdDSA.
    One family only: mixing HMAC and public-key algorithms is how algorithm-confusion attacks work."""

    key: str
    algorithms: tuple[str, ...] = ("HS256",)
    issuer: str | None = None
    audience: str | None = None
    leeway_seconds: int = 30
    claim_prefix: str = "oms_"

    def __post_init__(self) -> None:
        algorithms = set(self.algorithms)
        unknown = algorithms - _SYMMETRIC - _ASYMMETRIC
        if not algorithms or unknown:
            raise ValueError(f"OMS_JWT_ALGORITHMS: unsupported {sorted(unknown) or 'empty list'}")
        if algorithms & _SYMMETRIC and algorithms & _ASYMMETRIC:
            raise ValueError("OMS_JWT_ALGORITHMS: do not mix HS* with public-key algorithms")
        for name in algorithms & _SYMMETRIC:
            if len(self.key.encode()) < _MIN_SECRET_BYTES[name]:
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
        self._keys: dict[str, Any] = {
            name: jwt.get_algorithm_by_name(name).prepare_key(config.key) for name in config.algorithms
        }
        required = ["exp", "sub"]
        if config.issuer:
            required.append("iss")
        if config.audience:
            required.append("aud")
        self._options: dict[str, Any] = {"require": required}

    def verify(self, token: str) -> Principal:
        cached = self._cache.get(token)
        if cached and cached[0] > time.monotonic() and cached[1] > time.time():
            return cached[2]
        config = self._config
        try:
            algorithm = jwt.get_unverified_header(token).get("alg")
            if algorithm not in self._keys:
                raise jwt.InvalidAlgorithmError(f"algorithm {algorithm!r} is not accepted")
            claims = jwt.decode(
                token,
                self._keys[algorithm],
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
