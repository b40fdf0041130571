"""Sending one webhook request: the target's addresses checked (SSRF), the body signed with the
inbound webhooks' scheme (app/domain/signatures.py `sign`), one POST under an overall deadline.

The body is the event log's wire envelope with the one event (`app/domain/events.py`
`encode_envelope`: `{"v":1,"events":[{id, type, aggregateType, aggregateId, at, actor, payload,
reason, seq, keys}]}`), so a receiver parses webhooks and subscription events alike.
"""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import Callable

import httpx

from app.domain.clock import utcnow
from app.domain.events import DomainEvent, encode_envelope
from app.domain.signatures import SIGNATURE_HEADER, sign
from app.domain.webhooks import DeliveryAttempt, WebhookDelivery, WebhookEndpoint, address_refusal, host_of

DELIVERY_HEADER = "X-OMS-Delivery"
EVENT_TYPE_HEADER = "X-OMS-Event-Type"
EVENT_SEQ_HEADER = "X-OMS-Event-Seq"
USER_AGENT = "oms-webhooks/1"
_MAX_ERROR = 300


async def target_refusal(url: str, *, allow_private: bool) -> str | None:
    """Why the OMS will not send to `url`'s host (it resolves to a loopback, private, link-local ...
    address, or not at all), or None. Checked at registration and again before every request,
    since a name may be pointed elsewhere later."""
    if allow_private:
        return None
    host, port = host_of(url)
    literal = address_refusal(host)
    if literal is None:
        return None  # a public IP literal
    if literal != "not an IP address":
        return f"refused target: {literal}"
    try:
        infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except OSError:
        return f"refused target: {host} does not resolve"
    for info in infos:
        refusal = address_refusal(str(info[4][0]))
        if refusal is not None:
            return f"refused target: {host} resolves to {refusal}"
    return None


class WebhookSender:
    def __init__(self, *, timeout_seconds: float, allow_private: bool, clock: Callable[[], float] = time.time):
        self._timeout = timeout_seconds
        self._allow_private = allow_private
        self._clock = clock
        # No redirects (a 3xx could point inside the network) and no proxies from the environment.
        self._client = httpx.AsyncClient(
            timeout=httpx.Timeout(timeout_seconds),
            follow_redirects=False,
            trust_env=False,
            limits=httpx.Limits(max_connections=200, max_keepalive_connections=50),
            headers={"User-Agent": USER_AGENT},
        )

    async def close(self) -> None:
        await self._client.aclose()

    async def send(self, endpoint: WebhookEndpoint, delivery: WebhookDelivery, event: DomainEvent) -> DeliveryAttempt:
        started = time.perf_counter()
        at = utcnow()
        refusal = await target_refusal(endpoint.url, allow_private=self._allow_private)
        if refusal is not None:
            return DeliveryAttempt(at=at, response_code=None, latency_ms=0, error=refusal)
        body = encode_envelope([event]).encode()
        headers = {
            "Content-Type": "application/json",
            # A fresh nonce and timestamp per attempt: receivers refuse a nonce they have seen.
            SIGNATURE_HEADER: sign(endpoint.secret, body, timestamp=int(self._clock())),
            DELIVERY_HEADER: delivery.id,
            EVENT_TYPE_HEADER: event.type,
            EVENT_SEQ_HEADER: str(event.seq),
        }
        code: int | None = None
        error: str | None = None
        try:
            # httpx's timeout bounds each phase; this bounds the whole exchange (a trickling answer).
            async with asyncio.timeout(self._timeout):
                async with self._client.stream("POST", endpoint.url, content=body, headers=headers) as response:
                    code = response.status_code  # the body is never read: only the status counts
        except TimeoutError:
            error = f"timed out after {self._timeout:g} s"
        except httpx.TimeoutException:
            error = f"timed out after {self._timeout:g} s"
        except httpx.HTTPError as exc:
            error = f"{type(exc).__name__}: {exc}"[:_MAX_ERROR] or type(exc).__name__
        latency_ms = int((time.perf_counter() - started) * 1000)
        if code is not None and not 200 <= code < 300:
            error = f"HTTP {code}"
        return DeliveryAttempt(at=at, response_code=code, latency_ms=latency_ms, error=error)
