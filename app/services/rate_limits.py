"""Client budgets: every operation pours its static cost into the caller's leaky bucket, and gives
back what it did not use once it has run (the way Shopify's throttle works).

With a shared store, a process does not ask the store per operation: it *leases* a block of units
(`lease_units`, default 1% of the bucket) in one round trip, pouring it into the shared bucket at
once, and spends it on its own operations without I/O until it runs out; units given back refill
the lease up to the block, and the rest travels with the client's next round trip. A round trip
was a third of a small query's server CPU (a MongoDB command through PyMongo), and its latency.
The bounds, per client: poured units are spent at most once, so over any interval the operations
admitted are at most what the shared bucket admitted in it plus what the processes held at its
start: over-admission ≤ processes × block. Units a process holds and does not spend (its client
went elsewhere) make the bucket look fuller to the others by at most a block each, until they
drain with it. With a block of 1 unit (the default for buckets under 200 units) a process holds at
most one unit: nearly every charge is its own round trip, as before leases.

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
from dataclasses import dataclass

from app.domain.rate_limits import Decision, LeakyBuckets, ThrottleStatus, retry_after_seconds, status
from app.repositories.database import Mongo
from app.repositories.rate_limits import BucketStore, MongoBuckets, RedisBuckets

log = logging.getLogger("oms.rate_limits")

STORAGES = ("memory", "mongodb", "redis")
_MAX_CREDITS = 50_000
_MAX_LEASES = 50_000
# At stop: the clients whose unspent units go back to the shared bucket, and how long that may take.
_RETURNED_AT_STOP = 1_000
_RETURN_SECONDS = 3.0


def default_lease_units(capacity: int) -> int:
    """1% of the bucket: with 2 processes a client may briefly get 2% more than its budget."""
    return max(1, capacity // 100)


@dataclass(slots=True)
class _Lease:
    """Units of one client this process poured into the shared bucket and has not spent yet."""

    units: float
    level: float  # the shared bucket's level after this process's last round trip for the client
    at: float  # when (this process's clock)


class ClientBudgets:
    def __init__(
        self,
        *,
        capacity: int,
        rate_per_second: float,
        store: BucketStore | None = None,
        outage_seconds: float = 5.0,
        clock: Callable[[], float] = time.monotonic,
        lease_units: int | None = None,
    ):
        self.capacity = capacity
        self.rate_per_second = rate_per_second
        self.lease_units = max(1, min(capacity, lease_units or default_lease_units(capacity)))
        self._store = store
        self._local = LeakyBuckets(capacity=capacity, rate_per_second=rate_per_second)
        self._outage_seconds = outage_seconds
        self._clock = clock
        self._store_down_until: float | None = None
        # Units given back, per client, not yet sent to the shared store (they go with the next charge).
        self._credits: dict[str, float] = {}
        self._leases: dict[str, _Lease] = {}
        # One lease round trip per client at a time; the others wait for it, then spend from it.
        self._refills: dict[str, asyncio.Future[None]] = {}

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
        if self._store is None:
            return self._local.take(client, cost, self._clock())
        while True:
            lease = self._leases.get(client)
            if lease is not None and lease.units >= cost and not self.degraded:
                lease.units -= cost
                return Decision(allowed=True, level=self._spent_level(client, lease))
            refilling = self._refills.get(client)
            if refilling is not None:
                await asyncio.shield(refilling)
                continue
            held = lease.units if lease is not None else 0.0
            need = max(0.0, cost - held)
            refilled = self._refills[client] = asyncio.get_running_loop().create_future()
            try:
                shared = await self._lease(client, need, max(need, self.lease_units), self._credits.pop(client, 0.0))
            finally:
                del self._refills[client]
                refilled.set_result(None)
            if shared is None:  # no answer from the store: this process's own buckets
                return self._local.take(client, cost, self._clock())
            granted, level = shared
            lease = self._hold(client, granted, level)
            if granted < need:
                wait = retry_after_seconds(level, need, capacity=self.capacity, rate_per_second=self.rate_per_second)
                return Decision(allowed=False, level=self._spent_level(client, lease), retry_after_seconds=wait)
            # Spent on the next pass (other operations may have taken from the lease meanwhile).

    def give_back(self, client: str, amount: int, *, level: float) -> Decision:
        """Return units an operation was charged but did not use; `level` is the bucket after its
        charge. With a shared store they refill this process's lease up to the block, and the rest
        rides along with the client's next round trip from this process; until then the bucket
        looks fuller than it is, which only ever errs towards refusing, never towards overspending."""
        if not self.enabled or amount <= 0:
            return Decision(allowed=True, level=level)
        if self._store is None or self.degraded:
            return self._local.give_back(client, amount, self._clock())
        lease = self._leases.get(client)
        if lease is not None:  # refill the lease up to the block; the rest goes back to the store
            kept = min(amount, max(0.0, self.lease_units - lease.units))
            lease.units += kept
            amount -= kept
        if amount > 0:
            if client not in self._credits and len(self._credits) >= _MAX_CREDITS:
                self._credits.pop(next(iter(self._credits)))  # the oldest: forgetting a credit only errs towards refusing
            self._credits[client] = self._credits.get(client, 0.0) + amount
        if lease is None:
            return Decision(allowed=True, level=max(0.0, level - amount))
        return Decision(allowed=True, level=self._spent_level(client, lease))

    def _hold(self, client: str, granted: float, level: float) -> _Lease:
        lease = self._leases.pop(client, None)  # re-inserted last: the dict stays oldest first
        if lease is None:
            if len(self._leases) >= _MAX_LEASES:
                self._leases.pop(next(iter(self._leases)))  # its units are forgotten: errs towards refusing
            lease = _Lease(units=0.0, level=level, at=self._clock())
        lease.units += granted
        lease.level, lease.at = level, self._clock()
        self._leases[client] = lease
        return lease

    def _spent_level(self, client: str, lease: _Lease) -> float:
        """The client's bucket as its operations have filled it: the shared level last seen, drained
        since, less what this process holds unspent or owes back."""
        drained = lease.level - (self._clock() - lease.at) * self.rate_per_second
        return max(0.0, drained - lease.units - self._credits.get(client, 0.0))

    async def status(self, client: str) -> ThrottleStatus:
        """The client's budget now (charging nothing)."""
        level = (await self.take(client, 0)).level if self.enabled else 0.0
        return self.status_at(level)

    def status_at(self, level: float) -> ThrottleStatus:
        return status(level, capacity=self.capacity, rate_per_second=self.rate_per_second)

    async def _lease(self, client: str, need: float, want: float, credit: float) -> tuple[float, float] | None:
        """The shared store's answer (units granted, level after), or None: no store, or it is down
        (use the local buckets)."""
        if self._store is None:
            return None
        if self._store_down_until is not None:
            if self._clock() < self._store_down_until:
                return None
            self._store_down_until = None
            log.warning("rate-limit store is answering again", extra={"storage": self._store.name})
        try:
            return await self._store.lease(
                client, need, want, capacity=self.capacity, rate_per_second=self.rate_per_second, credit=credit
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
            await self.return_held()
            await self._store.close()

    async def return_held(self) -> None:
        """Give the shared bucket back the units this process leased and did not spend, and the
        credits it owes (a stopping process: otherwise they stay poured until they drain, and the
        client looks busier to the other processes). The largest first, within a few seconds:
        best effort, since a unit not returned only ever errs towards refusing."""
        owed = dict(self._credits)
        for client, lease in self._leases.items():
            owed[client] = owed.get(client, 0.0) + lease.units
        self._leases, self._credits = {}, {}
        largest = sorted(((units, client) for client, units in owed.items() if units > 0), reverse=True)[:_RETURNED_AT_STOP]
        if not largest or self._store is None or self.degraded:
            return
        store = self._store

        async def one(client: str, units: float) -> None:
            await store.lease(client, 0, 0, capacity=self.capacity, rate_per_second=self.rate_per_second, credit=units)

        try:
            async with asyncio.timeout(_RETURN_SECONDS):
                for start in range(0, len(largest), 50):
                    await asyncio.gather(*(one(client, units) for units, client in largest[start : start + 50]))
        except Exception as exc:  # noqa: BLE001 - the store is down or slow: the units drain by themselves
            log.warning("could not return leased units at stop: %s", type(exc).__name__, extra={"storage": store.name})


def client_budgets(
    storage: str,
    *,
    capacity: int,
    rate_per_second: float,
    mongo: Mongo | None = None,
    redis_url: str | None = None,
    lease_units: int | None = None,
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
    return ClientBudgets(capacity=capacity, rate_per_second=rate_per_second, store=store, lease_units=lease_units)
