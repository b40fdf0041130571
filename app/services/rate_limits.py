"""Client budgets: every operation pours its static cost into the caller's leaky bucket, and gives
back what it did not use once it has run (the way Shopify's throttle works). With a shared store,
what is given back travels with the client's next charge: one round trip per operation.

Where the buckets live is a deployment choice (OMS_RATE_LIMIT_STORAGE, docs/OPERATIONS.md):
`mongodb` (the default) or `redis` share one bucket per client among every instance; `memory`
keeps one per process (N instances then allow N times the budget).

A shared store that fails or does not answer within its bound (app/repositories/rate_limits.py) fails *open to the
process's own buckets*: requests are still served and still limited, per instance, rather than
all refused or all answered 500. The store is tried again `outage_seconds` later, so a dead store
costs one bounded wait per outage window, not one per request. Logged once per outage.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable

from app.domain.rate_limits import Decision, LeakyBuckets, ThrottleStatus, retry_after_seconds, status
from app.repositories.database import Mongo
from app.repositories.rate_limits import BucketStore, MongoBuckets, RedisBuckets

log = logging.getLogger("oms.rate_limits")

STORAGES = ("memory", "mongodb", "redis")
_MAX_CREDITS = 50_000


class ClientBudgets:
    def __init__(
        self,
        *,
        capacity: int,
        rate_per_second: float,
        store: BucketStore | None = None,
        outage_seconds: float = 5.0,
        clock: Callable[[], float] = time.monotonic,
    ):
        self.capacity = capacity
        self.rate_per_second = rate_per_second
        self._store = store
        self._local = LeakyBuckets(capacity=capacity, rate_per_second=rate_per_second)
        self._outage_seconds = outage_seconds
        self._clock = clock
        self._store_down_until: float | None = None
        # Units given back, per client, not yet sent to the shared store (they go with the next charge).
        self._credits: dict[str, int] = {}

    @property
    def enabled(self) -> bool:
        return self._local.enabled

    @property
    def storage(self) -> str:
        return self._store.name if self._store is not None else "memory"

    @property
    def degraded(self) -> bool:
        """True while a shared store is down and this process counts on its own."""
        return self._store_down_until is not None and self._clock() < self._store_down_until

    async def take(self, client: str, cost: int) -> Decision:
        """Pour `cost` into the client's bucket, or refuse it whole with the seconds until it fits."""
        if not self.enabled:
            return Decision(allowed=True, level=0.0)
        cost = min(cost, self.capacity)  # larger than the bucket: admitted only when it is empty
        credit = self._credits.pop(client, 0)
        shared = await self._pour(client, cost, credit)
        if shared is None:
            return self._local.take(client, cost, self._clock())
        poured, level = shared
        if poured:
            return Decision(allowed=True, level=level)
        wait = retry_after_seconds(level, cost, capacity=self.capacity, rate_per_second=self.rate_per_second)
        return Decision(allowed=False, level=level, retry_after_seconds=wait)

    def give_back(self, client: str, amount: int, *, level: float) -> Decision:
        """Return units an operation was charged but did not use; `level` is the bucket after its
        charge. With a shared store the units ride along with the client's next charge from this
        process (one round trip per operation, not two); until then the bucket looks fuller than it
        is, which only ever errs towards refusing, never towards overspending."""
        if not self.enabled or amount <= 0:
            return Decision(allowed=True, level=level)
        if self._store is None or self.degraded:
            return self._local.give_back(client, amount, self._clock())
        if client not in self._credits and len(self._credits) >= _MAX_CREDITS:
            self._credits.pop(next(iter(self._credits)))  # the oldest: forgetting a credit only errs towards refusing
        self._credits[client] = self._credits.get(client, 0) + amount
        return Decision(allowed=True, level=max(0.0, level - amount))

    async def status(self, client: str) -> ThrottleStatus:
        """The client's budget now (pouring nothing)."""
        level = (await self.take(client, 0)).level if self.enabled else 0.0
        return self.status_at(level)

    def status_at(self, level: float) -> ThrottleStatus:
        return status(level, capacity=self.capacity, rate_per_second=self.rate_per_second)

    async def _pour(self, client: str, cost: float, credit: float = 0.0) -> tuple[bool, float] | None:
        """The shared store's answer, or None: no store, or it is down (use the local buckets)."""
        if self._store is None:
            return None
        if self._store_down_until is not None:
            if self._clock() < self._store_down_until:
                return None
            self._store_down_until = None
            log.warning("rate-limit store is answering again", extra={"storage": self._store.name})
        try:
            return await self._store.pour(
                client, cost, capacity=self.capacity, rate_per_second=self.rate_per_second, credit=credit
            )
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # noqa: BLE001 - any failure of the store is an outage to ride out
            self._store_down_until = self._clock() + self._outage_seconds
            log.warning(
                "rate-limit store unavailable; budgets are per process until it answers: %s",
                str(exc).split("\n", 1)[0][:300],
                extra={"storage": self._store.name, "error": type(exc).__name__, "retry_in_seconds": self._outage_seconds},
            )
            return None

    async def close(self) -> None:
        if self._store is not None:
            await self._store.close()


def client_budgets(
    storage: str,
    *,
    capacity: int,
    rate_per_second: float,
    mongo: Mongo | None = None,
    redis_url: str | None = None,
) -> ClientBudgets:
    """The budgets of one process, kept where `storage` says."""
    store: BucketStore | None
    if storage == "memory":
        store = None
    elif storage == "mongodb":
        if mongo is None:
            raise ValueError("mongodb rate-limit storage needs the database")
        store = MongoBuckets(mongo.db)
    elif storage == "redis":
        if not redis_url:
            raise ValueError("OMS_RATE_LIMIT_STORAGE=redis needs OMS_RATE_LIMIT_REDIS_URL (or a redis:// OMS_BROADCAST_URL)")
        store = RedisBuckets(redis_url)
    else:
        raise ValueError(f"unknown rate-limit storage {storage!r}; one of {', '.join(STORAGES)}")
    return ClientBudgets(capacity=capacity, rate_per_second=rate_per_second, store=store)
