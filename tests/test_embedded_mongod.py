"""The embedded mongod: a real single-node replica set that survives a port change between runs."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from pymongo import MongoClient

from app.embedded_mongod import DataDir, EmbeddedMongod, MongodNotFound, _port_is_free as _free, find_mongod


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
