"""The live operations page under a steady stream of events: 200 events/s for N minutes (default 10)
at /dashboard in headless Chromium, reporting render lag and JS heap over time.

Events are appended to the log the way writers append them (in transactions, 10 per transaction
every 50 ms): half order status changes, half stock movements, one in twenty of those crossing a
reorder point (a low-stock alert). They reach the page through the relay, the hub and its
`orderUpdated`, `stockLevelChanged` and `lowStockAlerts` subscriptions, plus the `dashboard` figures.

Every `--sample` seconds the page is asked (via the Chrome DevTools Protocol) for its JS heap,
before and after a forced garbage collection, and its DOM node count; the page itself reports the
events it received, the frames it drew and its render lag (the time from the first event waiting
for a frame to that frame being drawn: dashboard/src/render.js). A flat heap after GC and a flat
node count mean the page's lists are bounded; lag well under a frame budget means it keeps up.

    .venv/bin/python -m bench.dashboard_page                 # 10 minutes
    .venv/bin/python -m bench.dashboard_page --minutes 1.5   # the short version CI can afford
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import statistics
import sys
import time
from pathlib import Path
from typing import Any

from app.dashboard_page import FrontEnd
from app.domain.clock import utcnow
from app.domain.events import Actor, DomainEvent
from app.domain.ids import new_id
from app.domain.principals import Role
from app.repositories.database import Mongo, Session, connect
from app.repositories.events import EventRepository
from app.repositories.indexes import ensure_indexes
from app.services.container import build_services
from bench.harness import mongodb, rss_mb, server

DATABASE = "bench_dashboard_page"
WRITER = Actor(subject="bench", role="SYSTEM")
PER_TRANSACTION = 10
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]


def order_event(order_id: str, n: int) -> DomainEvent:
    return DomainEvent(
        id=new_id(), type="OrderStatusChanged", aggregate_type="Order", aggregate_id=order_id, at=utcnow(),
        actor=WRITER, payload={"n": n, "from": "ALLOCATED", "to": "IN_FULFILLMENT"},
        order_id=order_id, customer_id="bench-customer", channel_id="web",
    )


def stock_event(sku: str, location: str, n: int, *, low: bool) -> DomainEvent:
    available = 2 if low else 50
    return DomainEvent(
        id=new_id(), type="StockLevelChanged", aggregate_type="InventoryLevel", aggregate_id=f"{sku}@{location}",
        at=utcnow(), actor=WRITER,
        payload={
            "onHand": available, "reserved": 0, "safetyStock": 0, "incoming": 0, "available": available,
            "previousAvailable": available + 5 if low else available - 1, "reorderPoint": 5, "cause": "ADJUSTMENT", "n": n,
        },
        sku=sku, location_id=location,
    )


async def write(mongo: Mongo, *, rate: float, seconds: float, written: list[int]) -> None:
    """`rate` events/s for `seconds`, on schedule (a late batch is not made up by a burst)."""
    repository = EventRepository(mongo.db)
    rng = random.Random(16)
    orders = [new_id() for _ in range(500)]
    interval = PER_TRANSACTION / rate
    started = time.perf_counter()
    n = 0
    while time.perf_counter() - started < seconds:
        batch = []
        for _ in range(PER_TRANSACTION):
            n += 1
            if n % 2:
                batch.append(order_event(rng.choice(orders), n))
            else:
                batch.append(stock_event(f"SKU-{rng.randrange(200)}", f"ST-{rng.randrange(20):02d}", n, low=n % 40 == 0))

        async def work(session: Session, events: list[DomainEvent] = batch) -> None:
            await repository.append(events, session=session)

        await mongo.transaction(work)
        written[0] = n
        delay = started + (n / PER_TRANSACTION) * interval - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)


async def sample(page: Any, cdp: Any, started: float) -> dict[str, Any]:
    before = {m["name"]: m["value"] for m in (await cdp.send("Performance.getMetrics"))["metrics"]}
    await cdp.send("HeapProfiler.collectGarbage")
    after = {m["name"]: m["value"] for m in (await cdp.send("Performance.getMetrics"))["metrics"]}
    asked = time.perf_counter()
    stats = await page.evaluate(
        "() => { const s = window.__omsStats; const out = {events: s.events, frames: s.frames, maxLagMs: s.maxLagMs,"
        " lastLagMs: s.lastLagMs, fed: (s.feeds.orderUpdated || 0) + (s.feeds.stockLevelChanged || 0), tickerRows: document.querySelectorAll('#ticker li').length}; s.maxLagMs = 0; return out; }"
    )
    return {
        "t_s": round(time.perf_counter() - started, 1),
        "js_heap_used_mb": round(before["JSHeapUsedSize"] / 2**20, 2),
        "js_heap_after_gc_mb": round(after["JSHeapUsedSize"] / 2**20, 2),
        "dom_nodes": int(after["Nodes"]),
        "event_listeners": int(after["JSEventListeners"]),
        # A round trip into the page: how long its main thread takes to answer while under load.
        "evaluate_ms": round((time.perf_counter() - asked) * 1000, 1),
        # Cumulative main-thread seconds (tasks, of which script, layout and style): busy = Δtask / Δt.
        "task_s": round(before["TaskDuration"], 3),
        "script_s": round(before["ScriptDuration"], 3),
        "layout_s": round(before["LayoutDuration"] + before["RecalcStyleDuration"], 3),
        **stats,
    }


def slope_per_minute(samples: list[dict[str, Any]], key: str) -> float:
    points = [(s["t_s"] / 60, s[key]) for s in samples]
    if len(points) < 2:
        return 0.0
    mean_t = statistics.fmean(t for t, _ in points)
    mean_v = statistics.fmean(v for _, v in points)
    var = sum((t - mean_t) ** 2 for t, _ in points)
    return sum((t - mean_t) * (v - mean_v) for t, v in points) / var if var else 0.0


async def run(args: argparse.Namespace) -> dict[str, Any]:
    from playwright.async_api import async_playwright

    if not FrontEnd().installed():
        sys.exit("dashboard/node_modules is missing: make install (needs Node.js + npm)")
    seconds = args.minutes * 60
    with mongodb() as uri:
        mongo = Mongo(connect(uri), DATABASE)
        await mongo.client.drop_database(DATABASE)
        await ensure_indexes(mongo.db)
        _, token = await build_services(mongo, scheduler_interval_seconds=0).auth.create_api_key(name="bench", role=Role.ADMIN)
        with server(uri, DATABASE, env={"OMS_SUBSCRIBER_QUEUE": "10000"}) as (base, pid):
            async with async_playwright() as playwright:
                browser = await playwright.chromium.launch(executable_path=args.chromium, args=CHROMIUM_ARGS)
                context = await browser.new_context(viewport={"width": 1400, "height": 1000})
                await context.add_init_script(f"sessionStorage.setItem('oms.apiKey', {json.dumps(token)})")
                page = await context.new_page()
                cdp = await context.new_cdp_session(page)
                await cdp.send("Performance.enable")
                await page.goto(f"{base}/dashboard")
                await page.wait_for_selector('#connection[data-state="live"]')
                await page.wait_for_selector("#open-orders tr")
                await asyncio.sleep(2)  # the subscriptions register
                started = time.perf_counter()
                samples = [await sample(page, cdp, started)]
                written = [0]
                writer = asyncio.create_task(write(mongo, rate=args.rate, seconds=seconds, written=written))
                while not writer.done():
                    await asyncio.wait({writer}, timeout=args.sample)
                    samples.append({**await sample(page, cdp, started), "written": written[0], "server_rss_mb": round(rss_mb(pid), 1)})
                    print(json.dumps(samples[-1]), file=sys.stderr, flush=True)
                writer.result()
                # The tail: everything written reaches the page (while it keeps coming), each once.
                written_at = time.perf_counter()
                received, progress_at = 0, time.monotonic()
                while received < written[0] and time.monotonic() - progress_at < args.tail:
                    now = await page.evaluate(
                        "(window.__omsStats.feeds.orderUpdated || 0) + (window.__omsStats.feeds.stockLevelChanged || 0)"
                    )
                    if now > received:
                        received, progress_at = now, time.monotonic()
                    await asyncio.sleep(0.5)
                catch_up_s = time.perf_counter() - written_at
                settled = await sample(page, cdp, started)
                repeated = await page.evaluate(
                    "(() => { const d = window.__omsStats.delivered; return d.length - new Set(d).size; })()"
                )
                await browser.close()
        await mongo.client.drop_database(DATABASE)
        await mongo.close()
    loaded = samples[1:]
    lags = [s["maxLagMs"] for s in loaded]
    return {
        "config": {"rate_per_s": args.rate, "minutes": args.minutes, "sample_s": args.sample},
        "events_written": written[0],
        # Order and stock events the page's feeds delivered (each once: dashboard/src/feeds.js).
        "events_received_by_page": received,
        "seconds_to_catch_up_after_writes": round(catch_up_s, 1),
        "repeated_in_last_1000": repeated,
        "load_average_at_end": [round(x, 1) for x in os.getloadavg()],
        "achieved_rate_per_s": round(written[0] / seconds, 1),
        "render": {
            "frames_per_s": round((loaded[-1]["frames"] - samples[0]["frames"]) / loaded[-1]["t_s"], 1) if loaded else None,
            "max_lag_ms_per_sample_p50": round(statistics.median(lags), 1) if lags else None,
            "max_lag_ms_worst": round(max(lags), 1) if lags else None,
            "evaluate_ms_p50": round(statistics.median(s["evaluate_ms"] for s in loaded), 1) if loaded else None,
            # Share of wall time the page's main thread was busy, and on what.
            "main_thread_busy": round((loaded[-1]["task_s"] - samples[0]["task_s"]) / loaded[-1]["t_s"], 3) if loaded else None,
            "script_share": round((loaded[-1]["script_s"] - samples[0]["script_s"]) / loaded[-1]["t_s"], 3) if loaded else None,
            "layout_and_style_share": round((loaded[-1]["layout_s"] - samples[0]["layout_s"]) / loaded[-1]["t_s"], 3) if loaded else None,
            "delivered_per_s_during_writes": round(loaded[-1]["fed"] / loaded[-1]["t_s"], 1) if loaded else None,
        },
        "memory": {
            "js_heap_after_gc_mb_first": loaded[0]["js_heap_after_gc_mb"] if loaded else None,
            "js_heap_after_gc_mb_last": loaded[-1]["js_heap_after_gc_mb"] if loaded else None,
            "js_heap_after_gc_mb_max": max(s["js_heap_after_gc_mb"] for s in loaded) if loaded else None,
            "js_heap_after_gc_slope_mb_per_min": round(slope_per_minute(loaded, "js_heap_after_gc_mb"), 3),
            "dom_nodes_first": loaded[0]["dom_nodes"] if loaded else None,
            "dom_nodes_last": loaded[-1]["dom_nodes"] if loaded else None,
            "js_heap_after_gc_mb_after_catch_up": settled["js_heap_after_gc_mb"],
            "dom_nodes_after_catch_up": settled["dom_nodes"],
        },
        "samples": samples,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--quick", action="store_true", help="1 minute (CI)")
    parser.add_argument("--rate", type=float, default=200.0, help="events per second")
    parser.add_argument("--sample", type=float, default=10.0, help="seconds between samples")
    parser.add_argument("--tail", type=float, default=30.0, help="seconds without progress before giving up on the backlog")
    parser.add_argument("--chromium", default="/usr/bin/chromium")
    parser.add_argument("--json", type=Path, help="write the result here too")
    args = parser.parse_args()
    if args.quick:
        args.minutes = 1.0
    result = asyncio.run(run(args))
    text = json.dumps(result, indent=2)
    print(text)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(text + "\n")


if __name__ == "__main__":
    main()
