"""Payment providers: the adapter interface refunds and exchange charges go through, and the
built-in provider that records them as done.

A real provider (Stripe, Adyen, a marketplace's refund API) plugs in by implementing
`PaymentProvider` and registering it under the provider code orders carry on their payments.
Refunds are asked for after the transaction that records them PENDING has committed (so a losing
racer never reaches the provider), and asked again by the scheduler if they were never settled;
every attempt sends the same `idempotency_key` (the refund's id and payment share), which a real
adapter must pass to its provider (Stripe's `Idempotency-Key`) so a retry never pays twice.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from app.domain.money import Money

BUILT_IN_CODE = "recorded"


@dataclass(frozen=True, slots=True)
class ProviderRequest:
    """Give back (or charge) `amount` against the capture the provider knows as `payment_reference`."""

    provider: str
    payment_reference: str | None  # None: MANUAL refund of an order captured without payments
    amount: Money
    idempotency_key: str
    reason: str | None = None


@dataclass(frozen=True, slots=True)
class ProviderResult:
    accepted: bool
    provider_reference: str  # the provider's id for the refund or charge
    message: str | None = None


@runtime_checkable
class PaymentProvider(Protocol):
    code: str

    async def refund(self, request: ProviderRequest) -> ProviderResult: ...

    async def charge(self, request: ProviderRequest) -> ProviderResult: ...


class RecordingProvider:
    """Built in: accepts every refund and charge and records it, with a reference derived from the
    idempotency key (so a retried request gets the same reference). Stands in for any provider code
    no real adapter is registered for."""

    code = BUILT_IN_CODE

    async def refund(self, request: ProviderRequest) -> ProviderResult:
        return ProviderResult(accepted=True, provider_reference=f"re_{request.idempotency_key}")

    async def charge(self, request: ProviderRequest) -> ProviderResult:
        return ProviderResult(accepted=True, provider_reference=f"ch_{request.idempotency_key}")


class PaymentProviders:
    """Providers by code; codes without an adapter go to the built-in recording provider."""

    def __init__(self, providers: Iterable[PaymentProvider] = (), *, fallback: PaymentProvider | None = None):
        self._providers = {p.code.lower(): p for p in providers}
        self._fallback = fallback or RecordingProvider()

    def get(self, code: str) -> PaymentProvider:
        return self._providers.get(code.lower(), self._fallback)
