"""`oms serve --workers 2` as a real process on the test's database: captures from several clients
land in both workers, one worker leads the sequencer, every subscriber (on whichever worker)
receives every order event exactly once and in order, the scheduler releases each order once, one
scrape answers for both workers, and one client's budget holds across them."""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import signal
import socket
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from app.cli import _worker_count
from app.domain.clock import utcnow
from app.domain.principals import Role
from app.repositories.database import Mongo
from app.services.container import Services
from app.settings import Settings
from tests.factories import World
from tests.order_helpers import CAPTURE, capture_input, network
from tests.realtime import ROOT, GraphQLWs, free_port, stop_process
from tests.test_startup import Server, oms_env


ORDER_UPDATED = "subscription($after: String) { orderUpdated(after: $after) { cursor event { type } } }"
CHANNELS = "{ channels { code } }"


class WorkersServer:
    """`oms serve --workers N` in its own process group, on the test's database; its stderr in a file."""

    def __init__(self, settings: Settings, log: Path, *, workers: int = 2, **env: str):
        self.port = free_port()
        self.log = log
        self.workers = workers
        self.env = {
            **{k: v for k, v in os.environ.items() if not k.startswith("OMS_")},
            "MONGODB_URI": settings.mongodb_uri or "",
            "OMS_DB_NAME": settings.database,
            "OMS_ENV": "test",
            "OMS_ALLOW_ANONYMOUS_ADMIN": "false",
            "OMS_LOG_LEVEL": "WARNING",
            "OMS_SCHEDULER_INTERVAL": "0",
            **env,
        }
        self.env.pop("PROMETHEUS_MULTIPROC_DIR", None)
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def __aenter__(self) -> WorkersServer:
        with self.log.open("w") as stderr:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "app.cli", "serve", "--port", str(self.port), "--workers", str(self.workers)],
                cwd=ROOT, env=self.env, stdout=subprocess.DEVNULL, stderr=stderr,
            )
        return self

    async def wait_workers(self, mongo: Mongo, *, timeout: float = 90) -> list[int]:
        """The workers' pids, once each has registered its instance and the port answers ready."""
        deadline = time.monotonic() + timeout
        async with httpx.AsyncClient() as client:
            while True:
                pids = await worker_pids(mongo)
                with contextlib.suppress(httpx.HTTPError):
                    ready = (await client.get(f"{self.url}/readyz")).status_code == 200
                    if ready and len(pids) == self.workers:
                        return pids
                if self.process.poll() is not None or time.monotonic() > deadline:  # type: ignore[union-attr]
                    raise AssertionError(f"workers did not start ({pids}):\n{self.log.read_text()}")
                await asyncio.sleep(0.1)

    async def __aexit__(self, *exc: object) -> None:
        stop_process(self.process)


async def worker_pids(mongo: Mongo) -> list[int]:
    """Pids of the live instances (host:pid:...) registered in the instances collection."""
    docs = await mongo.db.instances.find({}, {"_id": 1}).to_list(None)
    return sorted({int(doc["_id"].split(":")[1]) for doc in docs})


def served_by(response: httpx.Response) -> str:
    """Which worker answered: the request id starts with a random prefix per process (app/logs.py)."""
    return response.headers["x-request-id"][:16]


async def _capture_from_clients(url: str, token: str, prefix: str, clients: int, each: int, **fields: Any) -> list[httpx.Response]:
    """`clients` clients capturing `each` orders; each on a new connection, which the kernel hands
    to whichever worker accepts it first."""

    async def client(n: int) -> list[httpx.Response]:
        answers = []
        for i in range(each):
            async with httpx.AsyncClient(base_url=url, headers={"Authorization": f"Bearer {token}"}, timeout=60) as http:
                given = capture_input(f"{prefix}-{n}-{i}", lines=[{"sku": "SKU-1", "quantity": 1, "unitPriceCents": 1000}], **fields)
                answers.append(await http.post("/graphql", json={"query": CAPTURE, "variables": {"input": given}}))
        return answers

    return [answer for answers in await asyncio.gather(*(client(n) for n in range(clients))) for answer in answers]


