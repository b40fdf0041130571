"""The flash sale (every order wants one SKU, its stock split over two distribution centers) against
`oms serve --workers 1` and `--workers 2`, in interleaved rounds of one run: throughput, p50/p99,
write conflicts, and where the slow captures waited (from the server's /metrics, summed over its
workers: transactions per capture, time queued in-process behind other captures of the SKU, time
from the first transaction to the commit), requests and latencies per worker (the kernel hands each
client's connection to one worker), no oversell and reserved = open allocations after every round.

    python -m bench.contention            # 4 rounds (1, 2, 2, 1 workers), 16 clients
    python -m bench.contention --quick    # 2 rounds (1, 2 workers), smoke test

Each round is a fresh server on a freshly seeded database (bench/capture_order.py `prepare`) with
a short warm-up of ordinary captures. The rounds alternate 1-2-2-1 so a machine that gets busier
or quieter during the run weighs on both sides alike; the load average is reported beside them.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import time
from pathlib import Path
from typing import Any

import httpx
from prometheus_client.parser import text_string_to_metric_families

from app.embedded_mongod import free_port
from bench.capture_order import CAPTURE, FLASH_SKU, RunResult, drive, invariant, order_input, outcome_of, prepare
from bench.harness import mongodb
from bench.workers import _admin_token, _children_rss, _start, _wait_ready

COUNTERS = (
    "oms_mongo_write_conflicts_total",
    "oms_mongo_transaction_retries_total",
    "oms_capture_retries_total",
)
# Where a capture's time went on the server (histograms, summed over the workers).
HISTOGRAMS = (
    "oms_capture_transaction_attempts",
    "oms_contention_wait_seconds",
    "oms_capture_transaction_seconds",
    "oms_gc_pause_seconds",  # every generation: a long pause stalls the worker's whole per-SKU line
)


async def _counters(http: httpx.AsyncClient) -> dict[str, Any]:
    found: dict[str, Any] = {name: 0.0 for name in COUNTERS} | {
        name: {"count": 0.0, "sum": 0.0, "buckets": {}} for name in HISTOGRAMS
    }
    for family in text_string_to_metric_families((await http.get("/metrics")).text):
        for sample in family.samples:
            if sample.name in COUNTERS:
                found[sample.name] += sample.value
            for name in HISTOGRAMS:
                if sample.name in (f"{name}_count", f"{name}_sum"):
                    found[name][sample.name.removeprefix(name + "_")] += sample.value
                elif sample.name == f"{name}_bucket":
                    bound = float(sample.labels["le"])
                    found[name]["buckets"][bound] = found[name]["buckets"].get(bound, 0.0) + sample.value
    return found


def _histogram_during(before: dict[str, Any], after: dict[str, Any]) -> dict[str, Any]:
    """Count, mean and the bucket bounds under which half and 99% of the observations fell."""
    count = after["count"] - before["count"]
    cumulative = {bound: after["buckets"][bound] - before["buckets"].get(bound, 0.0) for bound in sorted(after["buckets"])}

    def quantile(q: float) -> float | None:
        return next((bound for bound, seen in cumulative.items() if count and seen >= q * count), None)

    return {
        "count": count,
        "sum": round(after["sum"] - before["sum"], 3),
        "mean": round((after["sum"] - before["sum"]) / count, 4) if count else None,
        "p50_at_most": quantile(0.5),
        "p99_at_most": quantile(0.99),
        "max_at_most": quantile(1.0),
    }


def _during(before: dict[str, Any], after: dict[str, Any]) -> dict[str, Any]:
    return {name: after[name] - before[name] for name in COUNTERS} | {
        name: _histogram_during(before[name], after[name]) for name in HISTOGRAMS
    }


def _per_worker(served: list[tuple[str, float]]) -> dict[str, dict[str, float]]:
    """Requests and latency percentiles by the worker that answered (its request-id prefix)."""
    by_worker: dict[str, list[float]] = {}
    for worker, latency in served:
        by_worker.setdefault(worker, []).append(latency)
    report = {}
    for n, latencies in enumerate(sorted(by_worker.values(), key=len, reverse=True)):
        latencies.sort()
        report[f"worker_{n + 1}"] = {
            "requests": len(latencies),
            "p50_ms": round(latencies[len(latencies) // 2], 1),
            "p99_ms": round(latencies[min(len(latencies) - 1, int(0.99 * len(latencies)))], 1),
        }
    return report


async def _round(args: argparse.Namespace, uri: str, workers: int, number: int) -> tuple[RunResult, dict[str, Any]]:
    rng = random.Random(11 + number)
    channel_token, emails, skus, flash_stock = await prepare(uri, customers=args.customers, flash_stock=args.flash_stock)
    admin_token = await _admin_token(uri)
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    process = _start(uri, port, workers)
    limits = httpx.Limits(max_connections=args.clients, max_keepalive_connections=args.clients)
    try:
        await _wait_ready(base, process, workers, uri)
        async with httpx.AsyncClient(
            base_url=base, headers={"Authorization": f"Bearer {admin_token}"}, timeout=120
        ) as admin, httpx.AsyncClient(
            base_url=base, headers={"Authorization": f"Bearer {channel_token}"}, limits=limits, timeout=120
        ) as channel:

            served: list[tuple[str, float]] = []

            async def capture(given: dict[str, Any]) -> str:
                started = time.perf_counter()
                response = await channel.post("/graphql", json={"query": CAPTURE, "variables": {"input": given}})
                served.append((response.headers.get("x-request-id", "")[:16], (time.perf_counter() - started) * 1000))
                return outcome_of(response.json())

            warm = [order_input(rng, n, emails, skus, prefix=f"WARM{number}") for n in range(args.warmup)]
            await drive("warm-up", warm, args.clients, capture)
            before = await _counters(admin)
            load_before = os.getloadavg()[0]
            flash_inputs = [
                order_input(rng, n, emails, [FLASH_SKU], prefix=f"FLASH{number}", lines=1) | {"lines": [{"sku": FLASH_SKU, "quantity": 1}]}
                for n in range(args.flash_orders)
            ]
            served.clear()  # the flash sale's requests only
            flash = await drive("flash sale", flash_inputs, args.clients, capture)
            after = await _counters(admin)
        rss = _children_rss(process.pid)
    finally:
        process.terminate()
        process.wait(timeout=60)
    mismatches, level = await invariant(uri)
    allocated = flash.outcomes.get("ALLOCATED", 0)
    return flash, flash.summary() | {
        "workers": workers,
        "load_average_1m": [round(load_before, 1), round(os.getloadavg()[0], 1)],
        "stock_available_before": flash_stock,
        "allocated_orders": allocated,
        "reserved_after": level["reserved"],
        "oversold": level["reserved"] > flash_stock or allocated > flash_stock,
        "invariant_reserved_equals_open_allocations": not mismatches,
        "during": _during(before, after),
        "per_worker": _per_worker(served),
        "server_rss_mb": rss,
    }


def _together(results: list[RunResult], rounds: list[dict[str, Any]]) -> dict[str, Any]:
    """The rounds of one worker count as one run: orders over seconds, percentiles over all latencies."""
    merged = RunResult(name="flash sale", orders=sum(r.orders for r in results), seconds=sum(r.seconds for r in results))
    for result in results:
        merged.latencies_ms += result.latencies_ms
        for outcome, count in result.outcomes.items():
            merged.outcomes[outcome] = merged.outcomes.get(outcome, 0) + count
    return merged.summary() | {
        "rounds": len(results),
        "oversold": any(r["oversold"] for r in rounds),
        "invariant_reserved_equals_open_allocations": all(r["invariant_reserved_equals_open_allocations"] for r in rounds),
        "during": {name: sum(r["during"][name] for r in rounds) for name in COUNTERS},
        "per_worker_requests": [sorted((w["requests"] for w in r["per_worker"].values()), reverse=True) for r in rounds],
        # Each kept-alive client connection stays with the worker the kernel gave it to (spread by
        # SO_REUSEPORT, app/worker_sockets.py): 1.0 would mean one worker served the whole round.
        "busiest_worker_share": max(
            (max(w["requests"] for w in r["per_worker"].values()) / sum(w["requests"] for w in r["per_worker"].values())
             for r in rounds if r["per_worker"]),
            default=None,
        ),
        "failed_requests": sum(count for outcome, count in merged.outcomes.items() if outcome not in ("ALLOCATED", "BACKORDERED")),
        "server_rss_mb": max(r["server_rss_mb"] for r in rounds),
    }


async def run(args: argparse.Namespace) -> dict[str, Any]:
    order = [1, 2] if args.quick else [1, 2, 2, 1] * max(1, args.rounds // 4)
    by_workers: dict[int, tuple[list[RunResult], list[dict[str, Any]]]] = {1: ([], []), 2: ([], [])}
    with mongodb() as uri:
        for number, workers in enumerate(order):
            result, summary = await _round(args, uri, workers, number)
            by_workers[workers][0].append(result)
            by_workers[workers][1].append(summary)
    one, two = (_together(*by_workers[n]) for n in (1, 2))
    return {
        "cores": len(os.sched_getaffinity(0)),
        "clients": args.clients,
        "order_of_rounds": order,
        "one_worker": one,
        "two_workers": two,
        "throughput_2_over_1": round(two["orders_per_s"] / one["orders_per_s"], 2) if one["orders_per_s"] else None,
        "p99_ms_1_vs_2": [one["p99_ms"], two["p99_ms"]],
        "rounds": by_workers[1][1] + by_workers[2][1],
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="two short rounds for smoke testing")
    parser.add_argument("--rounds", type=int, default=4, help="a multiple of 4: 1-2-2-1 workers, repeated")
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--flash-orders", type=int, default=600)
    parser.add_argument("--flash-stock", type=int, help="units of the flash-sale SKU (default: a quarter of the orders)")
    parser.add_argument("--warmup", type=int, default=60)
    parser.add_argument("--customers", type=int, default=200)
    parser.add_argument("--json", type=Path, help="also write the report here")
    args = parser.parse_args(argv)
    if args.quick:
        args.flash_orders, args.warmup = 200, 30
    args.flash_stock = args.flash_orders // 4 if args.flash_stock is None else args.flash_stock
    report = asyncio.run(run(args))
    text = json.dumps(report, indent=2)
    print(text)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(text + "\n")
    broken = [
        name for name in ("one_worker", "two_workers")
        if report[name]["oversold"] or not report[name]["invariant_reserved_equals_open_allocations"]
    ]
    if broken:
        raise SystemExit(f"NO-OVERSELL INVARIANT BROKEN with {broken}")


if __name__ == "__main__":
    main()
