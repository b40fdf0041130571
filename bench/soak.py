"""A long mixed load on one server process, to see whether its memory levels off.

    python -m bench.soak                  # 30 minutes: captures, lookups, pages, 360s + 50 live subscribers
    python -m bench.soak --minutes 10     # the recorded run (RSS at each minute in the result)
    python -m bench.soak --minutes 6      # shorter
    python -m bench.soak --quick          # ~1 minute smoke test
    python -m bench.soak --stuck 5        # plus 5 subscribers that never read their socket

The server is `oms serve` in a subprocess on a throwaway mongod (or MONGODB_URI), seeded with the
demo network and ample stock. This process drives it: `--clients` workers capture orders over HTTP
at `--rate` orders per second in total; `--readers` workers read at `--read-rate` requests per second
in total, in turn a store clerk's stock lookup (storeAvailability), a page of 100 orders and a
customer 360; and `--subscribers` WebSocket clients read everything that happens (most watch the web
channel's orders, some all stock changes, two the dashboard). Every 30 s it prints the server's RSS
(`rss_mb_by_minute` in the result: the series to judge). At the end: RSS at `--reference-minute` (default 5: start-up and warm-up
are over by then) against RSS at the end; the exit status is 1 if it grew by more than `--max-growth`
(default 15%), or if a subscriber that reads was told it was too slow.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import os
import random
import resource
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import websockets
from websockets.client import ClientProtocol
from websockets.uri import parse_uri

from app.domain.cities import CITIES
from app.domain.principals import Role
from app.repositories.database import Mongo, connect
from app.repositories.indexes import ensure_indexes
from app.services.container import build_services
from app.services.demo_seed import SeedSize, seed_demo
from bench.capture_order import CAPTURE, order_input
from bench.harness import add_output_flags, mongodb, rss_mb, server, write_result
from bench.orders_page import QUERY as ORDERS_PAGE
from bench.store_availability import QUERY as STOCK_LOOKUP
from bench.tails import CUSTOMER_360

DATABASE = "bench_soak"
SAMPLE_SECONDS = 30.0
_AVAILABLE = {"$set": {"available": {"$max": [0, {"$subtract": [{"$subtract": ["$on_hand", "$reserved"]}, "$safety_stock"]}]}}}
SUBSCRIPTIONS = {
    "orders": ('subscription { orderUpdated(channel: "web") { cursor status orderId event { type payload } } }', "orderUpdated"),
    "stock": ("subscription { stockLevelChanged { cursor sku locationId available cause } }", "stockLevelChanged"),
    "dashboard": ("subscription { dashboard { backorders stockOuts openOrdersByStatus { status orders } cursor } }", "dashboard"),
}


@dataclass
class Tally:
    orders: int = 0
    capture_errors: int = 0
    reads: dict[str, int] = field(default_factory=lambda: {"stock_lookup": 0, "orders_page": 0, "customer_360": 0})
    read_errors: int = 0
    deliveries: int = 0
    too_slow: int = 0
    other_errors: list[Any] = field(default_factory=list)
    samples: list[tuple[float, float]] = field(default_factory=list)  # (seconds since start, RSS MB)
    stuck_queued: int = 0  # the most bytes the kernel held for one stuck subscriber's connection


async def prepare(uri: str, customers: int) -> tuple[str, str, list[str], list[str], list[str]]:
    """Seeds the demo network with ample stock; returns a web channel key, an admin key, emails,
    SKUs and customer ids."""
    mongo = Mongo(connect(uri), DATABASE)
    try:
        await mongo.client.drop_database(DATABASE)
        await ensure_indexes(mongo.db)
        await seed_demo(mongo, SeedSize(locations=24, skus=200, customers=customers, orders=0), seed=7)
        await mongo.db["inventory"].update_many({}, [{"$set": {"on_hand": {"$add": ["$on_hand", 10_000_000]}}}, _AVAILABLE])
        services = build_services(mongo, scheduler_interval_seconds=0)
        _, web = await services.auth.create_api_key(name="soak-web", role=Role.CHANNEL, channel_id="web")
        _, admin = await services.auth.create_api_key(name="soak-admin", role=Role.ADMIN)
        emails = [doc["email"] async for doc in mongo.db["customers"].find({}, {"email": 1})]
        skus = [doc["_id"] async for doc in mongo.db["products"].find({}, {"_id": 1})]
        customer_ids = [doc["_id"] async for doc in mongo.db["customers"].find({}, {"_id": 1})]
        return web, admin, emails, skus, customer_ids
    finally:
        await mongo.close()


async def capture(base: str, token: str, args: argparse.Namespace, emails: list[str], skus: list[str], tally: Tally, stop: asyncio.Event) -> None:
    rng = random.Random(11)
    interval = args.clients / args.rate
    limits = httpx.Limits(max_connections=args.clients, max_keepalive_connections=args.clients)
    async with httpx.AsyncClient(base_url=base, headers={"Authorization": f"Bearer {token}"}, limits=limits, timeout=60) as http:

        async def worker(index: int) -> None:
            n = index
            next_at = time.monotonic()
            while not stop.is_set():
                given = order_input(rng, n, emails, skus, prefix="SOAK", lines=2)
                n += args.clients
                try:
                    body = (await http.post("/graphql", json={"query": CAPTURE, "variables": {"input": given}})).json()
                    ok = not body.get("errors") and body["data"]["captureOrder"]["__typename"] == "CaptureOrderPayload"
                except (httpx.HTTPError, ValueError, KeyError, TypeError):
                    ok = False
                tally.orders += ok
                tally.capture_errors += not ok
                next_at += interval
                await asyncio.sleep(max(0.0, next_at - time.monotonic()))

        await asyncio.gather(*(worker(i) for i in range(args.clients)))


def read_request(kind: str, rng: random.Random, skus: list[str], customer_ids: list[str]) -> dict[str, Any]:
    if kind == "stock_lookup":
        city = rng.choice(CITIES[:12])  # the seeded network's cities
        return {"query": STOCK_LOOKUP, "variables": {"sku": rng.choice(skus), "lat": city[3] + rng.uniform(-0.1, 0.1), "lng": city[4] + rng.uniform(-0.1, 0.1)}}
    if kind == "orders_page":
        return {"query": ORDERS_PAGE, "variables": {"filter": rng.choice([None, {"channels": ["web"]}])}}
    customer = base64.b64encode(f"Customer:{rng.choice(customer_ids)}".encode()).decode()
    return {"query": CUSTOMER_360, "variables": {"id": customer}}


async def read(base: str, token: str, args: argparse.Namespace, skus: list[str], customer_ids: list[str], tally: Tally, stop: asyncio.Event) -> None:
    """Stock lookups, order pages and customer 360s in turn, at `--read-rate` per second in total."""
    if args.readers <= 0 or args.read_rate <= 0:
        return
    rng = random.Random(13)
    interval = args.readers / args.read_rate
    kinds = list(tally.reads)
    limits = httpx.Limits(max_connections=args.readers, max_keepalive_connections=args.readers)
    async with httpx.AsyncClient(base_url=base, headers={"Authorization": f"Bearer {token}"}, limits=limits, timeout=60) as http:

        async def worker(index: int) -> None:
            n = index
            next_at = time.monotonic()
            while not stop.is_set():
                kind = kinds[n % len(kinds)]
                n += args.readers
                try:
                    body = (await http.post("/graphql", json=read_request(kind, rng, skus, customer_ids))).json()
                    ok = not body.get("errors") and body.get("data") is not None
                except (httpx.HTTPError, ValueError):
                    ok = False
                if ok:
                    tally.reads[kind] += 1
                else:
                    tally.read_errors += 1
                next_at += interval
                await asyncio.sleep(max(0.0, next_at - time.monotonic()))

        await asyncio.gather(*(worker(i) for i in range(args.readers)))


async def subscriber(url: str, token: str, kind: str, tally: Tally, ready: asyncio.Event) -> None:
    query, field_name = SUBSCRIPTIONS[kind]
    async with websockets.connect(url, subprotocols=["graphql-transport-ws"], max_size=2**22) as ws:  # type: ignore[list-item]
        await ws.send(json.dumps({"type": "connection_init", "payload": {"authorization": f"Bearer {token}"}}))
        assert json.loads(await ws.recv())["type"] == "connection_ack"
        await ws.send(json.dumps({"id": "1", "type": "subscribe", "payload": {"query": query}}))
        ready.set()
        async for raw in ws:
            message = json.loads(raw)
            if message["type"] == "ping":
                await ws.send('{"type":"pong"}')
            elif message["type"] == "next" and not message["payload"].get("errors"):
                tally.deliveries += field_name in message["payload"]["data"]
            elif message["type"] == "next" and message["payload"]["errors"][0].get("extensions", {}).get("code") == "SUBSCRIBER_TOO_SLOW":
                tally.too_slow += 1
            else:
                tally.other_errors.append(message)


async def stuck_subscriber(url: str, token: str) -> asyncio.StreamWriter:
    """A graphql-transport-ws client that subscribes to everything, then never reads its socket
    (beyond the 64 KiB its stream buffer takes in)."""
    uri = parse_uri(url)
    reader, writer = await asyncio.open_connection(uri.host, uri.port)
    protocol = ClientProtocol(uri, subprotocols=["graphql-transport-ws"])  # type: ignore[list-item]

    async def flush() -> None:
        for chunk in protocol.data_to_send():
            writer.write(chunk)
        await writer.drain()

    protocol.send_request(protocol.connect())
    await flush()
    while protocol.state.name == "CONNECTING":
        protocol.receive_data(await reader.read(4096))
        protocol.events_received()
    protocol.send_text(json.dumps({"type": "connection_init", "payload": {"authorization": f"Bearer {token}"}}).encode())
    await flush()
    while not any(b"connection_ack" in frame.data for frame in protocol.events_received()):
        protocol.receive_data(await reader.read(4096))
    for op, kind in (("1", "orders"), ("2", "stock")):
        protocol.send_text(json.dumps({"id": op, "type": "subscribe", "payload": {"query": SUBSCRIPTIONS[kind][0]}}).encode())
    await flush()
    return writer


def send_queue(server_port: int, client_port: int) -> int:
    """The kernel's send queue of the server's end of a loopback connection (/proc/net/tcp)."""
    local, remote = f"0100007F:{server_port:04X}", f"0100007F:{client_port:04X}"
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        if fields[1] == local and fields[2] == remote:
            return int(fields[4].split(":")[0], 16)
    return 0


async def sample(pid: int, started: float, minutes: float, tally: Tally, stop: asyncio.Event, queues: list[tuple[int, int]]) -> None:
    end = started + minutes * 60
    next_at = started + SAMPLE_SECONDS
    while True:
        while time.monotonic() < min(next_at, end):
            await asyncio.sleep(min(1.0, max(0.0, min(next_at, end) - time.monotonic())))
            tally.stuck_queued = max([tally.stuck_queued, *(send_queue(*ports) for ports in queues)])
        elapsed = time.monotonic() - started
        tally.samples.append((elapsed, rss_mb(pid)))
        print(
            f"{elapsed:7.0f} s  rss {tally.samples[-1][1]:7.1f} MB  orders {tally.orders:7d}  reads {sum(tally.reads.values()):7d}  "
            f"deliveries {tally.deliveries:9d}  too-slow {tally.too_slow}  errors {tally.capture_errors + tally.read_errors + len(tally.other_errors)}"
            + (f"  stuck send queue <= {tally.stuck_queued / 1024:.0f} KiB" if queues else ""),
            flush=True,
        )
        if time.monotonic() >= end:
            stop.set()
            return
        next_at += SAMPLE_SECONDS


async def run(args: argparse.Namespace) -> dict[str, Any]:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, max(soft, 4 * (args.subscribers + args.stuck) + 256)), hard))
    with mongodb() as uri:
        web, admin, emails, skus, customer_ids = await prepare(uri, args.customers)
        env = {"OMS_ENV": "production", "OMS_SCHEDULER_INTERVAL": "0"}
        with server(uri, DATABASE, env=env) as (base, pid):
            url = base.replace("http://", "ws://") + "/graphql"
            tally = Tally()
            idle = rss_mb(pid)
            kinds = ["dashboard"] * 2 + ["stock"] * (args.subscribers // 5) + ["orders"] * (args.subscribers - 2 - args.subscribers // 5)
            readies = [asyncio.Event() for _ in kinds]
            readers = [asyncio.create_task(subscriber(url, admin, kind, tally, ready)) for kind, ready in zip(kinds, readies)]
            await asyncio.wait_for(asyncio.gather(*(ready.wait() for ready in readies)), 120)
            stuck = [await stuck_subscriber(url, admin) for _ in range(args.stuck)]
            print(f"server pid {pid}: idle rss {idle:.1f} MB, {len(kinds)} subscribers, {len(stuck)} stuck", flush=True)
            stop = asyncio.Event()
            started = time.monotonic()
            port = int(base.rsplit(":", 1)[1])
            queues = [(port, int(writer.get_extra_info("sockname")[1])) for writer in stuck]
            await asyncio.gather(
                capture(base, web, args, emails, skus, tally, stop),
                read(base, admin, args, skus, customer_ids, tally, stop),
                sample(pid, started, args.minutes, tally, stop, queues),
            )
            failed = [r for r in readers if r.done() and not r.cancelled() and r.exception() is not None]
            tally.other_errors += [repr(r.exception()) for r in failed]
            for reader in readers:
                reader.cancel()
            await asyncio.gather(*readers, return_exceptions=True)
            for writer in stuck:
                writer.close()
    reference = min(tally.samples, key=lambda s: abs(s[0] - args.reference_minute * 60))
    end = tally.samples[-1]
    return {
        "minutes": args.minutes,
        "capture_rate_per_s": args.rate,
        "subscribers": len(kinds),
        "stuck_subscribers": args.stuck,
        "orders": tally.orders,
        "capture_errors": tally.capture_errors,
        "read_rate_per_s": args.read_rate,
        "reads": tally.reads,
        "read_errors": tally.read_errors,
        "deliveries": tally.deliveries,
        "subscriber_too_slow": tally.too_slow,
        "subscriber_other_errors": tally.other_errors[:5],
        "stuck_send_queue_max_bytes": tally.stuck_queued,
        "rss_mb": {"idle": round(idle, 1), "reference": round(reference[1], 1), "end": round(end[1], 1)},
        "reference_at_s": round(reference[0]),
        "ratio_end_to_reference": round(end[1] / reference[1], 3),
        # The series to judge by eye: RSS at each whole minute (the sample nearest to it).
        "rss_mb_by_minute": {
            str(minute): round(min(tally.samples, key=lambda s: abs(s[0] - minute * 60))[1], 1)
            for minute in range(1, int(args.minutes) + 1)
        },
        "load_average_1m": round(os.getloadavg()[0], 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--minutes", type=float, default=30.0)
    parser.add_argument("--quick", action="store_true", help="about a minute; compares the end with 30 s in")
    parser.add_argument("--reference-minute", type=float, default=5.0)
    parser.add_argument("--rate", type=float, default=10.0, help="orders captured per second, in total")
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--read-rate", type=float, default=10.0, help="reads per second in total: stock lookups, order pages, customer 360s")
    parser.add_argument("--readers", type=int, default=4)
    parser.add_argument("--subscribers", type=int, default=50)
    parser.add_argument("--stuck", type=int, default=0, help="subscribers that never read their socket")
    parser.add_argument("--customers", type=int, default=500)
    parser.add_argument("--max-growth", type=float, default=0.15)
    add_output_flags(parser)
    args = parser.parse_args()
    if args.quick:
        args.minutes, args.reference_minute = 1.0, 0.5
    report = asyncio.run(run(args))
    write_result("soak", args, report)
    print(json.dumps(report, indent=2), flush=True)
    if report["ratio_end_to_reference"] > 1 + args.max_growth:
        print(f"RSS grew {report['ratio_end_to_reference']:.3f}x after minute {args.reference_minute:g}", file=sys.stderr)
        sys.exit(1)
    if report["subscriber_too_slow"]:
        print("a subscriber that reads was told it was too slow", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
