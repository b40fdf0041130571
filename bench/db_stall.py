"""Database stalls: mongod frozen (SIGSTOP) under load, then resumed; does the API fail fast,
typed and retryable while it is gone, and come back at once when it returns?

    python -m bench.db_stall                          # 5 cycles of 35-60 s stalls
    python -m bench.db_stall --cycles 20 --stall 35-60
    python -m bench.db_stall --quick                  # 2 cycles of 8 s, well under a minute

The server is `oms serve` (uvicorn, sequencer, scheduler) in a subprocess on a throwaway mongod.
Clients in this process keep it busy: GraphQL queries and captureOrder mutations over HTTP,
subscribers that come and go over WebSocket (each departure cancels server tasks that may be
waiting on the database), and pollers of /readyz and /livez. Per cycle it reports how long a
request took to fail during the stall and with what, how long /readyz took to say 503, and the
recovery: the time from SIGCONT after which every request succeeded. A cycle that has not
recovered within `--wedge-after` seconds is a wedge: the run stops there with the server's log.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import websockets

from app.domain.principals import Role
from app.embedded_mongod import EmbeddedMongod, free_port
from app.repositories.database import Mongo, connect
from app.repositories.indexes import ensure_indexes
from app.services.container import build_services
from app.services.demo_seed import SeedSize, seed_demo
from bench.capture_order import order_input
from bench.harness import add_output_flags, peak_rss_mb, rss_mb, write_result

DATABASE = "bench_stall"
ORDERS = "{ orders(first: 5) { edges { node { id status } } } }"
CAPTURE = """
mutation($input: CaptureOrderInput!) {
  captureOrder(input: $input) { __typename ... on Error { code } }
}
"""
SUBSCRIBE = 'subscription { orderUpdated(channel: "web") { cursor } }'
CLIENT_TIMEOUT = 30.0


@dataclass
class Sample:
    kind: str
    started: float
    ended: float
    ok: bool
    status: int | None
    code: str | None
    retry_after: str | None = None


@dataclass
class Run:
    samples: list[Sample] = field(default_factory=list)
    stop: asyncio.Event = field(default_factory=asyncio.Event)


async def prepare(uri: str) -> tuple[str, str, list[str], list[str]]:
    """A small demo network with ample stock; an ADMIN key (queries, subscriptions) and a web channel key."""
    mongo = Mongo(connect(uri), DATABASE)
    try:
        await mongo.client.drop_database(DATABASE)
        await ensure_indexes(mongo.db)
        await seed_demo(mongo, SeedSize(locations=8, skus=40, customers=40, orders=20), seed=3)
        await mongo.db["inventory"].update_many(
            {},
            [
                {"$set": {"on_hand": {"$add": ["$on_hand", 1_000_000]}}},
                {"$set": {"available": {"$max": [0, {"$subtract": [{"$subtract": ["$on_hand", "$reserved"]}, "$safety_stock"]}]}}},
            ],
        )
        auth = build_services(mongo, scheduler_interval_seconds=0).auth
        _, admin = await auth.create_api_key(name="bench-admin", role=Role.ADMIN)
        _, web = await auth.create_api_key(name="bench-web", role=Role.CHANNEL, channel_id="web")
        emails = [doc["email"] async for doc in mongo.db["customers"].find({}, {"email": 1})]
        skus = [doc["_id"] async for doc in mongo.db["products"].find({}, {"_id": 1})]
        return admin, web, emails, skus
    finally:
        await mongo.close()


def _code(response: httpx.Response) -> str | None:
    with contextlib.suppress(ValueError, KeyError, IndexError, TypeError):
        body = response.json()
        if "errors" in body:
            return str(body["errors"][0]["extensions"]["code"])
        data = body.get("data") or {}
        for value in data.values():
            if isinstance(value, dict) and value.get("code"):
                return str(value["code"])
    return None


async def http_worker(run: Run, http: httpx.AsyncClient, kind: str, make: Any, pause: float) -> None:
    n = 0
    while not run.stop.is_set():
        n += 1
        started = time.monotonic()
        try:
            response = await make(http, n)
            code = _code(response)
            ok = response.status_code == 200 and code is None
            sample = Sample(kind, started, time.monotonic(), ok, response.status_code, code, response.headers.get("retry-after"))
        except httpx.HTTPError as exc:
            sample = Sample(kind, started, time.monotonic(), False, None, type(exc).__name__)
        run.samples.append(sample)
        await asyncio.sleep(pause)


async def subscriber_churn(run: Run, ws_url: str, token: str) -> None:
    """Subscribe, stay 0.5-4 s, leave: each departure cancels the server's subscription task."""
    rng = random.Random()
    while not run.stop.is_set():
        started = time.monotonic()
        try:
            async with asyncio.timeout(CLIENT_TIMEOUT):
                async with websockets.connect(ws_url, subprotocols=["graphql-transport-ws"], open_timeout=10) as ws:  # type: ignore[list-item]
                    await ws.send(json.dumps({"type": "connection_init", "payload": {"apiKey": token}}))
                    ack = json.loads(await ws.recv())
                    ok = ack.get("type") == "connection_ack"
                    if ok:
                        await ws.send(json.dumps({"id": "1", "type": "subscribe", "payload": {"query": SUBSCRIBE}}))
                        with contextlib.suppress(TimeoutError):
                            async with asyncio.timeout(rng.uniform(0.5, 4.0)):
                                async for _ in ws:
                                    pass
            run.samples.append(Sample("ws", started, time.monotonic(), ok, None, None if ok else "NO_ACK"))
        except (OSError, TimeoutError, websockets.WebSocketException) as exc:
            run.samples.append(Sample("ws", started, time.monotonic(), False, None, type(exc).__name__))
            await asyncio.sleep(0.2)


