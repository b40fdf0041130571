"""Outbound webhooks: delivery throughput to a local receiver, and how far deliveries lag behind the
event log.

    python -m bench.webhooks            # full run
    python -m bench.webhooks --quick    # smoke test, under a minute
    make bench-webhooks

One process runs the sequencer, the delivery worker (app/services/webhook_delivery.py, the same
code the API runs, leased) and the receiver: a Starlette app under uvicorn on 127.0.0.1 that
verifies every signature with app/domain/signatures.py and answers 200. Events are inserted into
the log directly (what every mutation's transaction does), spread over many aggregates (orders).

- **burst**: `--burst` events inserted at once; throughput = events delivered per second from the
  first insert to the last verified receipt (each event to each of `--endpoints` endpoints).
- **steady**: `--rate` events per second for `--seconds`; lag = receipt time minus the event's
  commit time (`at`), p50 / p99 / max. Includes the relay's stamping, the worker's wake-up and
  enqueue transaction, signing and the HTTP round trip.
Every event must arrive at every endpoint, in order per aggregate: the run fails otherwise.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import socket
import tempfile
import time
from pathlib import Path
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from app.domain.clock import utcnow
from app.domain.events import Actor, DomainEvent
from app.domain.ids import new_id
from app.domain.principals import Principal, Role
from app.domain.signatures import SIGNATURE_HEADER, verify
from app.domain.webhooks import EndpointDraft, WebhookOptions
from app.embedded_mongod import EmbeddedMongod
from app.repositories.database import Mongo, connect
from app.repositories.events import EventRepository
from app.repositories.indexes import ensure_indexes
from app.services.container import build_services

DATABASE = "bench_webhooks"
ADMIN = Principal(subject="bench", role=Role.ADMIN)


class Receiver:
    def __init__(self) -> None:
        self.secrets: dict[str, str] = {}
        self.arrivals: dict[str, dict[str, float]] = {}  # path → event id → first receipt (epoch s)
        self.order: dict[str, dict[str, list[int]]] = {}  # path → aggregate → seqs, first receipts
        self.bad_signatures = 0
        self.requests = 0
        self.changed = asyncio.Event()

    async def handle(self, request: Request) -> Response:
        body = await request.body()
        path = request.url.path
        self.requests += 1
        try:
            verify([self.secrets[path]], request.headers.get(SIGNATURE_HEADER), body, now=time.time())
        except Exception:  # noqa: BLE001 - counted, and the run fails
            self.bad_signatures += 1
            return Response(status_code=401)
        event = json.loads(body)["events"][0]
        seen = self.arrivals.setdefault(path, {})
        if event["id"] not in seen:
            seen[event["id"]] = time.time()
            self.order.setdefault(path, {}).setdefault(event["aggregateId"], []).append(event["seq"])
        self.changed.set()
        return Response(status_code=200)

    async def until(self, paths: list[str], ids: set[str], timeout: float) -> None:
        async with asyncio.timeout(timeout):
            while not all(ids <= self.arrivals.get(p, {}).keys() for p in paths):
                self.changed.clear()
                await self.changed.wait()


@contextlib.asynccontextmanager
async def receiving(receiver: Receiver) -> Any:
    app = Starlette(routes=[Route("/{path:path}", receiver.handle, methods=["POST"])])
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="off", ws="none", access_log=False))
    task = asyncio.create_task(server.serve(sockets=[sock]))
    while not server.started:
        await asyncio.sleep(0.01)
    try:
        yield sock.getsockname()[1]
    finally:
        server.should_exit = True
        await task
        sock.close()


def _events(count: int, aggregates: int) -> list[DomainEvent]:
    orders = [new_id() for _ in range(aggregates)]
    at = utcnow()
    return [
        DomainEvent(
            id=new_id(), type="OrderStatusChanged", aggregate_type="Order", aggregate_id=orders[i % aggregates], at=at,
            actor=Actor.system("bench"), payload={"status": "ALLOCATED", "n": i}, order_id=orders[i % aggregates],
        )
        for i in range(count)
    ]


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else 0.0


async def run(args: argparse.Namespace) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="oms-bench-webhooks-") as data_dir:
        mongod = None if os.environ.get("MONGODB_URI") else EmbeddedMongod(Path(data_dir), cache_size_gb=1.0)
        uri = os.environ.get("MONGODB_URI") or mongod.start()  # type: ignore[union-attr]
        mongo = Mongo(connect(uri), DATABASE)
        try:
            await mongo.client.drop_database(DATABASE)
            await ensure_indexes(mongo.db)
            return await _measure(mongo, args)
        finally:
            await mongo.client.drop_database(DATABASE)
            await mongo.close()
            if mongod is not None:
                mongod.stop()


async def _measure(mongo: Mongo, args: argparse.Namespace) -> dict[str, Any]:
    options = WebhookOptions(allow_private_targets=True, concurrency_per_endpoint=args.concurrency, timeout_seconds=10.0)
    services = build_services(mongo, scheduler_interval_seconds=0, webhook_options=options)
    events = EventRepository(mongo.db)
    receiver = Receiver()

    async def nowhere(batch: list[DomainEvent]) -> None:
        return None

    sequencer = services.sequencer(on_sequenced=nowhere, follow=False)
    relay = asyncio.create_task(sequencer.run())
    await sequencer.leading.wait()
    async with receiving(receiver) as port:
        paths = [f"/erp-{i}" for i in range(args.endpoints)]
        for path in paths:
            _, secret = await services.webhooks.register(ADMIN, EndpointDraft(url=f"http://127.0.0.1:{port}{path}"))
            receiver.secrets[path] = secret
        worker = services.webhook_worker()
        worker.start()
        await worker.leading.wait()
        try:
            # Burst: everything at once.
            burst = _events(args.burst, args.aggregates)
            started = time.time()
            for i in range(0, len(burst), 500):
                await events.append(burst[i : i + 500], session=None)
            await receiver.until(paths, {e.id for e in burst}, timeout=600)
            burst_seconds = time.time() - started

            # Steady: a fixed rate, lag measured per event.
            steady: list[DomainEvent] = []
            tick = 0.05
            per_tick = max(1, round(args.rate * tick))
            began = time.perf_counter()
            while time.perf_counter() - began < args.seconds:
                batch = _events(per_tick, args.aggregates)
                await events.append(batch, session=None)
                steady.extend(batch)
                await asyncio.sleep(max(0.0, began + len(steady) / args.rate - time.perf_counter()))
            await receiver.until(paths, {e.id for e in steady}, timeout=600)
        finally:
            await worker.stop()
            relay.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await relay
    lags_ms = [
        (receiver.arrivals[path][e.id] - e.at.timestamp()) * 1000 for path in paths for e in steady
    ]
    in_order = all(seqs == sorted(seqs) for path in paths for seqs in receiver.order.get(path, {}).values())
    return {
        "endpoints": args.endpoints,
        "aggregates": args.aggregates,
        "concurrency_per_endpoint": args.concurrency,
        "burst": {
            "events": args.burst,
            "deliveries": args.burst * args.endpoints,
            "seconds": round(burst_seconds, 2),
            "deliveries_per_second": round(args.burst * args.endpoints / burst_seconds, 1),
        },
        "steady": {
            "events_per_second": args.rate,
            "events": len(steady),
            "lag_ms_p50": round(_percentile(lags_ms, 0.50), 1),
            "lag_ms_p99": round(_percentile(lags_ms, 0.99), 1),
            "lag_ms_max": round(max(lags_ms), 1),
        },
        "requests": receiver.requests,
        "bad_signatures": receiver.bad_signatures,
        "in_order_per_aggregate": in_order,
        "load_average_1m": round(os.getloadavg()[0], 1),
        "note": "one process (2-core machine): sequencer, delivery worker and receiver share its event loop",
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="small run for smoke testing")
    parser.add_argument("--endpoints", type=int, default=2)
    parser.add_argument("--aggregates", type=int, default=200)
    parser.add_argument("--concurrency", type=int, default=8, help="requests in flight per endpoint")
    parser.add_argument("--burst", type=int, default=2000, help="events inserted at once")
    parser.add_argument("--rate", type=float, default=10.0, help="steady events per second (below the burst throughput, or lag only grows)")
    parser.add_argument("--seconds", type=float, default=20.0, help="steady phase length")
    parser.add_argument("--json", type=Path, help="also write the report here")
    args = parser.parse_args(argv)
    if args.quick:
        args.burst, args.seconds, args.aggregates = 500, 5.0, 50
    report = asyncio.run(run(args))
    text = json.dumps(report, indent=2)
    print(text)
    if args.json:
        args.json.write_text(text + "\n")
    if report["bad_signatures"] or not report["in_order_per_aggregate"]:
        raise SystemExit("A SIGNATURE FAILED OR AN AGGREGATE'S EVENTS ARRIVED OUT OF ORDER")


if __name__ == "__main__":
    main()