async def _stamped_order_events(mongo: Mongo, after: int, *, timeout: float = 30) -> list[int]:
    """Seqs of the order events (what orderUpdated carries) after `after`, once every event in the log carries one."""
    deadline = time.monotonic() + timeout
    while await mongo.db.events.count_documents({"seq": None}):
        assert time.monotonic() < deadline, "events left unstamped"
        await asyncio.sleep(0.05)
    found = mongo.db.events.find({"seq": {"$gt": after}, "aggregate_type": "Order"}, {"seq": 1}).sort("seq", 1)
    docs = await found.to_list(None)
    return [doc["seq"] for doc in docs]


async def _receive_through(client: GraphQLWs, last: int) -> list[int]:
    cursors: list[int] = []
    while not cursors or cursors[-1] < last:
        cursors.append(int((await client.next_data("orderUpdated"))["cursor"]))
    return cursors


@pytest.mark.usefixtures("reservations_consistent")
async def test_two_workers_share_captures_one_leader_each_event_once_and_one_release_per_order(
    world: World, settings: Settings, services: Services, mongo: Mongo, tmp_path: Path
) -> None:
    await network(world)
    await mongo.db.inventory.update_one({"_id": "SKU-1@DC-CHI"}, {"$set": {"on_hand": 10_000, "available": 10_000}})
    _, token = await services.auth.create_api_key(name="workers", role=Role.ADMIN)
    async with WorkersServer(settings, tmp_path / "serve.log", OMS_SCHEDULER_INTERVAL="0.2") as server:
        pids = await server.wait_workers(mongo)
        assert server.process.pid not in pids  # type: ignore[union-attr] # the parent only supervises

        # One worker leads the sequencer
        lease = await mongo.db.leases.find_one({"owner": {"$exists": True}})
        assert lease is not None and int(lease["owner"].split(":")[1]) in pids

        # Subscribers on both workers (new connections: the kernel spreads them), from the log's end
        start = (await mongo.db.events.find_one({}, sort=[("seq", -1)]) or {}).get("seq") or 0
        async with contextlib.AsyncExitStack() as stack:
            subscribers = [
                await stack.enter_async_context(GraphQLWs.connect(f"ws://127.0.0.1:{server.port}/graphql", token))
                for _ in range(4)
            ]
            for subscriber in subscribers:
                await subscriber.subscribe(ORDER_UPDATED, {"after": str(start)})

            # When 8 clients capture 40 orders (again, should the kernel have given one worker every connection)
            answers: list[httpx.Response] = []
            for batch in range(5):
                answers += await _capture_from_clients(server.url, token, f"W{batch}", clients=8, each=5)
                if len({served_by(a) for a in answers}) == 2:
                    break

            # Then all are captured, by both workers
            typenames = {a.json()["data"]["captureOrder"]["__typename"] for a in answers}
            assert typenames == {"CaptureOrderPayload"} and len(answers) >= 40
            workers = {served_by(a) for a in answers}
            assert len(workers) == 2, workers

            # And every subscriber receives each order event once, in the log's order
            expected = await _stamped_order_events(mongo, start)
            assert len(expected) >= 2 * len(answers)  # captured, then allocated: two per order
            for subscriber in subscribers:
                assert await _receive_through(subscriber, expected[-1]) == expected
                await subscriber.nothing_more(0.3)

        # Scheduled orders, due now, are released once each with both workers' schedulers running
        far = (utcnow().date() + timedelta(days=20)).isoformat()
        scheduled = await _capture_from_clients(server.url, token, "S", clients=4, each=3, requestedDeliveryDate=far)
        assert {a.json()["data"]["captureOrder"]["order"]["status"] for a in scheduled} == {"SCHEDULED"}
        await mongo.db.orders.update_many({"status": "SCHEDULED"}, {"$set": {"release_at": utcnow() - timedelta(minutes=1)}})
        deadline = time.monotonic() + 60
        while await mongo.db.orders.count_documents({"status": "SCHEDULED"}):
            assert time.monotonic() < deadline, "scheduled orders were not released"
            await asyncio.sleep(0.1)
        assert await mongo.db.events.count_documents({"type": "OrderReleased"}) == 12

        # And one scrape answers for both workers: one leader, 52 captures
        async with httpx.AsyncClient(headers={"Authorization": f"Bearer {token}"}) as http:
            scrape = (await http.get(f"{server.url}/metrics")).text
        assert _sample(scrape, "oms_sequencer_leader") == 1
        rss_pids = set(re.findall(r'oms_process_resident_memory_bytes\{pid="(\d+)"\}', scrape))
        assert rss_pids == {str(pid) for pid in pids}, rss_pids
        assert "Traceback" not in (tmp_path / "serve.log").read_text()


