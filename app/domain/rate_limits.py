"""Per-client budgets: a leaky bucket of query-cost units per client key.

Each operation pours its cost into the client's bucket; the bucket drains at `rate_per_second`.
An operation that would overflow it is refused whole (nothing poured) with the seconds until it
would fit. Pure and clock-injected. `LeakyBuckets` is the in-process bucket set (one per process);
the shared stores (app/repositories/rate_limits.py) apply the same rule in MongoDB or Redis.
"""

from __future__ import annotations

import math
from collections import OrderedDict
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Decision:
    """The bucket after an operation asked to pour its cost: `level` is how full it is now."""

    allowed: bool
    level: float
    retry_after_seconds: int = 0


@dataclass(frozen=True, slots=True)
class ThrottleStatus:
    """A client's budget as Shopify's `throttleStatus` reports it: the bucket's size, what is left
    in it now, and how many cost units come back per second."""

    maximum_available: int
    currently_available: int
    restore_rate: float


def retry_after_seconds(level: float, cost: float, *, capacity: int, rate_per_second: float) -> int:
    """Whole seconds until `cost` fits into a bucket filled to `level` (at least 1)."""
    excess = level + min(cost, capacity) - capacity
    return max(1, math.ceil(excess / rate_per_second))


def status(level: float, *, capacity: int, rate_per_second: float) -> ThrottleStatus:
    return ThrottleStatus(
        maximum_available=capacity,
        currently_available=max(0, math.floor(capacity - level)),
        restore_rate=rate_per_second,
    )


class LeakyBuckets:
    def __init__(self, *, capacity: int, rate_per_second: float, max_clients: int = 50_000):
        self.capacity = capacity
        self.rate_per_second = rate_per_second
        self._max_clients = max_clients
        # client → (level, at); least recently seen first, evicted past max_clients (an evicted
        # client restarts with an empty bucket, which only ever errs towards serving it).
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()

    @property
    def enabled(self) -> bool:
        return self.rate_per_second > 0 and self.capacity > 0

    def take(self, client: str, cost: float, now: float) -> Decision:
        if not self.enabled:
            return Decision(allowed=True, level=0.0)
        cost = min(cost, self.capacity)  # larger than the bucket: admitted only when it is empty
        level, at = self._buckets.pop(client, (0.0, now))
        level = max(0.0, level - max(0.0, now - at) * self.rate_per_second)
        if level + cost > self.capacity:
            self._remember(client, level, now)
            return Decision(
                allowed=False,
                level=level,
                retry_after_seconds=retry_after_seconds(level, cost, capacity=self.capacity, rate_per_second=self.rate_per_second),
            )
        self._remember(client, level + cost, now)
        return Decision(allowed=True, level=level + cost)

    def give_back(self, client: str, amount: float, now: float) -> Decision:
        """Return unused units (an operation cost less than it asked for); never below empty."""
        if not self.enabled:
            return Decision(allowed=True, level=0.0)
        level, at = self._buckets.pop(client, (0.0, now))
        level = max(0.0, level - max(0.0, now - at) * self.rate_per_second - amount)
        self._remember(client, level, now)
        return Decision(allowed=True, level=level)

    def _remember(self, client: str, level: float, now: float) -> None:
        self._buckets[client] = (level, now)
        while len(self._buckets) > self._max_clients:
            self._buckets.popitem(last=False)
