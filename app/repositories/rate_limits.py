"""Shared client budgets: the leaky bucket of app/domain/rate_limits.py kept in MongoDB or Redis,
so every instance pours into the same bucket and together they allow a client exactly its budget.

Each pour is one atomic round trip that drains the bucket by the time passed (on the store's
clock, so instances with skewed clocks agree), adds the cost if it fits, and returns the new level:
a findOneAndUpdate with an update pipeline in MongoDB, a Lua script in Redis. A lease is the same
round trip pouring a block at once: at least what the operation needs, up to the block if it fits
(app/services/rate_limits.py spends the rest locally). Nothing is read
first, so concurrent requests on any number of processes cannot overspend. A bucket expires once it
has drained (TTL index on `expires_at`; PEXPIRE in Redis): an idle client costs no storage.

A pour is bounded (MONGODB_SECONDS, REDIS_SECONDS) and raises on any failure; the caller decides what an outage
means (app/services/rate_limits.py).
"""

from __future__ import annotations

from typing import Any, Protocol

import pymongo
from pymongo import ReturnDocument, WriteConcern
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

# Past this a pour has failed and the store counts as down. Not much shorter: a burst of requests
# on a busy process waits that long for connections (0.5 s was hit on 2 cores with 30 at once).
# MongoDB holds the request's own data, so its bound is the usual request deadline (OMS_DB_TIMEOUT's
# default); Redis is an extra dependency a request should not wait long for.
MONGODB_SECONDS = 5.0
REDIS_SECONDS = 2.0
COLLECTION = "rate_limit_buckets"
_KEY_PREFIX = "oms:bucket:"


class BucketStore(Protocol):
    name: str

    async def pour(
        self, client: str, cost: float, *, capacity: int, rate_per_second: float, credit: float = 0.0
    ) -> tuple[bool, float]:
        """First take `credit` units out (never below empty: units earlier operations did not use),
        then pour `cost` (≤ capacity) if it fits. Returns (poured, level after)."""
        ...

    async def lease(
        self, client: str, need: float, want: float, *, capacity: int, rate_per_second: float, credit: float = 0.0
    ) -> tuple[float, float]:
        """Like `pour`, for a block: after taking `credit` out, pour as much of `want` as fits, if
        that is at least `need` (≤ capacity), else nothing. Returns (units poured, level after)."""
        ...

    async def close(self) -> None: ...


def _drained_level(rate_per_second: float, credit: float) -> dict[str, Any]:
    """The bucket's level now: drained by the time passed on the server's clock, less `credit`."""
    elapsed_seconds = {"$divide": [{"$subtract": ["$$NOW", {"$ifNull": ["$at", "$$NOW"]}]}, 1000]}
    drained = {"$subtract": [{"$ifNull": ["$level", 0]}, {"$multiply": [elapsed_seconds, rate_per_second]}]}
    return {"$max": [0, {"$subtract": [drained, credit]}]}


def _expires_at(rate_per_second: float) -> dict[str, Any]:
    # Gone (TTL) once drained: an expired bucket and an empty one are the same thing.
    return {"$set": {"expires_at": {"$add": ["$$NOW", {"$ceil": {"$multiply": [{"$divide": ["$level", rate_per_second]}, 1000]}}]}}}


def _lease_pipeline(need: float, want: float, capacity: int, rate_per_second: float, credit: float) -> list[dict[str, Any]]:
    space = {"$subtract": [capacity, "$level"]}
    return [
        {"$set": {"level": _drained_level(rate_per_second, credit)}},
        {"$set": {"granted": {"$cond": [{"$gte": [space, need]}, {"$max": [0, {"$min": [want, space]}]}, 0]}}},
        {"$set": {"level": {"$add": ["$level", "$granted"]}, "at": "$$NOW"}},
        _expires_at(rate_per_second),
    ]