def _sample(scrape: str, name: str) -> float:
    return sum(float(m) for m in re.findall(rf"^{name}(?:\{{[^}}]*\}})? (\S+)$", scrape, re.MULTILINE))


async def test_one_clients_budget_holds_across_two_workers(
    world: World, settings: Settings, services: Services, mongo: Mongo, tmp_path: Path
) -> None:
    _, token = await services.auth.create_api_key(name="shop-frontend", role=Role.ADMIN)
    limits = {"OMS_RATE_CAPACITY": "30", "OMS_RATE_PER_SECOND": "0.001"}
    async with WorkersServer(settings, tmp_path / "serve.log", **limits) as server:
        await server.wait_workers(mongo)

        async def ask(http: httpx.AsyncClient) -> httpx.Response:
            return await http.post("/graphql", json={"query": CHANNELS})

        # 60 requests of cost 1, each on a new connection, spread by the kernel over both workers
        async def one() -> httpx.Response:
            async with httpx.AsyncClient(base_url=server.url, headers={"Authorization": f"Bearer {token}"}, timeout=60) as http:
                return await ask(http)

        answers = await asyncio.gather(*(one() for _ in range(60)))
    statuses = [a.status_code for a in answers]
    assert statuses.count(200) == 30 and statuses.count(429) == 30
    assert len({served_by(a) for a in answers}) == 2


