"""What one captureOrder costs, in figures a busy machine cannot skew: the database commands it sends
(against the raw-PyMongo baseline of bench/capture_baseline.py doing the same work) and the CPU
time of this process per capture, with the functions that take it.

    python -m bench.capture_costs              # 300 captures each side, top 25 functions
    python -m bench.capture_costs --quick
    python -m bench.capture_costs --profile out.prof   # also keep cProfile's data

The app runs in this process (the real ASGI app with its lifespan, called through httpx's ASGI
transport: no sockets, no server process) so that a PyMongo command listener sees exactly the
commands a request makes: only those sent from the request's own task (and tasks it starts) are
counted, never the event relay's or other background work. CPU is `time.process_time()` over
captures sent one after another: this process's own work (HTTP, GraphQL, our layers, the driver's
encoding and decoding, and the background work a capture causes: relaying its events), not
mongod's, and not time spent waiting.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import contextvars
import cProfile
import gc
import io
import json
import os
import pstats
import random
import tempfile
import time
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
from pymongo import monitoring

from app.asgi import create_app
from app.embedded_mongod import EmbeddedMongod
from app.settings import Settings
from bench.capture_baseline import Baseline
from bench.capture_order import CAPTURE, DATABASE, order_input, prepare

_counting: contextvars.ContextVar[Counter[str] | None] = contextvars.ContextVar("counting", default=None)
# Sent by the driver for itself (server monitoring, session ends), never as part of an operation.
_DRIVER_OWN = frozenset({"hello", "isMaster", "ismaster", "endSessions", "ping"})


class RequestCommands(monitoring.CommandListener):
    """Counts the commands started from a context that set `_counting` (a request's task and the tasks
    it starts copy it; background tasks started earlier do not have it)."""

    def started(self, event: monitoring.CommandStartedEvent) -> None:
        counts = _counting.get()
        if counts is None or event.command_name in _DRIVER_OWN:
            return
        collection = event.command.get(event.command_name)
        target = f":{collection}" if isinstance(collection, str) else ""
        counts[f"{event.command_name}{target}"] += 1

    def succeeded(self, event: monitoring.CommandSucceededEvent) -> None:
        pass

    def failed(self, event: monitoring.CommandFailedEvent) -> None:
        pass


@contextlib.contextmanager
def counted() -> Any:
    counts: Counter[str] = Counter()
    token = _counting.set(counts)
    try:
        yield counts
    finally:
        _counting.reset(token)


def settings_for(uri: str) -> Settings:
    # A generous database deadline: a busy machine makes requests slow, and a timed-out one is no capture.
    env = {"MONGODB_URI": uri, "OMS_DB_NAME": DATABASE, "OMS_ENV": "production", "OMS_LOG_LEVEL": "WARNING", "OMS_DB_TIMEOUT": "60"}
    return Settings.from_env(env)


@contextlib.asynccontextmanager
async def in_process_api(uri: str, listeners: list[RequestCommands]) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(settings_for(uri), mongo_listeners=listeners)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://oms.bench", timeout=120) as client:
            yield client


def per_capture(counts: Counter[str], captures: int) -> dict[str, float]:
    return {key: round(n / captures, 2) for key, n in sorted(counts.items())}


async def measure(args: argparse.Namespace, uri: str) -> dict[str, Any]:
    rng = random.Random(5)
    token, emails, skus, _ = await prepare(uri, customers=args.customers, flash_stock=10)
    # The collector as `oms serve` tunes it (app/cli.py), for both sides.
    gc.collect()
    gc.freeze()
    gc.set_threshold(20_000, 200, 100)
    listener = RequestCommands()

    def inputs(prefix: str, count: int) -> list[dict[str, Any]]:
        return [order_input(rng, n, emails, skus, prefix=prefix) for n in range(count)]

    # Commands are counted on clients with the listener, CPU measured on clients without one (the
    # driver builds an event object per command for a listener). The baseline runs before the app
    # starts: the app's event relay would bill this process for the baseline's events too.
    for name, listeners in (("counted", [listener]), ("plain", [])):
        baseline = Baseline(uri, DATABASE, event_listeners=listeners)
        try:
            for given in inputs(f"BWARM{name}", args.warmup):
                await baseline.capture(given)
            if listeners:
                with counted() as raw_commands:
                    for given in inputs("RAW", args.captures):
                        await baseline.capture(given)
            else:
                raw_cpu = await cpu_ms(baseline.capture, inputs("BCPU", args.captures))
        finally:
            await baseline.close()

    for name, listeners in (("counted", [listener]), ("plain", [])):
        async with in_process_api(uri, listeners) as http:
            headers = {"Authorization": f"Bearer {token}"}

            async def via_api(given: dict[str, Any]) -> str:
                body = (await http.post("/graphql", json={"query": CAPTURE, "variables": {"input": given}}, headers=headers)).json()
                result = body["data"]["captureOrder"] if not body.get("errors") else {"__typename": "errors", "code": str(body["errors"])}
                return result["order"]["status"] if result["__typename"] == "CaptureOrderPayload" else result["code"]

            for given in inputs(f"WARM{name}", args.warmup):  # connection pools, caches, code paths
                await via_api(given)
            if listeners:
                # One capture at a time: no retries can inflate the counts.
                outcomes: Counter[str] = Counter()
                with counted() as api_commands:
                    for given in inputs("API", args.captures):
                        outcomes[await via_api(given)] += 1
                continue
            api_cpu = await cpu_ms(via_api, inputs("CPU", args.captures))
            profiler = cProfile.Profile(time.process_time)  # CPU, not wall time: waits cost nothing
            profiled = inputs("PROF", args.captures // 2)
            profiler.enable()
            for given in profiled:
                await via_api(given)
            profiler.disable()
    report: dict[str, Any] = {"captures": args.captures, "api_outcomes": dict(outcomes)}
    report["round_trips_per_capture"] = {
        "api": round(sum(api_commands.values()) / args.captures, 2),
        "baseline": round(sum(raw_commands.values()) / args.captures, 2),
    }
    report["commands_per_capture"] = {"api": per_capture(api_commands, args.captures), "baseline": per_capture(raw_commands, args.captures)}
    report["cpu_ms_per_capture"] = {"api": api_cpu, "baseline": raw_cpu}
    report["profile_cumulative"] = top_functions(profiler, args.top, captures=len(profiled), key="cumulative")
    report["profile_own"] = top_functions(profiler, args.top, captures=len(profiled), key="own")
    if args.profile:
        profiler.dump_stats(args.profile)
    report["load_average"] = [round(x, 2) for x in os.getloadavg()]
    return report


async def cpu_ms(send: Any, inputs: list[dict[str, Any]]) -> float:
    """This process's CPU ms per capture, captures sent one after another."""
    started = time.process_time()
    for given in inputs:
        await send(given)
    return round((time.process_time() - started) * 1000 / len(inputs), 2)