class _PourByLease:
    """`pour` is a lease of exactly the cost (or, for a cost ≤ 0, of nothing after giving units
    back as credit): the stores keep one atomic round trip, not two near-identical ones."""

    async def lease(
        self, client: str, need: float, want: float, *, capacity: int, rate_per_second: float, credit: float = 0.0
    ) -> tuple[float, float]:
        raise NotImplementedError

    async def pour(
        self, client: str, cost: float, *, capacity: int, rate_per_second: float, credit: float = 0.0
    ) -> tuple[bool, float]:
        if cost <= 0:
            _, level = await self.lease(client, 0, 0, capacity=capacity, rate_per_second=rate_per_second, credit=credit - cost)
            return True, level
        granted, level = await self.lease(client, cost, cost, capacity=capacity, rate_per_second=rate_per_second, credit=credit)
        return granted >= cost, level


class MongoBuckets(_PourByLease):
    name = "mongodb"

    def __init__(self, db: AsyncDatabase):
        # w:1: a bucket lost in a failover only ever errs towards serving the client; waiting for a
        # majority would add a replication round trip to every request.
        self._buckets = db.get_collection(COLLECTION, write_concern=WriteConcern(w=1))

    async def lease(
        self, client: str, need: float, want: float, *, capacity: int, rate_per_second: float, credit: float = 0.0
    ) -> tuple[float, float]:
        after = await self._update(client, _lease_pipeline(need, want, capacity, rate_per_second, credit), {"level": 1, "granted": 1})
        return float(after["granted"]), float(after["level"])

    async def _update(self, client: str, pipeline: list[dict[str, Any]], projection: dict[str, int]) -> dict[str, Any]:
        with pymongo.timeout(MONGODB_SECONDS):
            for attempt in (1, 2):
                try:
                    after = await self._buckets.find_one_and_update(
                        {"_id": client}, pipeline, projection=projection, upsert=True, return_document=ReturnDocument.AFTER
                    )
                    break
                except DuplicateKeyError:  # two first pours of one client raced to insert: retry, then it exists
                    if attempt == 2:
                        raise
        assert after is not None
        return after

    async def close(self) -> None:
        return None


# KEYS[1] bucket; ARGV need, want, capacity, rate, credit: _lease_pipeline in Lua. The server's clock
# (TIME), like $$NOW above. Levels go back as strings: Redis truncates Lua numbers to integers.
_LEASE = """
local need = tonumber(ARGV[1])
local want = tonumber(ARGV[2])
local capacity = tonumber(ARGV[3])
local rate = tonumber(ARGV[4])
local credit = tonumber(ARGV[5])
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local state = redis.call('HMGET', KEYS[1], 'level', 'at')
local level = tonumber(state[1]) or 0
local at = tonumber(state[2]) or now
level = math.max(0, level - math.max(0, now - at) * rate - credit)
local granted = 0
if capacity - level >= need then
  granted = math.max(0, math.min(want, capacity - level))
end
level = level + granted
redis.call('HSET', KEYS[1], 'level', tostring(level), 'at', tostring(now))
redis.call('PEXPIRE', KEYS[1], math.ceil(level / rate * 1000) + 1)
return {tostring(granted), tostring(level)}
"""


class RedisBuckets(_PourByLease):
    name = "redis"

    def __init__(self, url: str):
        # Imported here: Redis is an optional extra (`pip install oms[redis]`).
        from redis import asyncio as aioredis
        from redis.asyncio.retry import Retry
        from redis.backoff import NoBackoff

        # No retries: an unreachable Redis must fail within REDIS_SECONDS, not after three tries.
        self._redis = aioredis.Redis.from_url(
            url, socket_timeout=REDIS_SECONDS, socket_connect_timeout=REDIS_SECONDS, retry=Retry(NoBackoff(), 0)
        )
        self._lease = self._redis.register_script(_LEASE)

    async def lease(
        self, client: str, need: float, want: float, *, capacity: int, rate_per_second: float, credit: float = 0.0
    ) -> tuple[float, float]:
        granted, level = await self._lease(keys=[_KEY_PREFIX + client], args=[need, want, capacity, rate_per_second, credit])
        return float(granted), float(level)

    async def close(self) -> None:
        await self._redis.aclose()
