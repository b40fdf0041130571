"""The embedded mongod: a real single-node replica set that survives a port change between runs."""

from __future__ import annotations

import logging
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from pymongo import MongoClient

from app.embedded_mongod import (
    DataDir,
    EmbeddedMongod,
    MongodNotFound,
    MongodPortUnavailable,
    MongodSupervisor,
    _port_is_free as _free,
    find_mongod,
)


def test_starts_as_primary_keeps_data_and_follows_a_port_change(tmp_path: Path) -> None:
    first = EmbeddedMongod(tmp_path)
    uri = first.start()
    try:
        with MongoClient(uri) as client:
            assert client.admin.command("hello")["isWritablePrimary"]
            client.oms.things.insert_one({"_id": 1, "kept": True})
            old_port = first.port
    finally:
        first.stop()

    # A different port than last time: the stored replica set config must be re-pointed at it.
    second = EmbeddedMongod(tmp_path, port=next(p for p in range(old_port + 1, old_port + 100) if _free(p)))
    uri = second.start()
    try:
        assert second.port != old_port
        with MongoClient(uri) as client:
            assert client.admin.command("hello")["isWritablePrimary"]
            assert client.oms.things.find_one({"_id": 1}) == {"_id": 1, "kept": True}
            # Transactions need a replica set: prove we have one.
            with client.start_session() as session, session.start_transaction():
                client.oms.things.insert_one({"_id": 2}, session=session)
            assert client.oms.things.count_documents({}) == 2
    finally:
        second.stop()
    # One log for both runs: mongod never renames the previous run's log aside.
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith("mongod.log")) == ["mongod.log"]
    assert (tmp_path / "mongod.log").read_text().count('"msg":"Build Info"') == 2


def test_missing_binary_says_what_to_do(tmp_path: Path) -> None:
    with pytest.raises(MongodNotFound) as excinfo:
        find_mongod(str(tmp_path / "no-such-mongod"))
    assert "MONGODB_URI" in str(excinfo.value)
    assert "OMS_MONGOD" in str(excinfo.value)


def test_one_process_owns_a_data_directory_until_it_ends_however_it_ends(tmp_path: Path) -> None:
    # Given another process that took the data directory, as `oms serve` does, and published its mongod
    holder = subprocess.Popen(
        [sys.executable, "-c", _HOLD, str(tmp_path)], stdout=subprocess.PIPE, stdin=subprocess.DEVNULL, text=True
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "published"

        # When this process asks for it
        mine = DataDir(tmp_path)
        owner = mine.lock("seed")

        # Then it is told who holds it and where that server's mongod listens
        assert owner is not None
        assert (owner.pid, owner.command, owner.uri) == (holder.pid, "serve", "mongodb://127.0.0.1:1/")

        # And once the holder is killed outright (no clean-up of its own), the directory is free
        holder.kill()
        holder.wait(timeout=30)
        assert mine.lock("seed") is None
        assert DataDir(tmp_path).lock("apikey") == mine.owner()  # taken: by us, as `oms seed`
        assert (mine.owner().pid, mine.owner().command, mine.owner().uri) == (os.getpid(), "seed", None)
    finally:
        holder.kill()
        holder.wait(timeout=30)
        holder.stdout.close()  # type: ignore[union-attr]
    mine.unlock()
    assert not (tmp_path / "oms.json").exists()
    assert DataDir(tmp_path).lock("serve") is None


def test_a_mongod_still_shutting_down_is_waited_for(tmp_path: Path) -> None:
    # Given a mongod on the data directory whose owner vanished (it is not ours to stop)
    orphan = EmbeddedMongod(tmp_path)
    orphan.start()
    assert orphan.pid is not None
    try:
        # When it is told to stop, and at once another mongod starts on the same files
        os.kill(orphan.pid, 15)
        started = time.monotonic()
        successor = EmbeddedMongod(tmp_path)
        uri = successor.start()

        # Then the new one waited for the old one and became primary on the same data
        with MongoClient(uri) as client:
            assert client.admin.command("hello")["isWritablePrimary"]
        assert time.monotonic() - started < 60
        successor.stop()
    finally:
        orphan.stop()


def test_a_configured_port_that_cannot_be_bound_is_refused_not_replaced(tmp_path: Path) -> None:
    # Given something listening on the configured port
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]

        # When a mongod is started on it, then it is refused, before any mongod runs
        with pytest.raises(MongodPortUnavailable) as refused:
            EmbeddedMongod(tmp_path, port=port).start()
    assert (refused.value.port, refused.value.reason) == (port, "Address already in use")
    assert not (tmp_path / "mongod.log").exists()


def test_a_mongod_that_keeps_dying_is_restarted_on_its_port_with_growing_backoff(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="app.embedded_mongod")
    mongod = EmbeddedMongod(tmp_path)
    uri = mongod.start()
    supervisor = MongodSupervisor(mongod, initial_backoff=0.2, stable_after=600)
    supervisor.start()
    try:
        with MongoClient(uri) as client:
            client.oms.things.insert_one({"_id": 1})
        for restarts in (1, 2):
            # When the mongod is killed outright
            killed = mongod.pid
            assert killed is not None
            os.kill(killed, signal.SIGKILL)

            # Then a new one is primary on the same port, with the data
            _until(lambda: supervisor.restarts == restarts, timeout=90)
            assert mongod.pid != killed and mongod.uri == uri
            with MongoClient(uri) as client:
                assert client.admin.command("hello")["isWritablePrimary"]
                assert client.oms.things.find_one({"_id": 1}) == {"_id": 1}

        # And each death was logged with its exit code and mongod's last words: a warning, then,
        # as it keeps dying, an error, with the backoff doubled
        deaths = [r for r in caplog.records if r.name == "app.embedded_mongod" and "exited" in r.getMessage()]
        assert [(r.levelno, r.exit_code, r.restart_in_seconds) for r in deaths] == [  # type: ignore[attr-defined]
            (logging.WARNING, -9, 0.2),
            (logging.ERROR, -9, 0.4),
        ]
        assert all(r.mongod_log_tail for r in deaths)  # type: ignore[attr-defined]
    finally:
        supervisor.stop()

    # And stopping it on purpose is not a death: stopped cleanly, never started again
    assert mongod.pid is None
    time.sleep(1.0)  # longer than the next backoff (0.8 s)
    assert (tmp_path / "mongo" / "mongod.lock").read_text() == ""
    assert supervisor.restarts == 2


def _until(condition: Callable[[], bool], *, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


_HOLD = """
import sys, time
from pathlib import Path
from app.embedded_mongod import DataDir
data_dir = DataDir(Path(sys.argv[1]))
assert data_dir.lock("serve") is None
data_dir.publish("mongodb://127.0.0.1:1/")
print("published", flush=True)
time.sleep(600)
"""