def start_server(uri: str, port: int, log_path: Path) -> subprocess.Popen[bytes]:
    env = os.environ | {
        "MONGODB_URI": uri,
        "OMS_DB_NAME": DATABASE,
        "OMS_ENV": "production",
        "OMS_WORKERS": "1",  # one process: the stall is measured on the server's own pid
        "OMS_LOG_LEVEL": "INFO",
        "OMS_SCHEDULER_INTERVAL": "1",
        "OMS_RATE_CAPACITY": "0",
    }
    with log_path.open("wb") as log:
        return subprocess.Popen(
            [sys.executable, "-m", "app.cli", "serve", "--host", "127.0.0.1", "--port", str(port)],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )


async def wait_ready(base: str, server: subprocess.Popen[bytes]) -> None:
    async with httpx.AsyncClient() as http:
        for _ in range(600):
            if server.poll() is not None:
                raise SystemExit("server exited during start-up")
            with contextlib.suppress(httpx.HTTPError):
                if (await http.get(f"{base}/readyz", timeout=2)).status_code == 200:
                    return
            await asyncio.sleep(0.2)
    raise SystemExit("server did not become ready")


def cycle_report(samples: list[Sample], stopped: float, resumed: float, until: float, wedged: bool) -> dict[str, Any]:
    work = [s for s in samples if s.kind in ("query", "capture")]
    during = [s for s in work if stopped <= s.started < resumed]
    failed = [s for s in during if not s.ok]
    # Requests that started during the stall and were still waiting when mongod came back.
    rode_out = [s for s in during if s.ended > resumed]
    ready = [s for s in samples if s.kind == "readyz" and s.started >= stopped and s.ended <= resumed]
    # How soon a poller (every 0.2 s) was told: the first 503 answered after the freeze.
    first_503 = min((s.ended - stopped for s in samples if s.kind == "readyz" and stopped < s.ended <= resumed and s.status == 503), default=None)
    after = sorted((s for s in samples if s.kind in ("query", "capture", "readyz", "ws") and resumed <= s.started <= until), key=lambda s: s.started)
    # Recovery: the earliest moment after which everything that started succeeded.
    recovered_at = resumed
    for s in after:
        if not s.ok:
            recovered_at = max(recovered_at, s.started)
    first_ok = next((s.ended - resumed for s in after if s.ok and s.kind in ("query", "capture")), None)
    lived = [s for s in samples if s.kind == "livez" and stopped <= s.started <= until]
    return {
        "stall_s": round(resumed - stopped, 1),
        "requests_during": len(during),
        "failed_during": len(failed),
        "fail_codes": dict(Counter(f"{s.status}:{s.code}" for s in failed)),
        "fail_latency_max_s": round(max((s.ended - s.started for s in failed), default=0.0), 2),
        "waiting_at_resume": len(rode_out),
        "waiting_at_resume_longest_s": round(max((resumed - s.started for s in rode_out), default=0.0), 2),
        "retry_after_missing_on_503": sum(1 for s in failed if s.status == 503 and not s.retry_after),
        "readyz_503_after_s": None if first_503 is None else round(first_503, 2),
        "readyz_max_s": round(max((s.ended - s.started for s in ready), default=0.0), 2),
        "recovery_s": None if wedged else round(recovered_at - resumed, 2),
        "first_success_after_resume_s": None if first_ok is None else round(first_ok, 2),
        "failed_after_resume": dict(Counter(f"{s.kind}:{s.status}:{s.code}" for s in after if not s.ok)),
        "livez_codes": dict(Counter(str(s.status) for s in lived)),
        "wedged": wedged,
    }


