"""`oms serve --workers 2` with the default fan-out: the supervising process runs a local broker for
its workers, so the worker that does not lead the sequencer receives every batch from it and does
no database work for it (no change stream on relay_state, which would make mongod scan the oplog
once more per worker). Subscribers on either worker get every event once and in order, also
across the death of the leading worker (uvicorn starts a new one, which joins the broker). The
hubs' tail check is off: the broker, or a gap it shows, is the only way a worker hears of an event."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import time
from pathlib import Path
from typing import Any

from app.domain.principals import Role
from app.repositories.database import Mongo
from app.services.container import Services
from app.settings import Settings
from tests.factories import World
from tests.order_helpers import network
from tests.realtime import GraphQLWs
from tests.test_serve_workers import (
    ORDER_UPDATED,
    WorkersServer,
    _capture_from_clients,
    _receive_through,
    _stamped_order_events,
    served_by,
    worker_pids,
)


# A busy machine (load 15 on 2 cores) took over 90 s to start two workers; and the client's own
# WebSocket keep-alive is off, since a late pong there says nothing about what is tested here.
START_TIMEOUT = 240


def _environ(pid: int) -> dict[str, str]:
    raw = Path(f"/proc/{pid}/environ").read_bytes().decode()
    return dict(item.split("=", 1) for item in raw.split("\0") if "=" in item)


async def change_streams(mongo: Mongo) -> dict[str, int]:
    """Open change streams on this database, by collection: idle cursors and getMores in flight."""
    ops = await (
        await mongo.client.admin.aggregate(
            [
                {"$currentOp": {"idleCursors": True, "allUsers": True}},
                {"$match": {"ns": {"$regex": f"^{mongo.db.name}\\."}}},
            ]
        )
    ).to_list(None)
    counts: dict[str, int] = {}
    for op in ops:
        command: dict[str, Any] = (op.get("cursor") or {}).get("originatingCommand") or op.get("command") or {}
        if any("$changeStream" in stage for stage in command.get("pipeline", [])):
            collection = op["ns"].split(".", 1)[1]
            counts[collection] = counts.get(collection, 0) + 1
    return counts


async def _until_change_streams(mongo: Mongo, wanted: dict[str, int], *, timeout: float = 30) -> dict[str, int]:
    deadline = time.monotonic() + timeout
    while True:
        found = await change_streams(mongo)
        if all(found.get(name, 0) == count for name, count in wanted.items()):
            return found
        assert time.monotonic() < deadline, f"change streams {found}, wanted {wanted}"
        await asyncio.sleep(0.1)


async def _leader_pid(mongo: Mongo, pids: list[int], *, timeout: float = 30) -> int:
    deadline = time.monotonic() + timeout
    while True:
        lease = await mongo.db.leases.find_one({"_id": "sequencer", "owner": {"$exists": True}})
        if lease is not None and int(lease["owner"].split(":")[1]) in pids and lease.get("session"):
            return int(lease["owner"].split(":")[1])
        assert time.monotonic() < deadline, f"no leader among {pids}: {lease}"
        await asyncio.sleep(0.1)


async def test_workers_get_batches_from_the_local_broker_and_follow_nothing_in_mongodb(
    world: World, settings: Settings, services: Services, mongo: Mongo, tmp_path: Path
) -> None:
    await network(world)
    await mongo.db.inventory.update_one({"_id": "SKU-1@DC-CHI"}, {"$set": {"on_hand": 10_000, "available": 10_000}})
    _, token = await services.auth.create_api_key(name="workers", role=Role.ADMIN)
    async with WorkersServer(settings, tmp_path / "serve.log", OMS_HUB_TAIL_CHECK="0") as server:
        pids = await server.wait_workers(mongo, timeout=START_TIMEOUT)

        # The workers were given the supervisor's broker, on a socket only this user can open
        urls = {_environ(pid)["OMS_BROADCAST_URL"] for pid in pids}
        assert len(urls) == 1 and (url := urls.pop()).startswith("local+unix:///")
        assert os.stat(Path(url.removeprefix("local+unix://")).parent).st_mode & 0o077 == 0

        # One change stream on the log (the leader's), none on the relay state: nobody follows it
        leader = await _leader_pid(mongo, pids)
        assert await _until_change_streams(mongo, {"events": 1, "relay_state": 0})

        start = (await mongo.db.events.find_one({}, sort=[("seq", -1)]) or {}).get("seq") or 0
        async with contextlib.AsyncExitStack() as stack:
            subscribers = [
                await stack.enter_async_context(GraphQLWs.connect(f"ws://127.0.0.1:{server.port}/graphql", token, ping_interval=None))
                for _ in range(4)
            ]
            for subscriber in subscribers:
                await subscriber.subscribe(ORDER_UPDATED, {"after": str(start)})

            # When clients capture orders on both workers
            answers = []
            for batch in range(5):
                answers += await _capture_from_clients(server.url, token, f"F{batch}", clients=8, each=3)
                if len({served_by(a) for a in answers}) == 2:
                    break
            assert {a.json()["data"]["captureOrder"]["__typename"] for a in answers} == {"CaptureOrderPayload"}
            assert len({served_by(a) for a in answers}) == 2

            # Then every subscriber, on either worker, receives each order event once, in order
            expected = await _stamped_order_events(mongo, start)
            assert len(expected) >= 2 * len(answers)
            for subscriber in subscribers:
                assert await _receive_through(subscriber, expected[-1]) == expected
                await subscriber.nothing_more(0.3)

            # And the streams are as before: still no relay following, the same leader
            assert (await change_streams(mongo)).get("relay_state", 0) == 0
            assert await _leader_pid(mongo, pids) == leader
    assert "Traceback" not in (tmp_path / "serve.log").read_text()


async def test_subscribers_lose_nothing_when_the_leading_worker_dies_and_its_replacement_joins_the_broker(
    world: World, settings: Settings, services: Services, mongo: Mongo, tmp_path: Path
) -> None:
    await network(world)
    await mongo.db.inventory.update_one({"_id": "SKU-1@DC-CHI"}, {"$set": {"on_hand": 10_000, "available": 10_000}})
    _, token = await services.auth.create_api_key(name="workers", role=Role.ADMIN)
    async with WorkersServer(settings, tmp_path / "serve.log", OMS_HUB_TAIL_CHECK="0") as server:
        pids = await server.wait_workers(mongo, timeout=START_TIMEOUT)
        leader = await _leader_pid(mongo, pids)
        start = (await mongo.db.events.find_one({}, sort=[("seq", -1)]) or {}).get("seq") or 0
        ws_url = f"ws://127.0.0.1:{server.port}/graphql"

        async with contextlib.AsyncExitStack() as stack:
            # Subscribers on the worker that will survive (the kernel picks the worker for each
            # connection; those that land on the leader stay open, unused)
            survivors: list[GraphQLWs] = []
            deadline = time.monotonic() + 60
            while len(survivors) < 2:
                assert time.monotonic() < deadline, "no subscriber landed on the following worker"
                client = await stack.enter_async_context(GraphQLWs.connect(ws_url, token, ping_interval=None))
                if _worker_of(client, server.port, pids) != leader:
                    await client.subscribe(ORDER_UPDATED, {"after": str(start)})
                    survivors.append(client)

            # When orders are captured, the leader is killed mid-way, and more are captured
            await _capture_from_clients(server.url, token, "K1", clients=4, each=3)
            os.kill(leader, signal.SIGKILL)
            await _capture_from_clients(server.url, token, "K2", clients=4, each=3)

            # Then a new leader takes over, uvicorn replaces the dead worker, which joins the broker
            # rather than following the relay state (the dead leader's stream on the log stays
            # open on the server as an idle cursor until it times out, so that one is not counted)
            replaced = await _replaced(server, mongo, leader)
            new_leader = await _leader_pid(mongo, replaced)
            assert (await change_streams(mongo)).get("relay_state", 0) == 0
            await _capture_from_clients(server.url, token, "K3", clients=4, each=3)

            # And the surviving subscribers received every order event once, in order
            expected = await _stamped_order_events(mongo, start)
            assert len(expected) >= 2 * 36
            for subscriber in survivors:
                assert await _receive_through(subscriber, expected[-1]) == expected
                await subscriber.nothing_more(0.3)

            # So do subscribers that start on the replacement worker now, from the same cursor
            fresh: list[GraphQLWs] = []
            deadline = time.monotonic() + 60
            while not fresh:
                assert time.monotonic() < deadline, "no subscriber landed on the replacement worker"
                client = await stack.enter_async_context(GraphQLWs.connect(ws_url, token, ping_interval=None))
                if _worker_of(client, server.port, replaced) != new_leader:
                    fresh.append(client)
            await fresh[0].subscribe(ORDER_UPDATED, {"after": str(start)})
            more = await _capture_from_clients(server.url, token, "K4", clients=2, each=2)
            assert len(more) == 4
            expected = await _stamped_order_events(mongo, start)
            assert await _receive_through(fresh[0], expected[-1]) == expected



async def _replaced(server: WorkersServer, mongo: Mongo, dead: int, *, timeout: float = 120) -> list[int]:
    """The workers once the dead one's entry is gone and its replacement has registered."""
    deadline = time.monotonic() + timeout
    while True:
        pids = await worker_pids(mongo)
        if len(pids) == server.workers and dead not in pids:
            return await server.wait_workers(mongo, timeout=START_TIMEOUT)
        assert time.monotonic() < deadline, f"the dead worker was not replaced: {pids}"
        await asyncio.sleep(0.1)


def _worker_of(client: GraphQLWs, server_port: int, pids: list[int]) -> int:
    """The worker holding the server's end of this client's connection: its socket's inode (from
    /proc/net/tcp) among the workers' open files."""
    client_port = client.ws.local_address[1]
    local, remote = f"0100007F:{server_port:04X}", f"0100007F:{client_port:04X}"
    inode = next(
        fields[9]
        for line in Path("/proc/net/tcp").read_text().splitlines()[1:]
        if (fields := line.split())[1] == local and fields[2] == remote
    )
    for pid in pids:
        with contextlib.suppress(OSError):
            for fd in Path(f"/proc/{pid}/fd").iterdir():
                with contextlib.suppress(OSError):
                    if os.readlink(fd) == f"socket:[{inode}]":
                        return pid
    raise AssertionError(f"no worker of {pids} holds the connection from port {client_port}")
