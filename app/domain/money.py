"""Money in integer minor units: no float rounding in totals."""

from __future__ import annotations

from dataclasses import dataclass

DEFAULT_CURRENCY = "USD"


@dataclass(frozen=True, slots=True, order=True)
class Money:
    cents: int
    currency: str = DEFAULT_CURRENCY

    def __add__(self, other: Money) -> Money:
        if other.currency != self.currency:
            raise ValueError(f"cannot add {other.currency} to {self.currency}")
        return Money(self.cents + other.cents, self.currency)

    def times(self, quantity: int) -> Money:
        return Money(self.cents * quantity, self.currency)

    @classmethod
    def zero(cls, currency: str = DEFAULT_CURRENCY) -> Money:
        return cls(0, currency)