async def main(args: argparse.Namespace) -> int:
    low, _, high = args.stall.partition("-")
    stall_range = (float(low), float(high or low))
    with tempfile.TemporaryDirectory(prefix="oms-stall-") as tmp:
        mongod = EmbeddedMongod(Path(tmp) / "db", cache_size_gb=0.5)
        uri = mongod.start()
        server = None
        try:
            admin, web, emails, skus = await prepare(uri)
            port = free_port()
            log_path = Path(tmp) / "server.log"
            server = start_server(uri, port, log_path)
            base = f"http://127.0.0.1:{port}"
            await wait_ready(base, server)
            run = Run()
            rng = random.Random(11)
            numbers = itertools.count(1)
            headers = {"authorization": f"Bearer {admin}"}

            async def query(http: httpx.AsyncClient, n: int) -> httpx.Response:
                return await http.post("/graphql", json={"query": ORDERS}, headers=headers)

            async def capture(http: httpx.AsyncClient, n: int) -> httpx.Response:
                given = order_input(rng, next(numbers), emails, skus, prefix=f"stall{os.getpid()}", lines=2)
                return await http.post(
                    "/graphql", json={"query": CAPTURE, "variables": {"input": given}}, headers={"x-api-key": web}
                )

            async def readyz(http: httpx.AsyncClient, n: int) -> httpx.Response:
                return await http.get("/readyz")

            async def livez(http: httpx.AsyncClient, n: int) -> httpx.Response:
                return await http.get("/livez")

            limits = httpx.Limits(max_connections=200, max_keepalive_connections=50)
            async with httpx.AsyncClient(base_url=base, timeout=CLIENT_TIMEOUT, limits=limits) as http:
                tasks = [asyncio.create_task(http_worker(run, http, "query", query, 0.05)) for _ in range(args.clients)]
                tasks += [asyncio.create_task(http_worker(run, http, "capture", capture, 0.1)) for _ in range(max(1, args.clients // 2))]
                tasks.append(asyncio.create_task(http_worker(run, http, "readyz", readyz, 0.2)))
                tasks.append(asyncio.create_task(http_worker(run, http, "livez", livez, 0.5)))
                ws_url = f"ws://127.0.0.1:{port}/graphql"
                tasks += [asyncio.create_task(subscriber_churn(run, ws_url, admin)) for _ in range(args.subscribers)]
                reports = []
                assert mongod.pid is not None
                try:
                    await asyncio.sleep(args.gap)
                    for cycle in range(1, args.cycles + 1):
                        stall = rng.uniform(*stall_range)
                        stopped = time.monotonic()
                        os.kill(mongod.pid, signal.SIGSTOP)
                        try:
                            await asyncio.sleep(stall)
                        finally:
                            os.kill(mongod.pid, signal.SIGCONT)
                        resumed = time.monotonic()
                        # Wait for a success that started after the resume, then watch a while.
                        wedged = True
                        while time.monotonic() - resumed < args.wedge_after:
                            await asyncio.sleep(0.5)
                            if any(s.ok and s.kind == "query" and s.started >= resumed for s in run.samples):
                                wedged = False
                                break
                        await asyncio.sleep(args.gap)
                        report = cycle_report(run.samples, stopped, resumed, time.monotonic(), wedged)
                        reports.append(report)
                        print(json.dumps({"cycle": cycle, **report}), flush=True)
                        if wedged:
                            break
                finally:
                    run.stop.set()
                    for task in tasks:
                        task.cancel()
                    await asyncio.gather(*tasks, return_exceptions=True)
            summary = {
                "cycles": len(reports),
                "stall": args.stall,
                "wedged": sum(r["wedged"] for r in reports),
                "recovery_max_s": max((r["recovery_s"] or 0 for r in reports), default=None),
                "fail_latency_max_s": max((r["fail_latency_max_s"] for r in reports), default=None),
                "readyz_503_after_max_s": max((r["readyz_503_after_s"] or 99 for r in reports), default=None),
                "server_rss_mb": round(rss_mb(server.pid), 1),
                "server_peak_rss_mb": round(peak_rss_mb(server.pid), 1),
            }
            print(json.dumps({"summary": summary}), flush=True)
            write_result("db_stall", args, {"summary": summary, "cycles": reports})
            kept = Path(tempfile.gettempdir()) / "oms-db-stall-server.log"
            kept.write_bytes(log_path.read_bytes())
            with contextlib.suppress(OSError):
                (Path(tempfile.gettempdir()) / "oms-db-stall-mongod.log").write_bytes(mongod.log_path.read_bytes())
            if summary["wedged"]:
                # The server's own words (access lines left out), last first to read.
                lines = [line for line in kept.read_text().splitlines() if '"oms.access"' not in line]
                print(f"server log: {kept}\n" + "\n".join(lines[-60:]), file=sys.stderr)
            return 1 if summary["wedged"] else 0
        finally:
            if server is not None:
                server.send_signal(signal.SIGTERM)
                try:
                    server.wait(30)
                except subprocess.TimeoutExpired:
                    server.kill()
            with contextlib.suppress(ProcessLookupError, TypeError):
                os.kill(mongod.pid, signal.SIGCONT)  # type: ignore[arg-type]
            mongod.stop()


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cycles", type=int, default=5)
    parser.add_argument("--stall", default="35-60", help="seconds mongod stays frozen: N or LOW-HIGH (uniform)")
    parser.add_argument("--gap", type=float, default=10.0, help="seconds of normal service after each recovery")
    parser.add_argument("--clients", type=int, default=6, help="HTTP query workers (half as many capture)")
    parser.add_argument("--subscribers", type=int, default=4, help="WebSocket subscribers coming and going")
    parser.add_argument("--wedge-after", type=float, default=60.0, help="no success this long after resume: wedged")
    parser.add_argument("--quick", action="store_true", help="2 cycles of 8 s stalls")
    add_output_flags(parser)
    args = parser.parse_args(argv)
    if args.quick:
        args.cycles, args.stall, args.gap = 2, "8", 5.0
    return args


if __name__ == "__main__":
    sys.exit(asyncio.run(main(parse())))
