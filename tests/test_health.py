from __future__ import annotations

import asyncio
import os
import signal
import time
from pathlib import Path

import httpx
from asgi_lifespan import LifespanManager

from app.asgi import create_app
from app.embedded_mongod import EmbeddedMongod
from app.settings import Settings


async def test_healthz_and_readyz_report_process_and_primary(http: httpx.AsyncClient) -> None:
    health = await http.get("/healthz")
    ready = await http.get("/readyz")
    assert health.status_code == 200 and health.json() == {"status": "ok"}
    assert ready.status_code == 200 and ready.json() == {"status": "ready"}
    assert health.headers["x-request-id"]


async def test_readyz_fails_fast_while_mongodb_hangs_and_recovers_after(tmp_path: Path) -> None:
    # Given a server on its own mongod (never the session's shared one: it is about to be frozen)
    mongod = EmbeddedMongod(tmp_path)
    uri = mongod.start()
    settings = Settings(env="test", mongodb_uri=uri, database="oms", relay_enabled=False, scheduler_interval_seconds=0)
    try:
        async with LifespanManager(create_app(settings), shutdown_timeout=30) as manager:
            transport = httpx.ASGITransport(app=manager.app)
            async with httpx.AsyncClient(transport=transport, base_url="http://oms.test") as http:
                assert (await http.get("/readyz")).status_code == 200
                assert mongod.pid is not None
                # When mongod stops answering (frozen, as a hung host or a long GC pause would be)
                os.kill(mongod.pid, signal.SIGSTOP)
                try:
                    await _until_stopped(mongod.pid)  # a stop reaches each thread in its own time
                    # Then /readyz says so within 2 s, every time: a timed-out ping leaves the pool usable
                    for _ in range(3):
                        started = time.monotonic()
                        answers = await asyncio.gather(*(http.get("/readyz") for _ in range(4)))
                        elapsed = time.monotonic() - started
                        assert [a.status_code for a in answers] == [503] * 4
                        assert answers[0].json() == {"status": "unavailable"}
                        assert elapsed < 2.0, f"/readyz took {elapsed:.2f} s"
                finally:
                    os.kill(mongod.pid, signal.SIGCONT)
                # And once mongod answers again, so does /readyz
                await _until_ready(http, timeout=60)
                for _ in range(10):
                    assert (await http.get("/readyz")).status_code == 200
    finally:
        mongod.stop()


async def _until_ready(http: httpx.AsyncClient, *, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while (await http.get("/readyz")).status_code != 200:
        assert time.monotonic() < deadline, "/readyz did not recover"
        await asyncio.sleep(0.1)


async def _until_stopped(pid: int, *, timeout: float = 10) -> None:
    """Every thread of `pid` is stopped (state T in /proc), so no reply is on its way any more."""
    deadline = time.monotonic() + timeout
    while True:
        states = []
        for task in Path(f"/proc/{pid}/task").iterdir():
            try:
                states.append((task / "stat").read_text().rsplit(")", 1)[1].split()[0])
            except FileNotFoundError:  # a thread that ended meanwhile
                continue
        if states and all(state in ("T", "t") for state in states):
            return
        assert time.monotonic() < deadline, f"mongod {pid} did not stop: {states}"
        await asyncio.sleep(0.01)
