"""The identity provider's signing keys, from its JWKS URL (OMS_JWT_JWKS_URL).

Fetched on first use and kept: a token names its key (`kid`), found in memory. An unknown `kid`
(the IdP rotated its keys) fetches the set again at once, and after that at most once per
`refresh_interval_seconds`, so a flood of tokens with made-up kids costs the IdP one request per
interval, not one per token; the tokens in between are refused from memory. The set is also fetched again once it is `max_age_seconds`
old. Fetching is async (httpx) and shared: concurrent requests wait for one fetch, the event loop
never blocks. When the IdP cannot be reached the keys already known keep working.

Only public keys of the configured algorithms are used: symmetric (`oct`) keys and keys meant
for encryption are skipped, and a key declaring its `alg` verifies only tokens of that algorithm.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from typing import Any

import httpx
import jwt

log = logging.getLogger("oms.auth")

# The key type each algorithm family needs: an RSA key never verifies an ES256 token, and so on.
_KEY_TYPE = {"RS": "RSA", "PS": "RSA", "ES": "EC", "Ed": "OKP"}
_MAX_KEYS = 100
_MAX_BYTES = 256 * 1024


class JwksKeys:
    def __init__(
        self,
        url: str,
        *,
        algorithms: tuple[str, ...],
        refresh_interval_seconds: float = 30.0,
        max_age_seconds: float = 3600.0,
        timeout_seconds: float = 5.0,
        clock: Callable[[], float] = time.monotonic,
    ):
        self.url = url
        self._algorithms = frozenset(algorithms)
        self._refresh_interval = refresh_interval_seconds
        self._max_age = max_age_seconds
        self._timeout = timeout_seconds
        self._clock = clock
        self._keys: dict[str, jwt.PyJWK] = {}
        self._fetched_at: float | None = None  # last successful fetch
        self._attempted_at: float | None = None  # last fetch, successful or not
        self._kid_refresh_at: float | None = None  # last fetch asked for by an unknown kid
        self._fetching: asyncio.Task[None] | None = None
        self.fetches = 0

    async def key_for(self, kid: str | None, algorithm: str) -> Any:
        """The public key that verifies a token with this header; jwt.InvalidKeyError otherwise."""
        now = self._clock()
        if self._fetched_at is None or now - self._fetched_at > self._max_age:
            await self._refresh()
        key = self._lookup(kid)
        if key is None and (self._kid_refresh_at is None or now - self._kid_refresh_at >= self._refresh_interval):
            # Perhaps a rotation: the IdP signs with a key we have not seen yet. At once the first
            # time, then at most once per interval, however many unknown kids arrive.
            self._kid_refresh_at = now
            await self._refresh(force=True)
            key = self._lookup(kid)
        if key is None:
            raise jwt.InvalidKeyError(f"no key {kid!r} in the JWKS")
        declared = key.algorithm_name if "alg" in key._jwk_data else None  # noqa: SLF001 - PyJWK keeps what the IdP said
        if declared is not None and declared != algorithm:
            raise jwt.InvalidAlgorithmError(f"key {kid!r} is for {declared}, not {algorithm}")
        if _KEY_TYPE.get(algorithm[:2]) != key.key_type:
            raise jwt.InvalidAlgorithmError(f"key {kid!r} is a {key.key_type} key, not one for {algorithm}")
        return key.key

    def _lookup(self, kid: str | None) -> jwt.PyJWK | None:
        if kid is None:  # a token without kid: only when the set holds a single key
            return next(iter(self._keys.values())) if len(self._keys) == 1 else None
        return self._keys.get(kid)

    def _may_refresh(self) -> bool:
        return self._attempted_at is None or self._clock() - self._attempted_at >= self._refresh_interval

    async def _refresh(self, *, force: bool = False) -> None:
        """One fetch at a time, whoever asks; a waiter that is cancelled does not cancel it."""
        if self._fetching is None or self._fetching.done():
            if not force and not self._may_refresh():  # an IdP that failed a moment ago is not asked again yet
                return
            self._attempted_at = self._clock()
            self._fetching = asyncio.create_task(self._fetch())
        await asyncio.shield(self._fetching)

    async def _fetch(self) -> None:
        self.fetches += 1
        try:
            async with httpx.AsyncClient(timeout=self._timeout, follow_redirects=False) as client:
                response = await client.get(self.url, headers={"Accept": "application/json"})
            response.raise_for_status()
            if len(response.content) > _MAX_BYTES:
                raise ValueError(f"the JWKS is larger than {_MAX_BYTES} bytes")
            keys = self._usable(response.json())
        except Exception as exc:  # noqa: BLE001 - the IdP's trouble: keep the keys we have
            log.warning(
                "JWKS could not be fetched; keeping the %d keys known", len(self._keys),
                extra={"url": self.url, "error": f"{type(exc).__name__}: {str(exc)[:200]}"},
            )
            return
        self._keys = keys
        self._fetched_at = self._clock()
        log.info("JWKS fetched", extra={"url": self.url, "kids": sorted(keys)})

    def _usable(self, document: Any) -> dict[str, jwt.PyJWK]:
        if not isinstance(document, dict) or not isinstance(document.get("keys"), list):
            raise ValueError("not a JWKS: no `keys` list")
        usable: dict[str, jwt.PyJWK] = {}
        for entry in document["keys"][:_MAX_KEYS]:
            if not isinstance(entry, dict) or entry.get("kty") == "oct" or entry.get("use", "sig") != "sig":
                continue
            if "alg" in entry and entry["alg"] not in self._algorithms:
                continue
            try:
                key = jwt.PyJWK(entry)
            except jwt.PyJWTError as exc:
                log.info("JWKS key skipped", extra={"kid": entry.get("kid"), "error": str(exc)[:200]})
                continue
            usable[str(entry.get("kid", ""))] = key
        return usable
