"""Live subscriptions at scale: many concurrent WebSocket subscribers on one server process, events
written at a steady rate, event→client latency and server memory.

    python -m bench.subscriptions            # 1,000 subscribers, 10 events/s (~550 deliveries/s) for 30 s
    python -m bench.subscriptions --quick    # smoke test, well under a minute
    make bench-subscriptions

The server is `oms serve` (uvicorn, memory broadcaster) in a subprocess. The writer, in this
process, appends events the way every service does (one transaction through EventRepository) and
notes when each commit returned; the subscribers, also here, note when each event arrives. Latency
is the difference: commit → change stream → sequencer stamp → broadcaster → hub → WebSocket → client.
Most subscribers watch one order (`orderUpdated(orderId)`), a fraction watch the whole channel
(`orderUpdated(channel)`), so one event reaches a few clients or many.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import os
import random
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

import websockets

from app.domain.clock import utcnow
from app.domain.events import Actor, DomainEvent
from app.domain.ids import new_id
from app.domain.principals import Role
from app.embedded_mongod import EmbeddedMongod, free_port
from app.repositories.database import Mongo, Session, connect
from app.repositories.events import EventRepository
from app.repositories.indexes import ensure_indexes
from app.services.container import build_services
from bench.capture_order import rss_mb, wait_ready
from bench.harness import add_output_flags, write_result

DATABASE = "bench_subscriptions"
WRITER = Actor(subject="bench", role="SYSTEM")
BY_ORDER = "subscription($o: ID) { orderUpdated(orderId: $o) { cursor event { payload } } }"
BY_CHANNEL = 'subscription { orderUpdated(channel: "web") { cursor event { payload } } }'


def start_server(uri: str, port: int) -> subprocess.Popen[bytes]:
    env = os.environ | {"MONGODB_URI": uri, "OMS_DB_NAME": DATABASE, "OMS_ENV": "production", "OMS_LOG_LEVEL": "WARNING", "OMS_WORKERS": "1"}
    return subprocess.Popen(
        [sys.executable, "-m", "app.cli", "serve", "--host", "127.0.0.1", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=None,  # its warnings join ours: an unread pipe fills up on a long run and stalls the server
    )


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def order_event(order_id: str, n: int) -> DomainEvent:
    return DomainEvent(
        id=new_id(),
        type="OrderStatusChanged",
        aggregate_type="Order",
        aggregate_id=order_id,
        at=utcnow(),
        actor=WRITER,
        payload={"n": n, "to": "ALLOCATED"},
        order_id=order_id,
        customer_id="bench-customer",
        channel_id="web",
    )


class Subscriber:
    def __init__(self, order_id: str | None):
        self.order_id = order_id  # None: the whole channel
        self.received: list[int] = []
        self.errors: list[Any] = []

    async def run(self, url: str, token: str, sent: dict[int, float], latencies: list[float], ready: asyncio.Event) -> None:
        async with websockets.connect(url, subprotocols=["graphql-transport-ws"], max_size=2**20) as ws:  # type: ignore[list-item]
            await ws.send(json.dumps({"type": "connection_init", "payload": {"authorization": f"Bearer {token}"}}))
            assert json.loads(await ws.recv())["type"] == "connection_ack"
            query = BY_ORDER if self.order_id else BY_CHANNEL
            variables = {"o": global_id(self.order_id)} if self.order_id else {}
            await ws.send(json.dumps({"id": "1", "type": "subscribe", "payload": {"query": query, "variables": variables}}))
            ready.set()
            async for raw in ws:
                message = json.loads(raw)
                if message["type"] == "ping":
                    await ws.send('{"type":"pong"}')
                    continue
                if message["type"] != "next" or message["payload"].get("errors"):
                    self.errors.append(message)
                    continue
                n = message["payload"]["data"]["orderUpdated"]["event"]["payload"]["n"]
                arrived = time.monotonic()
                committed = sent.get(n)
                if committed is not None:
                    latencies.append(arrived - committed)
                self.received.append(n)


def global_id(order_id: str) -> str:
    return base64.b64encode(f"Order:{order_id}".encode()).decode()


async def run(args: argparse.Namespace) -> dict[str, Any]:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, max(soft, 4 * args.subscribers + 256)), hard))
    with tempfile.TemporaryDirectory(prefix="oms-bench-subs-") as data_dir:
        mongod = None if os.environ.get("MONGODB_URI") else EmbeddedMongod(Path(data_dir), cache_size_gb=0.5)
        uri = os.environ.get("MONGODB_URI") or mongod.start()  # type: ignore[union-attr]
        mongo = Mongo(connect(uri), DATABASE)
        server = None
        try:
            await mongo.client.drop_database(DATABASE)
            await ensure_indexes(mongo.db)
            _, token = await build_services(mongo, scheduler_interval_seconds=0).auth.create_api_key(
                name="bench-admin", role=Role.ADMIN
            )
            port = free_port()
            server = start_server(uri, port)
            print(f"server pid {server.pid}", file=sys.stderr, flush=True)
            await wait_ready(f"http://127.0.0.1:{port}", server)
            idle_rss = rss_mb(server.pid)
            return await measure(args, mongo, token, port, server.pid, idle_rss)
        finally:
            if server is not None:
                server.terminate()
                server.wait(timeout=30)
            await mongo.client.drop_database(DATABASE)
            await mongo.close()
            if mongod is not None:
                mongod.stop()


async def measure(args: argparse.Namespace, mongo: Mongo, token: str, port: int, pid: int, idle_rss: dict[str, float]) -> dict[str, Any]:
    rng = random.Random(7)
    orders = [new_id() for _ in range(args.orders)]
    broad = int(args.subscribers * args.broad_fraction)
    subscribers = [Subscriber(None) for _ in range(broad)] + [
        Subscriber(orders[i % len(orders)]) for i in range(args.subscribers - broad)
    ]
    sent: dict[int, float] = {}
    latencies: list[float] = []
    url = f"ws://127.0.0.1:{port}/graphql"
    tasks: list[asyncio.Task[None]] = []
    connect_started = time.perf_counter()
    for batch in range(0, len(subscribers), 50):
        readies = []
        for s in subscribers[batch : batch + 50]:
            ready = asyncio.Event()
            readies.append(ready)
            tasks.append(asyncio.create_task(s.run(url, token, sent, latencies, ready)))
        await asyncio.wait_for(asyncio.gather(*(r.wait() for r in readies)), 60)
    connect_seconds = time.perf_counter() - connect_started
    await asyncio.sleep(1.0)  # let the last subscriptions register
    subscribed_rss = rss_mb(pid)
    cpu_before = cpu_seconds(pid)
    client_cpu_before = time.process_time()

    events = EventRepository(mongo.db)
    targets: list[str] = []
    interval = 1.0 / args.rate
    total = int(args.rate * args.seconds)
    started = time.perf_counter()
    for n in range(total):
        order_id = rng.choice(orders)
        targets.append(order_id)

        async def work(session: Session, event: DomainEvent = order_event(order_id, n)) -> None:
            await events.append([event], session=session)

        await mongo.transaction(work)
        sent[n] = time.monotonic()
        delay = started + (n + 1) * interval - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
    write_seconds = time.perf_counter() - started
    # Wait for stragglers, then stop.
    expected = Counter[str]()
    for order_id in targets:
        expected[order_id] += 1
    want = sum(total if s.order_id is None else expected[s.order_id] for s in subscribers)
    deadline = time.monotonic() + 10
    while sum(len(s.received) for s in subscribers) < want and time.monotonic() < deadline:
        await asyncio.sleep(0.1)
    cpu_used = cpu_seconds(pid) - cpu_before
    client_cpu_used = time.process_time() - client_cpu_before
    end_rss = rss_mb(pid)
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)

    got = sum(len(s.received) for s in subscribers)
    duplicates = sum(len(s.received) - len(set(s.received)) for s in subscribers)
    out_of_order = sum(1 for s in subscribers if s.received != sorted(s.received))
    ordered = sorted(latencies)

    def pct(q: float) -> float:
        return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000, 1) if ordered else 0.0

    return {
        "subscribers": len(subscribers),
        "whole_channel_subscribers": broad,
        "orders_watched": len(orders),
        "events": total,
        "event_rate_per_s": round(total / write_seconds, 1),
        "deliveries_expected": want,
        "deliveries_received": got,
        "duplicates": duplicates,
        "subscribers_out_of_order": out_of_order,
        "errors": sum(len(s.errors) for s in subscribers),
        "latency_ms": {"p50": pct(0.50), "p99": pct(0.99), "max": pct(1.0), "mean": round(statistics.fmean(ordered) * 1000, 1) if ordered else 0.0},
        "connect_seconds": round(connect_seconds, 1),
        "server_rss_mb": {"idle": idle_rss.get("rss_mb"), "subscribed": subscribed_rss.get("rss_mb"), "end": end_rss.get("rss_mb"), "peak": end_rss.get("peak_rss_mb")},
        "server_cpu_s_per_s": round(cpu_used / write_seconds, 2),
        # The clients share this machine: near 1.0 here means they, not the server, set the pace.
        "client_cpu_s_per_s": round(client_cpu_used / write_seconds, 2),
        "load_average_1m": round(os.getloadavg()[0], 2),
        "target_p99_ms": 250,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="200 subscribers, 10 s")
    parser.add_argument("--subscribers", type=int, default=1000)
    parser.add_argument("--rate", type=float, default=10.0, help="events per second")
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--orders", type=int, default=200, help="orders the per-order subscribers spread over")
    parser.add_argument("--broad-fraction", type=float, default=0.05, help="share of subscribers watching the whole channel")
    add_output_flags(parser)
    args = parser.parse_args()
    if args.quick:
        args.subscribers, args.seconds = min(args.subscribers, 200), min(args.seconds, 10.0)
    result = asyncio.run(run(args))
    write_result("subscriptions", args, result)
    print(json.dumps(result, indent=2))
    sys.stdout.flush()


if __name__ == "__main__":
    main()
