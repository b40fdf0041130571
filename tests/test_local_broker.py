"""The local broker `oms serve --workers N` runs for its workers: two real-time stacks (as two workers
would have) on one database and one broker socket. The leader's batches reach the other worker
through the broker only (no relay following, no tail check here), once and in order; a broker that
goes away and comes back loses nothing, and a leader never waits for it."""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket as sockets
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest

from app.cli import _local_broker
from app.domain.events import EventFilter
from app.repositories.database import Mongo
from app.services.container import Services
from subscriptions.hub import CHANNEL, Feed
from app.settings import Settings
from subscriptions.local_broker import (
    DIRECTORY_PREFIX,
    SOCKET_NAME,
    SUBSCRIBE,
    SUBSCRIBED,
    LocalBroker,
    broker_group,
    broker_url,
    frame,
    remove_stale_brokers,
    socket_path,
)
from subscriptions.realtime import Realtime, RealtimeOptions
from tests.factories import customer, order
from tests.realtime import append, order_event, wait_stamped

PLACED = order(customer().id)


async def until(condition: Callable[[], bool], what: str, *, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, what
        await asyncio.sleep(0.02)


@contextlib.asynccontextmanager
async def two_workers(services: Services, socket: Path) -> AsyncIterator[tuple[Realtime, Realtime]]:
    """(leader, follower): each with its hub on the broker; no tail check, so the broker is the
    follower's only way to hear of an event unless it sees a gap."""
    options = RealtimeOptions(broadcast_url=broker_url(socket), lease_seconds=1, tail_check_seconds=0)
    first, second = Realtime(services, options), Realtime(services, options)
    await first.start()
    assert first.sequencer is not None
    await asyncio.wait_for(first.sequencer.leading.wait(), 10)
    await second.start()
    try:
        yield first, second
    finally:
        await second.stop()
        await first.stop()


async def drain(feed: Feed, count: int) -> list[int]:
    return [(await asyncio.wait_for(feed.next(), 10)).seq or 0 for _ in range(count)]


async def write(mongo: Mongo, count: int, *, stamped_before: int) -> None:
    for step in range(count):
        await append(mongo, order_event(PLACED, step=step))
    await wait_stamped(mongo, stamped_before + count)


async def test_the_leaders_batches_reach_the_other_worker_through_the_broker_once_and_in_order(
    services: Services, mongo: Mongo, tmp_path: Path
) -> None:
    broker = LocalBroker(tmp_path / "broker.sock")
    await broker.start()
    try:
        async with two_workers(services, broker.path) as (leader, follower):
            assert follower.sequencer is not None and not follower.sequencer.leading.is_set()
            await until(lambda: broker.subscribers(CHANNEL) == 2, "both hubs subscribed")
            feeds = [leader.hub.subscribe(EventFilter().matches), follower.hub.subscribe(EventFilter().matches)]

            await write(mongo, 6, stamped_before=0)

            assert [await drain(feed, 6) for feed in feeds] == [[1, 2, 3, 4, 5, 6]] * 2
            # The leader delivers its own batches locally: the broker forwarded to the follower only
            assert 1 <= broker.forwarded <= 6
            assert leader.hub.delivered == follower.hub.delivered == 6
            # The follower never read the batches back: its leader is a sibling on the broker
            assert not follower.sequencer.following
            assert leader.sequencer is not None and leader.sequencer.owner.endswith(":" + broker_group(broker_url(broker.path)))
    finally:
        await broker.stop()


async def test_a_leader_outside_the_brokers_workers_is_followed_through_the_relay_state(
    services: Services, mongo: Mongo, tmp_path: Path
) -> None:
    # Given a leader that does not publish to this broker (another host's process, or `oms relay`)
    broker = LocalBroker(tmp_path / "broker.sock")
    await broker.start()
    outside = Realtime(services, RealtimeOptions(broadcast_url="memory://", lease_seconds=1, tail_check_seconds=0))
    await outside.start()
    try:
        assert outside.sequencer is not None
        await asyncio.wait_for(outside.sequencer.leading.wait(), 10)
        options = RealtimeOptions(broadcast_url=broker_url(broker.path), lease_seconds=1, tail_check_seconds=0)
        worker = Realtime(services, options)
        await worker.start()
        try:
            assert worker.sequencer is not None
            await until(lambda: worker.sequencer is not None and worker.sequencer.following, "following the outside leader")
            feed = worker.hub.subscribe(EventFilter().matches)

            # When events are stamped, the worker reads them back from the log as before
            await write(mongo, 3, stamped_before=0)
            assert await drain(feed, 3) == [1, 2, 3]
        finally:
            await worker.stop()
    finally:
        await outside.stop()
        await broker.stop()


async def test_a_broker_that_goes_away_and_comes_back_loses_nothing_and_never_stalls_the_leader(
    services: Services, mongo: Mongo, tmp_path: Path
) -> None:
    socket = tmp_path / "broker.sock"
    broker = LocalBroker(socket)
    await broker.start()
    async with two_workers(services, socket) as (leader, follower):
        await until(lambda: broker.subscribers(CHANNEL) == 2, "both hubs subscribed")
        feeds = [leader.hub.subscribe(EventFilter().matches), follower.hub.subscribe(EventFilter().matches)]
        await write(mongo, 2, stamped_before=0)
        assert [await drain(feed, 2) for feed in feeds] == [[1, 2]] * 2

        # When the broker stops, the leader goes on stamping and delivering to its own subscribers
        await broker.stop()
        await write(mongo, 3, stamped_before=2)
        assert await drain(feeds[0], 3) == [3, 4, 5]

        # Then, once it is back and both workers have reconnected by themselves, the next batch
        # shows the follower the gap, which it fills from the log: nothing lost, nothing twice
        broker = LocalBroker(socket)
        await broker.start()
        try:
            await until(lambda: broker.subscribers(CHANNEL) == 2, "both hubs subscribed again")
            await write(mongo, 1, stamped_before=5)
            assert await drain(feeds[0], 1) == [6]
            assert await drain(feeds[1], 4) == [3, 4, 5, 6]
            assert leader.hub.delivered == follower.hub.delivered == 6
        finally:
            await broker.stop()


async def test_a_worker_that_starts_before_its_broker_connects_when_the_broker_appears(
    services: Services, mongo: Mongo, tmp_path: Path
) -> None:
    socket = tmp_path / "broker.sock"
    options = RealtimeOptions(broadcast_url=broker_url(socket), lease_seconds=1, tail_check_seconds=0)
    lonely = Realtime(services, options)
    started = time.monotonic()
    await lonely.start()  # waits a bounded time for the broker, then goes on without it
    try:
        assert time.monotonic() - started < 15
        broker = LocalBroker(socket)
        await broker.start()
        try:
            await until(lambda: broker.subscribers(CHANNEL) == 1, "subscribed once the broker is there")
        finally:
            await broker.stop()
    finally:
        await lonely.stop()


def test_serve_gives_workers_a_broker_for_memory_fan_out_and_leaves_an_explicit_one_alone(monkeypatch: pytest.MonkeyPatch) -> None:
    # With the default memory:// fan-out the supervisor serves a broker on a private socket
    monkeypatch.delenv("OMS_BROADCAST_URL", raising=False)
    with contextlib.ExitStack() as stack:
        _local_broker(Settings.from_env({}), stack)
        url = os.environ["OMS_BROADCAST_URL"]
        path = Path(socket_path(url))
        assert url.startswith("local+unix:///") and path.is_socket()
        assert path.parent.stat().st_mode & 0o077 == 0
        with sockets.socket(sockets.AF_UNIX) as client:
            client.connect(str(path))
            client.sendall(frame(SUBSCRIBE, CHANNEL.encode()))
            assert client.recv(1024) == frame(SUBSCRIBED, CHANNEL.encode())  # the broker's thread answers
    assert not path.parent.exists()  # removed when serving ends

    # An explicit broker (Redis) serves the workers instead
    monkeypatch.setenv("OMS_BROADCAST_URL", "redis://127.0.0.1:6379/0")
    with contextlib.ExitStack() as stack:
        _local_broker(Settings.from_env({"OMS_BROADCAST_URL": "redis://127.0.0.1:6379/0"}), stack)
        assert os.environ["OMS_BROADCAST_URL"] == "redis://127.0.0.1:6379/0"


def test_a_start_removes_broker_directories_nobody_serves_and_spares_live_and_young_ones(tmp_path: Path) -> None:
    """A supervisor killed with SIGKILL leaves its directory and socket file behind; the next start
    removes it, but not a directory whose broker still accepts, nor one just made."""

    def broker_directory(name: str, *, listening: bool) -> tuple[Path, sockets.socket]:
        directory = tmp_path / f"{DIRECTORY_PREFIX}{name}"
        directory.mkdir(mode=0o700)
        server = sockets.socket(sockets.AF_UNIX, sockets.SOCK_STREAM)
        server.bind(str(directory / SOCKET_NAME))
        if listening:
            server.listen()
        return directory, server

    dead, dead_socket = broker_directory("dead", listening=False)
    dead_socket.close()  # the file stays, as after a SIGKILL; nothing accepts on it
    empty = tmp_path / f"{DIRECTORY_PREFIX}empty"
    empty.mkdir()
    live, live_socket = broker_directory("live", listening=True)
    unrelated = tmp_path / "something-else"
    unrelated.mkdir()
    with live_socket:
        assert remove_stale_brokers(tmp_path, older_than_seconds=3600) == []  # all too young to judge
        assert sorted(remove_stale_brokers(tmp_path, older_than_seconds=0)) == [dead, empty]
    assert live.exists() and unrelated.exists() and not dead.exists()
