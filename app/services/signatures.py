"""Verifying signed webhooks: HMAC and timestamp (app/domain/signatures.py), then the nonce, once."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from datetime import datetime, timezone

from app.domain.clock import utcnow
from app.domain.signatures import DEFAULT_TOLERANCE_SECONDS, SignatureError, SignedRequest, verify
from app.repositories.signatures import WebhookNonceRepository

log = logging.getLogger("oms.webhooks")


class SignatureService:
    def __init__(
        self,
        *,
        nonces: WebhookNonceRepository,
        tolerance_seconds: int = DEFAULT_TOLERANCE_SECONDS,
        clock: Callable[[], float] = time.time,
    ):
        self._nonces = nonces
        self._tolerance = tolerance_seconds
        self._clock = clock

    async def verify(self, source: str, secrets: Sequence[str | bytes], header: str | None, body: bytes) -> SignedRequest:
        """Raises SignatureError (reason missing / malformed / stale / mismatch / replayed) unless the
        request is signed with one of `secrets`, fresh, and its nonce is new for `source`.
        `body` must be the raw bytes received, before any parsing."""
        try:
            signed = verify(secrets, header, body, now=self._clock(), tolerance_seconds=self._tolerance)
        except SignatureError as exc:
            log.warning("webhook signature refused", extra={"source": source, "reason": exc.reason})
            raise
        expires_at = datetime.fromtimestamp(signed.timestamp + self._tolerance + 1, timezone.utc)
        if not await self._nonces.claim(source, signed.nonce, seen_at=utcnow(), expires_at=expires_at):
            log.warning("webhook replay refused", extra={"source": source})
            raise SignatureError("replayed")
        return signed
