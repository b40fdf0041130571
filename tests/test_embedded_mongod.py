"""The embedded mongod: a real single-node replica set that survives a port change between runs."""

from __future__ import annotations

from pathlib import Path

import pytest
from pymongo import MongoClient

from app.embedded_mongod import EmbeddedMongod, MongodNotFound, _port_is_free as _free, find_mongod


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


def test_missing_binary_says_what_to_do(tmp_path: Path) -> None:
    with pytest.raises(MongodNotFound) as excinfo:
        find_mongod(str(tmp_path / "no-such-mongod"))
    assert "MONGODB_URI" in str(excinfo.value)
    assert "OMS_MONGOD" in str(excinfo.value)
