"""`oms serve --workers 2` against `--workers 1`, in the same run, on the same database: stock of one
SKU everywhere, order captures and pages of 100 orders at 1 and 16 clients, then a flash sale on one
SKU (stock split over two distribution centers) at 16 clients, with the no-oversell invariant
checked after each.

    python -m bench.workers            # full run (a few minutes)
    python -m bench.workers --quick    # smoke test

Each server is a fresh `oms serve --workers N` (OMS_ENV=production) on a freshly seeded database.
Clients keep their connections (httpx keep-alive); the kernel hands each new connection to one
worker, so a single client is served by one worker whatever N is: 1-client figures measure the
cost of a request, 16-client figures what extra workers add. Transaction retries and write
conflicts are read from the server's own /metrics (summed over its workers) around the flash sale.

Load-independent evidence beside the throughput: mongod's CPU time per captured order (from
/proc, when mongod runs on this machine), measured from the first capture until every event is
stamped and handed on, and the change streams each server keeps open on its database (with the
local broker, no worker follows `relay_state`; each extra change stream makes mongod read the
oplog once more).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import re
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx

from app.domain.principals import Role
from app.embedded_mongod import free_port
from app.repositories.database import Mongo, connect
from app.services.container import build_services
from bench.capture_order import DATABASE, FLASH_SKU, capture_outcome, drive, invariant, order_input, prepare
from bench.harness import ROOT, mongodb, rss_mb
from bench.orders_page import QUERY as ORDERS_PAGE

STOCK = "query($sku: String!) { inventory(sku: $sku) { totals { onHand reserved available locationCount } levels { locationCode available } } }"
RETRY_COUNTERS = ("oms_mongo_transaction_retries_total", "oms_mongo_write_conflicts_total", "oms_capture_retries_total")


async def _admin_token(uri: str) -> str:
    mongo = Mongo(connect(uri), DATABASE)
    try:
        _, token = await build_services(mongo, scheduler_interval_seconds=0).auth.create_api_key(name="bench-admin", role=Role.ADMIN)
        return token
    finally:
        await mongo.close()


def _start(uri: str, port: int, workers: int) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "MONGODB_URI": uri,
        "OMS_DB_NAME": DATABASE,
        "OMS_ENV": "production",
        "OMS_LOG_LEVEL": "WARNING",
    }
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    return subprocess.Popen(
        [sys.executable, "-m", "app.cli", "serve", "--port", str(port), "--workers", str(workers)],
        cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )


async def _wait_ready(base: str, process: subprocess.Popen[bytes], workers: int, uri: str) -> None:
    """Ready once every worker has registered its instance and the port answers /readyz. (Which
    worker answers is the kernel's choice: an idle server may hand every new connection to one.)"""
    client = connect(uri)
    deadline = time.monotonic() + 180  # a busy machine starts N interpreters slowly
    try:
        while True:
            if process.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(f"server with {workers} workers did not start (exit {process.poll()})")
            registered = await client[DATABASE].instances.count_documents({})
            with contextlib.suppress(httpx.TransportError):
                async with httpx.AsyncClient() as http:
                    if (await http.get(f"{base}/readyz")).status_code == 200 and registered >= workers:
                        return
            await asyncio.sleep(0.1)
    finally:
        await client.close()


async def _mongod_pid(uri: str) -> int | None:
    """mongod's pid when it runs on this machine (its CPU time is then readable in /proc)."""
    client = connect(uri)
    try:
        pid = int((await client.admin.command("serverStatus"))["pid"])
    finally:
        await client.close()
    try:
        return pid if Path(f"/proc/{pid}/comm").read_text().strip() == "mongod" else None
    except OSError:
        return None


def _cpu_seconds(pid: int | None) -> float | None:
    if pid is None:
        return None
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime + stime


async def _change_streams(uri: str) -> dict[str, int]:
    """Change streams open on the bench's database, by collection (idle cursors and getMores)."""
    client = connect(uri)
    try:
        pipeline = [{"$currentOp": {"idleCursors": True, "allUsers": True}}, {"$match": {"ns": {"$regex": f"^{DATABASE}\\."}}}]
        ops = await (await client.admin.aggregate(pipeline)).to_list(None)
    finally:
        await client.close()
    counts: dict[str, int] = {}
    for op in ops:
        command = (op.get("cursor") or {}).get("originatingCommand") or op.get("command") or {}
        if any("$changeStream" in stage for stage in command.get("pipeline", [])):
            collection = op["ns"].split(".", 1)[1]
            counts[collection] = counts.get(collection, 0) + 1
    return dict(sorted(counts.items()))


async def _settled(uri: str) -> None:
    """Every event stamped and the relay's progress recorded: the work an order causes is done."""
    client = connect(uri)
    try:
        db = client[DATABASE]
        deadline = time.monotonic() + 60
        while await db.events.count_documents({"seq": None}) and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        newest = await db.events.find_one({}, {"seq": 1}, sort=[("seq", -1)])
        while time.monotonic() < deadline:
            state = await db.relay_state.find_one({"_id": "sequencer"}, {"last_seq": 1})
            if (state or {}).get("last_seq", 0) >= (newest or {}).get("seq", 0):
                break
            await asyncio.sleep(0.05)
    finally:
        await client.close()


def _machine_busy_seconds() -> float:
    """CPU seconds the whole machine has spent busy (every core, every process), from /proc/stat."""
    fields = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = fields[3] + fields[4]  # idle + iowait
    return (sum(fields[:8]) - idle) / os.sysconf("SC_CLK_TCK")


def _cpu_snapshot(server: int, mongod: int | None) -> tuple[float, ...]:
    own = os.times()
    serving = sum(seconds or 0.0 for seconds in map(_cpu_seconds, [server, *_children(server)]))
    return time.monotonic(), _machine_busy_seconds(), serving, _cpu_seconds(mongod) or 0.0, own.user + own.system


def _cores_used(before: tuple[float, ...], after: tuple[float, ...]) -> dict[str, float]:
    """Cores in use between two snapshots: by the whole machine, the server (all its workers),
    mongod and this load generator. When the machine is already busy with one worker, a second
    has no core to run on: that is the ceiling of the speed-up on this machine."""
    elapsed = max(after[0] - before[0], 1e-9)
    used = [round((a - b) / elapsed, 2) for a, b in zip(after[1:], before[1:], strict=True)]
    return dict(zip(("machine", "server", "mongod", "load_generator"), used, strict=True))


def _children(pid: int) -> list[int]:
    try:
        return [int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        return []


def _children_rss(pid: int) -> float:
    """RSS of the server: the supervisor plus its workers, in MB."""
    pids = [pid, *_children(pid)]
    return round(sum(mb for mb in map(rss_mb, pids) if mb == mb), 1)  # a process gone meanwhile: NaN


async def _counters(http: httpx.AsyncClient) -> dict[str, float]:
    scrape = (await http.get("/metrics")).text
    return {
        name: sum(float(v) for v in re.findall(rf"^{name}(?:\{{[^}}]*\}})? (\S+)$", scrape, re.MULTILINE))
        for name in RETRY_COUNTERS
    }


async def _one_server(args: argparse.Namespace, uri: str, workers: int) -> dict[str, Any]:
    rng = random.Random(11)
    channel_token, emails, skus, flash_stock = await prepare(uri, customers=args.customers, flash_stock=args.flash_stock)
    admin_token = await _admin_token(uri)
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    process = _start(uri, port, workers)
    report: dict[str, Any] = {"workers": workers}
    mongod = await _mongod_pid(uri)
    try:
        await _wait_ready(base, process, workers, uri)
        report["change_streams"] = await _change_streams(uri)
        admin = httpx.AsyncClient(base_url=base, headers={"Authorization": f"Bearer {admin_token}"}, timeout=120)
        async with admin:
            for clients in args.clients:
                limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
                async with httpx.AsyncClient(
                    base_url=base, headers={"Authorization": f"Bearer {admin_token}"}, limits=limits, timeout=120
                ) as http, httpx.AsyncClient(
                    base_url=base, headers={"Authorization": f"Bearer {channel_token}"}, limits=limits, timeout=120
                ) as channel:

                    async def lookup(sku: str) -> str:
                        body = (await http.post("/graphql", json={"query": STOCK, "variables": {"sku": sku}})).json()
                        return str(body["errors"][0].get("extensions", {}).get("code", "graphql-error")) if body.get("errors") else "ok"

                    async def capture(given: dict[str, Any]) -> str:
                        return await capture_outcome(channel, given)

                    async def page(selection: dict[str, Any] | None) -> str:
                        body = (await http.post("/graphql", json={"query": ORDERS_PAGE, "variables": {"filter": selection}})).json()
                        if body.get("errors"):
                            return str(body["errors"][0].get("extensions", {}).get("code", "graphql-error"))
                        return "ok" if len(body["data"]["orders"]["edges"]) == 100 else "short page"

                    pages = [rng.choice([None, {"channels": ["web"]}]) for _ in range(args.pages)]
                    await drive("warm-up", [rng.choice(skus) for _ in range(args.warmup)], clients, lookup)
                    await drive("warm-up", [order_input(rng, n, emails, skus, prefix=f"WARM{clients}") for n in range(args.warmup)], clients, capture)
                    cpu = _cpu_snapshot(process.pid, mongod)
                    stock = await drive("stock", [rng.choice(skus) for _ in range(args.lookups)], clients, lookup)
                    stock_cores = _cores_used(cpu, _cpu_snapshot(process.pid, mongod))
                    orders = [order_input(rng, n, emails, skus, prefix=f"C{clients}") for n in range(args.orders)]
                    await _settled(uri)
                    cpu_before = _cpu_seconds(mongod)
                    cpu = _cpu_snapshot(process.pid, mongod)
                    captured = await drive("capture", orders, clients, capture)
                    capture_cores = _cores_used(cpu, _cpu_snapshot(process.pid, mongod))
                    await _settled(uri)
                    cpu_after = _cpu_seconds(mongod)
                    await drive("warm-up", pages[: args.warmup // 3], clients, page)  # after the captures: 100 orders exist
                    cpu = _cpu_snapshot(process.pid, mongod)
                    paged = await drive("orders page", pages, clients, page)
                    page_cores = _cores_used(cpu, _cpu_snapshot(process.pid, mongod))
                    report[f"stock_lookups_{clients}_clients"] = stock.summary() | {"cores_used": stock_cores}
                    report[f"captures_{clients}_clients"] = captured.summary() | {
                        "mongod_cpu_ms_per_order": None if cpu_before is None or cpu_after is None
                        else round((cpu_after - cpu_before) * 1000 / len(orders), 2),
                        "cores_used": capture_cores,
                    }
                    report[f"orders_pages_{clients}_clients"] = paged.summary() | {"cores_used": page_cores}

            clients = max(args.clients)
            limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
            async with httpx.AsyncClient(
                base_url=base, headers={"Authorization": f"Bearer {channel_token}"}, limits=limits, timeout=120
            ) as channel:

                async def flash_capture(given: dict[str, Any]) -> str:
                    return await capture_outcome(channel, given)

                before = await _counters(admin)
                flash_inputs = [
                    order_input(rng, n, emails, [FLASH_SKU], prefix="FLASH", lines=1) | {"lines": [{"sku": FLASH_SKU, "quantity": 1}]}
                    for n in range(args.flash_orders)
                ]
                flash = await drive("flash sale", flash_inputs, clients, flash_capture)
                after = await _counters(admin)
        report["change_streams_after"] = await _change_streams(uri)
        report["server_rss_mb"] = _children_rss(process.pid)
    finally:
        process.terminate()
        try:
            process.wait(timeout=60)
        except subprocess.TimeoutExpired:  # a worker stuck in shutdown: the figures are taken already
            for pid in [*_children(process.pid), process.pid]:
                with contextlib.suppress(OSError):
                    os.kill(pid, signal.SIGKILL)
            process.wait()
    mismatches, level = await invariant(uri)
    allocated = flash.outcomes.get("ALLOCATED", 0)
    report[f"flash_sale_{clients}_clients"] = flash.summary() | {
        "stock_available_before": flash_stock,
        "allocated_orders": allocated,
        "reserved_after": level["reserved"],
        "oversold": level["reserved"] > flash_stock or allocated > flash_stock,
        "retries_during": {name: after[name] - before[name] for name in RETRY_COUNTERS},
    }
    report["invariant_reserved_equals_open_allocations"] = not mismatches
    return report


def _ratios(one: dict[str, Any], two: dict[str, Any]) -> dict[str, Any]:
    ratios: dict[str, Any] = {}
    for key, figures in one.items():
        if isinstance(figures, dict) and "orders_per_s" in figures and figures["orders_per_s"]:
            other = two[key]
            ratios[key] = {
                "throughput_2_over_1": round(other["orders_per_s"] / figures["orders_per_s"], 2),
                "p99_ms_1_vs_2": [figures["p99_ms"], other["p99_ms"]],
            }
            if figures.get("mongod_cpu_ms_per_order") and other.get("mongod_cpu_ms_per_order") is not None:
                ratios[key]["mongod_cpu_per_order_2_over_1"] = round(other["mongod_cpu_ms_per_order"] / figures["mongod_cpu_ms_per_order"], 2)
    return ratios


async def run(args: argparse.Namespace) -> dict[str, Any]:
    load_start = os.getloadavg()
    with mongodb() as uri:
        one = await _one_server(args, uri, 1)
        two = await _one_server(args, uri, 2)
    return {
        "cores": len(os.sched_getaffinity(0)),
        "load_average": {"start": [round(v, 2) for v in load_start], "end": [round(v, 2) for v in os.getloadavg()]},
        "one_worker": one,
        "two_workers": two,
        "ratios": _ratios(one, two),
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="small run for smoke testing")
    parser.add_argument("--lookups", type=int, default=4000)
    parser.add_argument("--orders", type=int, default=1500)
    parser.add_argument("--pages", type=int, default=300, help="pages of 100 orders (30 fields) per client count")
    parser.add_argument("--flash-orders", type=int, default=1500)
    parser.add_argument("--flash-stock", type=int, help="units of the flash-sale SKU (default: a quarter of the orders)")
    parser.add_argument("--warmup", type=int, default=200)
    parser.add_argument("--customers", type=int, default=1000)
    parser.add_argument("--json", type=Path, help="also write the report here")
    args = parser.parse_args(argv)
    args.clients = (1, 16)
    if args.quick:
        args.lookups, args.orders, args.pages, args.flash_orders, args.warmup, args.customers = 1000, 240, 48, 120, 20, 200
    args.flash_stock = args.flash_orders // 4 if args.flash_stock is None else args.flash_stock
    report = asyncio.run(run(args))
    text = json.dumps(report, indent=2)
    print(text)
    if args.json:
        args.json.write_text(text + "\n")
    broken = [
        name for name in ("one_worker", "two_workers")
        if report[name]["flash_sale_16_clients"]["oversold"] or not report[name]["invariant_reserved_equals_open_allocations"]
    ]
    if broken:
        raise SystemExit(f"NO-OVERSELL INVARIANT BROKEN with {broken}")


if __name__ == "__main__":
    main()
