"""Live subscriptions at scale: many concurrent WebSocket subscribers on one server process, events
written at a steady rate, event→client latency and server memory.

    python -m bench.subscriptions            # 1,000 subscribers, 10 events/s (~550 deliveries/s) for 30 s
    python -m bench.subscriptions --subscribers 10000 --seconds 20
    python -m bench.subscriptions --quick    # smoke test, well under a minute
    make bench-subscriptions

The server is `oms serve` (uvicorn, memory broadcaster) in a subprocess. The writer, in this
process, appends events the way every service does (one transaction through EventRepository) and
notes when each commit returned; the subscribers, lean clients in processes of their own
(bench/ws_clients.py, one per 2,500), note when each event arrives on the same monotonic clock.
Latency is the difference: commit → change stream → sequencer stamp → broadcaster → hub → WebSocket
→ client. Measuring starts once every subscriber has had a warm-up event (so all are live), and the
RSS per subscriber is the margin from the first tenth subscribed to all of them: from idle, the
first subscriptions' one-off costs (imports, caches, arenas) would read as per subscriber.
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
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

import httpx

from app.domain.clock import utcnow
from app.domain.events import Actor, DomainEvent
from app.domain.ids import new_id
from app.domain.principals import Role
from app.embedded_mongod import EmbeddedMongod, free_port
from app.repositories.database import Mongo, Session, connect
from app.repositories.events import EventRepository
from app.repositories.indexes import ensure_indexes
from app.services.container import build_services
from bench.capture_order import rss_mb
from bench.harness import add_output_flags, write_result
from bench.ws_clients import Subscription, Swarm, cpu_seconds, raise_open_files_limit

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


def global_id(order_id: str) -> str:
    return base64.b64encode(f"Order:{order_id}".encode()).decode()


async def run(args: argparse.Namespace) -> dict[str, Any]:
    open_files = raise_open_files_limit()
    # The server holds one socket per subscriber (it raises its own soft limit to the hard one);
    # the client processes hold a share each, this process none.
    if open_files[0] < args.subscribers + 1024:
        raise SystemExit(f"open-files limit {open_files[0]} is too low for {args.subscribers} subscribers (ulimit -Hn)")
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
            result = await measure(args, mongo, token, port, server.pid, idle_rss)
            result["open_files_limit"] = open_files[0]
            return result
        finally:
            if server is not None:
                server.terminate()
                try:
                    server.wait(timeout=60)  # closing thousands of WebSockets takes a while
                except subprocess.TimeoutExpired:
                    server.kill()
                    server.wait()
            await mongo.client.drop_database(DATABASE)
            await mongo.close()
            if mongod is not None:
                mongod.stop()


async def active_subscriptions(http: httpx.AsyncClient) -> int:
    """The server's own count of subscriptions that have started (its /metrics)."""
    text = (await http.get("/metrics")).text
    return int(sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines() if line.startswith("oms_subscriptions{")))


async def until_subscribed(http: httpx.AsyncClient, count: int, timeout: float = 300) -> None:
    deadline = time.monotonic() + timeout
    while (active := await active_subscriptions(http)) < count:
        if time.monotonic() > deadline:
            raise TimeoutError(f"{active} of {count} subscriptions started")
        await asyncio.sleep(0.2)


async def wait_ready(base: str, server: subprocess.Popen[bytes], timeout: float = 180) -> None:
    """Until /readyz answers: a start-up on the loaded 2-core machine has taken over 30 s."""
    deadline = time.monotonic() + timeout
    async with httpx.AsyncClient() as client:
        while time.monotonic() < deadline:
            if server.poll() is not None:
                raise SystemExit(f"server exited with {server.returncode}")
            try:
                if (await client.get(f"{base}/readyz")).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            await asyncio.sleep(0.2)
    raise SystemExit("server did not become ready")


def subscriptions_for(owners: list[str | None]) -> list[Subscription]:
    return [(BY_CHANNEL, {}) if order_id is None else (BY_ORDER, {"o": global_id(order_id)}) for order_id in owners]


async def write_events(mongo: Mongo, events: EventRepository, numbered: list[tuple[int, str]], rate: float, sent: dict[int, float]) -> float:
    """One transaction per event, at `rate` per second; notes when each commit returned."""
    interval = 1.0 / rate
    started = time.perf_counter()
    for i, (n, order_id) in enumerate(numbered):

        async def work(session: Session, event: DomainEvent = order_event(order_id, n)) -> None:
            await events.append([event], session=session)

        await mongo.transaction(work)
        sent[n] = time.monotonic()
        delay = started + (i + 1) * interval - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
    return time.perf_counter() - started