def top_functions(profiler: cProfile.Profile, top: int, *, captures: int, key: str) -> list[str]:
    """ms per capture (cumulative, or in the function itself) and calls per capture of the heaviest
    functions (profiler overhead included)."""
    stats = pstats.Stats(profiler, stream=io.StringIO())
    rows = []
    for (path, line, name), (_, calls, own, cumulative, _) in stats.stats.items():  # type: ignore[attr-defined]
        rows.append((cumulative if key == "cumulative" else own, calls, f"{Path(path).parent.name}/{Path(path).name}:{line}:{name}"))
    rows.sort(reverse=True)
    return [f"{cum * 1000 / captures:8.2f} ms {calls / captures:8.1f} calls  {where}" for cum, calls, where in rows[:top]]


async def run(args: argparse.Namespace) -> dict[str, Any]:
    if os.environ.get("MONGODB_URI"):
        return await measure(args, os.environ["MONGODB_URI"])
    with tempfile.TemporaryDirectory(prefix="oms-bench-") as data_dir:
        mongod = EmbeddedMongod(Path(data_dir), cache_size_gb=1.0)
        uri = mongod.start()
        try:
            return await measure(args, uri)
        finally:
            mongod.stop()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="small run for smoke testing")
    parser.add_argument("--captures", type=int, default=300)
    parser.add_argument("--warmup", type=int, default=30)
    parser.add_argument("--customers", type=int, default=500)
    parser.add_argument("--top", type=int, default=25)
    parser.add_argument("--profile", type=Path, help="write cProfile's data here")
    parser.add_argument("--json", type=Path, help="also write the report here")
    args = parser.parse_args(argv)
    if args.quick:
        args.captures, args.warmup, args.customers = 50, 10, 100
    report = asyncio.run(run(args))
    text = json.dumps(report, indent=2)
    print(text)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(text + "\n")


if __name__ == "__main__":
    main()
