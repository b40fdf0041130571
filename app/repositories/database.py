"""The MongoDB client and the transaction helper every service uses."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from typing import Any, TypeVar

import pymongo
from pymongo import AsyncMongoClient, ReadPreference, WriteConcern
from pymongo.errors import OperationFailure, PyMongoError
from pymongo.asynchronous.client_session import AsyncClientSession
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.read_concern import ReadConcern

log = logging.getLogger(__name__)

T = TypeVar("T")

Session = AsyncClientSession


def connect(
    uri: str, *, app_name: str = "oms", max_pool_size: int = 100, event_listeners: Sequence[object] = ()
) -> AsyncMongoClient:
    """Every acknowledged write is majority-committed: a failover never loses it."""
    return AsyncMongoClient(
        uri,
        appname=app_name,
        w="majority",
        retryWrites=True,
        retryReads=True,
        tz_aware=True,
        maxPoolSize=max_pool_size,
        serverSelectionTimeoutMS=10_000,
        event_listeners=list(event_listeners),
    )


class Mongo:
    """The client and database of one process, opened and closed by the composition root."""

    def __init__(self, client: AsyncMongoClient, database: str):
        self.client = client
        self.db: AsyncDatabase = client.get_database(database)

    async def transaction(self, work: Callable[[Session], Awaitable[T]], *, session: Session | None = None) -> T:
        """Run `work` in a multi-document transaction, retried on transient errors and unknown commits.

        `work` may run more than once, so it must not have side effects outside the session.
        `session` is for a caller that must be able to name its transactions' session (see kill_session).
        """
        if session is None:
            async with self.client.start_session() as own:
                return await self._run_transaction(own, work)
        return await self._run_transaction(session, work)

    @staticmethod
    async def _run_transaction(session: Session, work: Callable[[Session], Awaitable[T]]) -> T:
        return await session.with_transaction(
            work,
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
        await self.client.admin.command({"killSessions": [session_id]})

    async def ping(self, *, timeout_seconds: float) -> bool:
        """Whether the primary answers within the timeout. The driver's own deadline (not a task
        cancellation) ends a late answer: it discards that connection and the pool stays usable."""
        with pymongo.timeout(timeout_seconds):
            hello = await self.client.admin.command("hello")
        return bool(hello.get("isWritablePrimary"))

    async def close(self) -> None:
        await self.client.close()


class MongoUnreachable(Exception):
    """MONGODB_URI cannot be used; the message names its hosts, never its credentials."""


async def check_reachable(uri: str, *, timeout_seconds: float) -> None:
    """Raise MongoUnreachable unless the deployment at `uri` answers a ping within the timeout."""
    hosts = uri_hosts(uri)
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