async def measure(args: argparse.Namespace, mongo: Mongo, token: str, port: int, pid: int, idle_rss: dict[str, float]) -> dict[str, Any]:
    rng = random.Random(7)
    orders = [new_id() for _ in range(args.orders)]
    broad = int(args.subscribers * args.broad_fraction)
    owners: list[str | None] = [None] * broad + [orders[i % len(orders)] for i in range(args.subscribers - broad)]
    rng.shuffle(owners)
    # A tenth first, then the rest: the RSS between the two is what a subscriber costs at the
    # margin, without the start-up work the first ones pay (imports, caches, arenas).
    first = max(1, len(owners) // 10)
    url = f"ws://127.0.0.1:{port}/graphql"
    processes = args.client_processes or max(1, min(4, -(-args.subscribers // 2500)))
    swarms = [
        Swarm(url, token, subscriptions_for(owners[:first]), processes=1),
        Swarm(url, token, subscriptions_for(owners[first:]), processes=processes),
    ]
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", headers={"Authorization": f"Bearer {token}"}, timeout=60) as http:
        try:
            rss_points = {"idle": idle_rss.get("rss_mb")}
            connect_started = time.perf_counter()
            swarms[0].start()
            await asyncio.to_thread(swarms[0].wait_connected)
            await until_subscribed(http, first)
            rss_points["first_tenth"] = rss_mb(pid).get("rss_mb")
            print(f"{first} subscribed, RSS {rss_points['first_tenth']} MB", file=sys.stderr, flush=True)
            swarms[1].start()
            await asyncio.to_thread(swarms[1].wait_connected)
            await until_subscribed(http, len(owners))
            connect_seconds = time.perf_counter() - connect_started
            rss_points["subscribed"] = rss_mb(pid).get("rss_mb")
            print(f"{len(owners)} subscribed in {connect_seconds:.0f} s, RSS {rss_points['subscribed']} MB", file=sys.stderr, flush=True)

            # Warm-up: one event per order (n < 0, not measured), until every subscriber has had one.
            events = EventRepository(mongo.db)
            warm = [(-1 - i, order_id) for i, order_id in enumerate(orders)]
            await write_events(mongo, events, warm, max(args.rate, 50.0), {})
            await asyncio.gather(*(
                swarm.until(lambda status, size=size: status[0] >= size, 120, "warm-up")
                for swarm, size in zip(swarms, (first, len(owners) - first))
            ))
            rss_points["warmed"] = rss_mb(pid).get("rss_mb")
            print(f"every subscriber has had an event, RSS {rss_points['warmed']} MB", file=sys.stderr, flush=True)

            sent: dict[int, float] = {}
            total = int(args.rate * args.seconds)
            numbered = [(n, rng.choice(orders)) for n in range(total)]
            cpu_before = cpu_seconds(pid)
            client_cpu_before = sum(swarm.cpu_seconds() for swarm in swarms)
            write_seconds = await write_events(mongo, events, numbered, args.rate, sent)
            expected = Counter(order_id for _, order_id in numbered)
            want = sum(total if owner is None else expected[owner] for owner in owners)

            async def delivered() -> int:
                return sum(status[1] for status in await asyncio.gather(*(asyncio.to_thread(s.status) for s in swarms)))

            deadline = time.monotonic() + 30  # stragglers
            while await delivered() < want and time.monotonic() < deadline:
                await asyncio.sleep(0.1)
            cpu_used = cpu_seconds(pid) - cpu_before
            client_cpu_used = sum(swarm.cpu_seconds() for swarm in swarms) - client_cpu_before
            end_rss = rss_mb(pid)
            rss_points["end"] = end_rss.get("rss_mb")
            rss_points["peak"] = end_rss.get("peak_rss_mb")
        finally:
            results = []
            for swarm in swarms:
                try:
                    results.append(await asyncio.to_thread(swarm.stop))
                except Exception:  # noqa: BLE001 - a swarm that never started: nothing to collect
                    swarm.kill()

    received = [count for result in results for count in result.received]
    got = sum(received)
    latencies = sorted(t - sent[n] for result in results for n, t in result.arrivals if n in sent)

    def pct(q: float) -> float:
        return round(latencies[min(len(latencies) - 1, int(q * len(latencies)))] * 1000, 1) if latencies else 0.0

    def per_subscriber_kb(low: str, high: str) -> float | None:
        a, b = rss_points.get(low), rss_points.get(high)
        # Under ~1,000 more subscribers the step is lost in RSS's granularity (arenas reused, pages).
        return round((b - a) * 1024 / (len(owners) - first), 1) if a and b and len(owners) - first >= 900 else None

    return {
        "subscribers": len(owners),
        "whole_channel_subscribers": broad,
        "orders_watched": len(orders),
        "client_processes": processes + 1,
        "events": total,
        "event_rate_per_s": round(total / write_seconds, 1),
        "deliveries_expected": want,
        "deliveries_received": got,
        "duplicates": sum(r.duplicates for r in results),
        "subscribers_out_of_order": sum(r.out_of_order for r in results),
        "connections_lost": sum(r.closed_early for r in results),
        "errors": sum(len(r.errors) for r in results),
        "error_samples": [e for r in results for e in r.errors][:5],
        "latency_ms": {"p50": pct(0.50), "p99": pct(0.99), "max": pct(1.0), "mean": round(statistics.fmean(latencies) * 1000, 1) if latencies else 0.0},
        "connect_seconds": round(connect_seconds, 1),
        "server_rss_mb": rss_points,
        # The margin: from the first tenth subscribed to all subscribed (and to the run's end,
        # once each has had events); "subscribed" below against idle includes start-up costs.
        "rss_per_subscriber_kb": {
            "subscribed": per_subscriber_kb("first_tenth", "subscribed"),
            "after_events": per_subscriber_kb("first_tenth", "end"),
            "naive_from_idle": round((rss_points["subscribed"] - rss_points["idle"]) * 1024 / len(owners), 1)
            if rss_points.get("subscribed") and rss_points.get("idle") else None,
        },
        "server_cpu_s_per_s": round(cpu_used / write_seconds, 2),
        "server_cpu_us_per_delivery": round(cpu_used / got * 1e6, 1) if got else None,
        # The clients share this machine: their CPU is what they took from the server's two cores.
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
    parser.add_argument("--client-processes", type=int, default=0, help="processes holding the subscribers (default: one per 2,500)")
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