def _children(pid: int) -> list[int]:
    try:
        return [int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        return []


def _cmdline(pid: int) -> str:
    return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()


def test_two_workers_on_the_embedded_mongod_start_it_once_and_stop_cleanly(tmp_path: Path) -> None:
    data = tmp_path / "data"
    env = oms_env(OMS_DATA_DIR=str(data), OMS_ALLOW_ANONYMOUS_ADMIN="false", OMS_WORKERS="2")
    server = Server(env, tmp_path / "serve.log")
    try:
        server.wait_ready()
        # Both workers answer on the one port (each new connection goes to whichever accepts it)
        answered: set[str] = set()
        deadline = time.monotonic() + 60
        while len(answered) < 2:
            assert time.monotonic() < deadline, f"only {answered} answered:\n{server.stderr}"
            answer = httpx.get(f"{server.url}/readyz", timeout=10)
            if answer.status_code == 200:
                answered.add(served_by(answer))

        # The supervisor started one mongod, and each worker uses it
        children = _children(server.process.pid)
        mongods = [pid for pid in children if "mongod" in _cmdline(pid).split(" ")[0]]
        workers = [pid for pid in children if "multiprocessing" in _cmdline(pid) and "resource_tracker" not in _cmdline(pid)]
        assert len(mongods) == 1 and len(workers) == 2, [_cmdline(pid) for pid in children]
        assert not any("mongod" in _cmdline(grandchild) for pid in workers for grandchild in _children(pid))
        # ... and shares a fresh metrics directory with them
        environ = dict(
            item.split("=", 1) for item in Path(f"/proc/{workers[0]}/environ").read_bytes().decode().split("\0") if "=" in item
        )
        metrics_dir = Path(environ["PROMETHEUS_MULTIPROC_DIR"])
        assert metrics_dir.is_dir()

        # SIGTERM stops the workers, then the mongod; the directory and the lock are released
        assert server.stop(signal.SIGTERM) == 0, server.stderr
        assert "Traceback" not in server.stderr
        assert not metrics_dir.exists()
        assert (data / "mongo" / "mongod.lock").read_text() == ""
        assert not (data / "oms.json").exists()
    finally:
        server.kill()


def test_the_worker_count_is_the_option_else_oms_workers_else_the_cores_in_production() -> None:
    cores = len(os.sched_getaffinity(0))
    assert _worker_count(Settings.from_env({}), None) == 1
    assert _worker_count(Settings.from_env({"OMS_ENV": "production"}), None) == cores
    assert _worker_count(Settings.from_env({"OMS_ENV": "production", "OMS_WORKERS": "3"}), None) == 3
    assert _worker_count(Settings.from_env({"OMS_WORKERS": "3"}), 2) == 2
    with pytest.raises(SystemExit, match="1 or more"):
        _worker_count(Settings.from_env({}), 0)


async def test_each_worker_listens_on_its_own_socket_and_a_burst_of_connections_reaches_both(
    settings: Settings, mongo: Mongo, tmp_path: Path
) -> None:
    async with WorkersServer(settings, tmp_path / "serve.log") as server:
        pids = await server.wait_workers(mongo)

        # Each worker listens on a socket of its own on the port; the supervisor listens on none
        # (a worker registers its instance during start-up, before uvicorn starts listening)
        deadline = time.monotonic() + 60
        while len(listeners := _listeners(server.port)) < len(pids) and time.monotonic() < deadline:
            await asyncio.sleep(0.1)
        assert sorted(listeners.values()) == pids

        # When 64 clients connect at once, before either worker accepts any (a balancer's pool
        # opening), and each then asks on its own connection
        connections = [socket.create_connection(("127.0.0.1", server.port), timeout=60) for _ in range(64)]
        try:
            answered_by = await asyncio.gather(*(asyncio.to_thread(_served_on, c) for c in connections))
        finally:
            for connection in connections:
                connection.close()

    # Then the kernel spread them over both workers (with one shared socket the first worker to
    # wake accepted most of a burst, and kept those clients for good)
    shares = sorted(answered_by.count(worker) for worker in set(answered_by))
    assert len(shares) == 2 and shares[0] >= 16, shares


def _listeners(port: int) -> dict[int, int]:
    """The listening TCP sockets on `port` (socket inode → the pid holding it)."""
    inodes = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for row in Path(table).read_text().splitlines()[1:]:
            fields = row.split()
            if int(fields[1].rsplit(":", 1)[1], 16) == port and fields[3] == "0A":  # 0A: LISTEN
                inodes.add(int(fields[9]))
    holders = {}
    for fd in Path("/proc").glob("[0-9]*/fd/*"):
        with contextlib.suppress(OSError):
            target = os.readlink(fd)
            if target.startswith("socket:[") and int(target[8:-1]) in inodes:
                holders[int(target[8:-1])] = int(fd.parts[2])
    return holders


def _served_on(connection: socket.socket) -> str:
    """The answering worker's request-id prefix, for a GET /healthz sent on `connection`."""
    connection.sendall(b"GET /healthz HTTP/1.1\r\nHost: oms\r\nConnection: close\r\n\r\n")
    received = b""
    while b"\r\n\r\n" not in received:
        chunk = connection.recv(65536)
        assert chunk, received
        received += chunk
    headers = received.split(b"\r\n\r\n", 1)[0].decode().lower().splitlines()
    request_id = next(line.split(":", 1)[1].strip() for line in headers if line.startswith("x-request-id:"))
    return request_id[:16]
