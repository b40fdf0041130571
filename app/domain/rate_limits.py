"""Per-client budgets: a leaky bucket of query-cost units per client key.

Each operation pours its cost into the client's bucket; the bucket drains at `rate_per_second`.
An operation that would overflow it is refused whole (nothing poured) with the seconds until it
would fit. Pure and clock-injected: the composition root owns one instance per process.
"""

from __future__ import annotations

import math
from collections import OrderedDict
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Decision:
    allowed: bool
    level: float
    retry_after_seconds: int = 0


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

    def take(self, client: str, cost: int, now: float) -> Decision:
        if not self.enabled:
            return Decision(allowed=True, level=0.0)
        cost = min(cost, self.capacity)  # larger than the bucket: admitted only when it is empty
        level, at = self._buckets.pop(client, (0.0, now))
        level = max(0.0, level - max(0.0, now - at) * self.rate_per_second)
        if level + cost > self.capacity:
            self._remember(client, level, now)
            excess = level + cost - self.capacity
            return Decision(allowed=False, level=level, retry_after_seconds=max(1, math.ceil(excess / self.rate_per_second)))
        self._remember(client, level + cost, now)
        return Decision(allowed=True, level=level + cost)

    def _remember(self, client: str, level: float, now: float) -> None:
        self._buckets[client] = (level, now)
        while len(self._buckets) > self._max_clients:
            self._buckets.popitem(last=False)
