"""The MongoDB client and the transaction helper every service uses; deadlines, the driver errors
that mean "the database is unavailable", and a probe that tells an outage from a wedged client.

Deadlines, never task cancellation, end a database call that takes too long: `deadline(seconds)`
(pymongo.timeout) makes the driver give up by itself, and it leaves its connections and locks in
order. Cancelling a task that is inside the driver is still allowed (an asyncio program cannot
avoid it: a client leaves, a subscription ends, the process shuts down), and on Python 3.11 that
could corrupt the driver's locks: see `_cancellation_safe_condition_waits`.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import logging
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Mapping, Sequence
from typing import Any, TypeVar

import pymongo
import pymongo.lock
from pymongo import AsyncMongoClient, ReadPreference, WriteConcern
from pymongo.errors import ConnectionFailure, InvalidOperation, OperationFailure, PyMongoError
from pymongo.asynchronous import pool as _driver_pool, topology as _driver_topology
from pymongo.asynchronous.client_session import AsyncClientSession
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.read_concern import ReadConcern

from app import metrics
from app.domain.errors import Conflict, ServiceUnavailable

log = logging.getLogger(__name__)

# What a client is told to wait before retrying a request the database could not serve.
RETRY_AFTER_SECONDS = 2
# The deadline of the pings behind readiness and liveness. Longer than the 1 s readiness waits for
# an answer: right after a stall the driver refuses operations whose deadline is shorter than the
# round trips it measured across the stall (up to connectTimeoutMS), and readiness must not read
# that as "not ready" once the database answers again.
PROBE_SECONDS = 5.0
# Server errors that mean "no primary to talk to right now" (shutdown, step-down, election,
# unreachable host), after the driver's own retry: a transient outage, not a fault of the request.
_UNAVAILABLE_CODES = frozenset({6, 7, 89, 91, 189, 9001, 10107, 11600, 11602, 13435, 13436})
_WRITE_CONFLICT = 112

T = TypeVar("T")

Session = AsyncClientSession


class WriteConflict(Conflict):
    """Another transaction wrote a document this one writes (MongoDB aborted this one at once).
    Raised only to callers that schedule their own retries (`transaction(..., raise_conflicts=True)`)."""


# How the driver watches the server, unless MONGODB_URI says otherwise. A check every second (an
# awaitable hello, plus a ping for round-trip times) costs next to nothing, and it matters twice:
# a server that stops answering is noticed within connectTimeoutMS + heartbeatFrequencyMS (not 30 s),
# and after a stall fresh round-trip samples arrive within a second. The driver refuses any operation
# whose deadline is shorter than the smallest recent round trip, and the samples taken across a
# stall are as long as the stall (up to connectTimeoutMS, which is why that is 3 s, not 20): with
# the defaults, every request failed for up to 20 s after the database came back.
_MONITORING = {"heartbeatFrequencyMS": 1_000, "connectTimeoutMS": 3_000, "serverSelectionTimeoutMS": 10_000}


def connect(
    uri: str, *, app_name: str = "oms", max_pool_size: int = 100, event_listeners: Sequence[object] = ()
) -> AsyncMongoClient:
    """Every acknowledged write is majority-committed: a failover never loses it.

    Request paths run under `deadline()`, which bounds server selection too; the 10 s selection
    timeout is for background work (sequencer, scheduler, subscription replays)."""
    _cancellation_safe_condition_waits()
    given = {name.lower() for name in _uri_option_names(uri)}
    return AsyncMongoClient(
        uri,
        appname=app_name,
        w="majority",
        retryWrites=True,
        retryReads=True,
        tz_aware=True,
        maxPoolSize=max_pool_size,
        event_listeners=list(event_listeners),
        **{name: value for name, value in _MONITORING.items() if name.lower() not in given},
    )


def _uri_option_names(uri: str) -> list[str]:
    query = uri.partition("?")[2]
    return [item.split("=", 1)[0] for item in query.replace(";", "&").split("&") if item]


class Mongo:
    """The client and database of one process, opened and closed by the composition root."""

    def __init__(self, client: AsyncMongoClient, database: str):
        self.client = client
        self.db: AsyncDatabase = client.get_database(database)
        self._probe: _Probe | None = None
        self._orphans: dict[bytes, Mapping[str, Any]] = {}
        self._reaper: asyncio.Task[None] | None = None
        # Told each session before its first transaction, so a survivor can end it if this process
        # dies mid-transaction (app/services/instances.py).
        self.session_tracker: Callable[[Mapping[str, Any]], Awaitable[None]] | None = None

    async def transaction(
        self, work: Callable[[Session], Awaitable[T]], *, session: Session | None = None, raise_conflicts: bool = False
    ) -> T:
        """Run `work` in a multi-document transaction, retried on transient errors and unknown commits.

        `work` may run more than once, so it must not have side effects outside the session.
        `session` is for a caller that must be able to name its transactions' session (see kill_session).
        `raise_conflicts`: a write conflict raises WriteConflict instead of being retried after the
        driver's backoff (which grows to half a second): for a caller that knows when to try again.
        """
        if session is None:
            async with self.client.start_session() as own:
                if self.session_tracker is not None:
                    await self.session_tracker(own.session_id)
                try:
                    return await self._run_transaction(own, work, raise_conflicts)
                except PyMongoError as exc:
                    if unavailable_error(exc) is not None:
                        self._abandoned(own)
                    raise
        return await self._run_transaction(session, work, raise_conflicts)

    def _abandoned(self, session: Session) -> None:
        """A transaction given up on because the database did not answer may still be open on the
        server: its statements can reach it after we stopped waiting (a frozen mongod runs what
        sat in its sockets when it resumes), and the abort could not. It then holds its document
        locks until the server's lifetime limit (60 s by default), and every write to those
        documents fails meanwhile. So its session is ended with killSessions as soon as the
        database answers, and never reused (a reused session would be killed with it)."""
        session._server_session.mark_dirty()  # the driver's own flag for "discard, do not pool"
        self._orphans[bytes(session.session_id["id"])] = session.session_id
        if self._reaper is None or self._reaper.done():
            # Not tied to the failed request: its deadline is spent, and it must not be cancelled.
            self._reaper = asyncio.get_running_loop().create_task(self._reap_orphans(), context=contextvars.Context())

    async def _reap_orphans(self) -> None:
        while self._orphans:
            batch = dict(self._orphans)
            try:
                # Twice, a second apart: a statement still in flight at the first kill could have
                # opened the transaction again.
                for _ in range(2):
                    with pymongo.timeout(PROBE_SECONDS):
                        await self.kill_sessions(list(batch.values()))
                    await asyncio.sleep(1.0)
            except InvalidOperation:
                return  # the client was closed
            except PyMongoError:
                await asyncio.sleep(0.25)  # still away: try again
                continue
            for key in batch:
                self._orphans.pop(key, None)

    @staticmethod
    async def _run_transaction(session: Session, work: Callable[[Session], Awaitable[T]], raise_conflicts: bool = False) -> T:
        attempts = 0

        async def counted(session: Session) -> T:
            # The driver runs the body again after a transient error: every run past the first is a retry.
            nonlocal attempts
            attempts += 1
            if attempts > 1:
                metrics.TRANSACTION_RETRIES.inc()
            try:
                return await work(session)
            except OperationFailure as exc:
                if exc.code == _WRITE_CONFLICT:
                    metrics.TRANSACTION_CONFLICTS.inc()
                    if raise_conflicts:  # not a PyMongoError: the driver aborts and hands it on
                        raise WriteConflict("another transaction is writing the same documents") from exc
                raise

        metrics.TRANSACTIONS.inc()
        return await session.with_transaction(
            counted,
            read_concern=ReadConcern("snapshot"),
            write_concern=WriteConcern("majority"),
            read_preference=ReadPreference.PRIMARY,
        )

    @contextlib.asynccontextmanager
    async def session(self) -> AsyncIterator[Session]:
        async with self.client.start_session() as session:
            yield session

    async def kill_session(self, session_id: Mapping[str, Any]) -> None:
        """Abort the open transaction of a session whose process died.

        The server keeps such a transaction, and its document locks, until its lifetime limit
        (60 s by default) reaps it; meanwhile every write outside a transaction to those documents waits.
        """
        await self.kill_sessions([session_id])

    async def kill_sessions(self, session_ids: list[Mapping[str, Any]]) -> None:
        await self.client.admin.command({"killSessions": session_ids})

    async def ping(self, *, timeout_seconds: float) -> bool:
        """Whether the primary answers within the timeout. The driver's own deadline (not a task
        cancellation) ends a late answer: it discards that connection and the pool stays usable."""
        with pymongo.timeout(timeout_seconds):
            hello = await self.client.admin.command("hello")
        return bool(hello.get("isWritablePrimary"))

    async def ready(self, *, wait_seconds: float = 1.0) -> bool:
        """Whether the primary answers a ping within `wait_seconds`: a frozen or lost database reads
        as not ready that soon. The ping itself runs under a longer driver deadline (PROBE_SECONDS)
        and is never cancelled; concurrent callers share it."""
        probe = self._current_probe()
        await asyncio.wait({probe.task}, timeout=wait_seconds)
        return probe.task.done() and probe.task.result()

    async def responsive(self, *, wait_seconds: float = 1.0, stuck_after_seconds: float = 10.0) -> bool:
        """Whether this client still works, database or not: False only when a probe has neither
        answered nor failed `stuck_after_seconds` past its own deadline. The driver honours its
        deadlines everywhere except while waiting for its own locks, so a probe that outlives it
        by that much is stuck behind a lock nobody will release: only a restart helps. An
        unreachable database is not that: the probe fails in time. Answers within `wait_seconds`."""
        probe = self._current_probe()
        await asyncio.wait({probe.task}, timeout=wait_seconds)
        if probe.task.done():
            return True
        age = time.monotonic() - probe.started
        if age <= PROBE_SECONDS + stuck_after_seconds:
            return True
        log.error("the MongoDB client is stuck: a ping has not ended long past its deadline", extra={"seconds": round(age, 1)})
        return False

    def _current_probe(self) -> _Probe:
        """The ping in flight, or a new one: one at a time, whoever asks."""
        if self._probe is None or self._probe.task.done():
            # A context of its own: a probe started by a request must not inherit its deadline.
            task = asyncio.get_running_loop().create_task(self._probe_primary(), context=contextvars.Context())
            self._probe = _Probe(task, time.monotonic())
        return self._probe

    async def _probe_primary(self) -> bool:
        try:
            return await self.ping(timeout_seconds=PROBE_SECONDS)
        except PyMongoError:
            return False
        except Exception:  # noqa: BLE001 - not the database's answer: the client's own trouble
            log.warning("the MongoDB readiness ping failed inside the driver", exc_info=True)
            return False

    async def close(self) -> None:
        if self._reaper is not None and not self._reaper.done():
            self._reaper.cancel()  # between attempts, or in a driver call the close ends anyway
            with contextlib.suppress(asyncio.CancelledError):
                await self._reaper
        await self.client.close()
        if self._probe is not None and not self._probe.task.done():
            await asyncio.wait({self._probe.task}, timeout=1.0)


class _Probe:
    __slots__ = ("task", "started")

    def __init__(self, task: asyncio.Task[bool], started: float):
        self.task = task
        self.started = started


@contextlib.contextmanager
def deadline(seconds: float) -> Iterator[None]:
    """Every database call inside gives up once `seconds` have passed since entering (server
    selection, connection check-out, the commands, a transaction's retries): the driver ends it
    with a timeout error and stays usable. Nested deadlines keep the earlier one."""
    with pymongo.timeout(seconds):
        yield


def unavailable_error(exc: BaseException) -> ServiceUnavailable | None:
    """SERVICE_UNAVAILABLE for a driver error that means the database could not be reached in time
    (after the driver's and the transaction helper's own retries); None for anything else."""
    if not isinstance(exc, PyMongoError):
        return None
    if isinstance(exc, ConnectionFailure) or exc.timeout:
        message = "The database did not answer in time."
    elif isinstance(exc, OperationFailure) and exc.code in _UNAVAILABLE_CODES:
        message = "The database has no primary to write to at the moment."
    else:
        return None
    return ServiceUnavailable(
        f"{message} Retry in {RETRY_AFTER_SECONDS} s; a write that failed this way may have been applied.",
        retry_after_seconds=RETRY_AFTER_SECONDS,
    )


_cond_wait_replaced = False


def _cancellation_safe_condition_waits() -> None:
    """Work around a PyMongo bug (4.9 to at least 4.20.1) that wedges the client for good.

    The async driver waits on its topology and pool conditions with
    `asyncio.wait_for(condition.wait(), timeout)`. Up to Python 3.11, wait_for runs the wait in a
    separate task; when the calling task is cancelled just as that wait times out and is queued to
    re-acquire the lock, wait_for returns at once, the caller's `async with lock` releases a lock it
    does not hold ("Lock is not acquired" / "cannot wait on un-acquired lock"), and the orphaned
    wait then acquires the lock and never releases it. Every later server selection waits for that
    lock forever, deadlines included. A stall of the database makes it likely: many operations wait
    in server selection while our tasks (a subscription whose client left, the sequencer stepping
    down) are cancelled.

    The replacement waits in the calling task under `asyncio.timeout`, as Python 3.12's wait_for
    does: Condition.wait() re-acquires the lock before any cancellation leaves it. Nothing to do on
    3.12+. Applied only where the driver still imports the function this was written against
    (pymongo is pinned in constraints.txt; tests/faults/test_driver_locks.py reproduces the bug).
    """
    global _cond_wait_replaced  # noqa: PLW0603 - once per process
    if _cond_wait_replaced or sys.version_info >= (3, 12):
        return
    original = pymongo.lock._async_cond_wait
    users = [module for module in (_driver_topology, _driver_pool) if getattr(module, "_async_cond_wait", None) is original]
    if len(users) != 2:
        log.warning("PyMongo's condition waits changed; the cancellation workaround is not applied")
        return
    for module in users:
        module._async_cond_wait = _cond_wait  # type: ignore[attr-defined]
    _cond_wait_replaced = True


async def _cond_wait(condition: Any, timeout: float | None) -> bool:
    try:
        async with asyncio.timeout(timeout):
            return bool(await condition.wait())
    except TimeoutError:
        return False


class MongoUnreachable(Exception):
    """MONGODB_URI cannot be used; the message names its hosts, never its credentials."""


async def check_reachable(uri: str, *, timeout_seconds: float) -> None:
    """Raise MongoUnreachable unless the deployment at `uri` answers a ping within the timeout."""
    hosts = uri_hosts(uri)
    _cancellation_safe_condition_waits()
    try:
        client: AsyncMongoClient = AsyncMongoClient(uri, appname="oms-check", connect=False)
    except PyMongoError as exc:
        raise MongoUnreachable(f"MONGODB_URI is not a usable MongoDB URI: {_reason(exc, uri)}") from None
    try:
        with pymongo.timeout(timeout_seconds):
            await client.admin.command("ping")
    except OperationFailure as exc:
        if exc.code == 18:  # AuthenticationFailed
            raise MongoUnreachable(f"MongoDB at {hosts} refused the credentials in MONGODB_URI") from None
        raise MongoUnreachable(f"MongoDB at {hosts} refused a ping: {_reason(exc, uri)} (MONGODB_URI)") from None
    except PyMongoError as exc:
        if exc.timeout:
            raise MongoUnreachable(f"MongoDB at {hosts} did not answer within {timeout_seconds:g} s (MONGODB_URI)") from None
        # Not a timeout, e.g. an SRV name that does not resolve.
        raise MongoUnreachable(f"MongoDB at {hosts} cannot be reached: {_reason(exc, uri)} (MONGODB_URI)") from None
    finally:
        await client.close()


def uri_hosts(uri: str) -> str:
    """`host:port,...` of a MongoDB URI, without scheme, credentials, database or options."""
    rest = uri.partition("://")[2] or uri
    authority = rest.split("/", 1)[0].split("?", 1)[0]
    return authority.rpartition("@")[2] or "?"


def _reason(exc: Exception, uri: str) -> str:
    """The driver's first line about `exc`, with the URI's user name and password masked."""
    message = (str(exc).splitlines() or [type(exc).__name__])[0]
    userinfo = (uri.partition("://")[2] or uri).split("/", 1)[0].rpartition("@")[0]
    for secret in filter(None, (userinfo, *userinfo.split(":"))):
        message = message.replace(secret, "***")
    return message
