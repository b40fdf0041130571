"""The MongoDB client and the transaction helper every service uses."""

from __future__ import annotations

import logging
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from typing import Any, TypeVar

from pymongo import AsyncMongoClient, ReadPreference, WriteConcern
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

    async def ping(self) -> bool:
        hello = await self.client.admin.command("hello")
        return bool(hello.get("isWritablePrimary"))

    async def close(self) -> None:
        await self.client.close()
