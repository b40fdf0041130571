"""Shared bench plumbing: a MongoDB (embedded or MONGODB_URI), the real server in a subprocess,
percentiles, the server's RSS, and where a result is written."""

from __future__ import annotations

import argparse
import contextlib
import cProfile
import dataclasses
import io
import json
import os
import pstats
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import httpx

from app.embedded_mongod import EmbeddedMongod, free_port
from app.repositories.database import Mongo
from app.repositories.indexes import ensure_indexes
from app.services.demo_seed import SeedSize, seed_demo

ROOT = Path(__file__).resolve().parent.parent
# The recorded figures (tracked, quoted by the README) and a run's own output (untracked).
RESULTS = ROOT / "bench" / "results"
OUT = ROOT / "bench" / "out"


def add_output_flags(parser: argparse.ArgumentParser) -> None:
    """`--json PATH` writes the result there; `--record` makes it the recorded figures in bench/results/."""
    parser.add_argument("--json", type=Path, help="write the result here (default: bench/out/NAME.json)")
    parser.add_argument("--record", action="store_true", help="write it to bench/results/ as the recorded figures")


def result_path(name: str, args: argparse.Namespace) -> Path:
    """Where a run writes `name`.json: only an explicit --record touches the tracked bench/results/."""
    if getattr(args, "json", None):
        return Path(args.json)
    return (RESULTS if getattr(args, "record", False) else OUT) / f"{name}.json"


def write_result(name: str, args: argparse.Namespace, result: object) -> Path:
    path = result_path(name, args)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(result, indent=2) + "\n")
    return path


@contextlib.contextmanager
def mongodb() -> Iterator[str]:
    """MONGODB_URI if set, else a throwaway single-node replica set."""
    if os.environ.get("MONGODB_URI"):
        yield os.environ["MONGODB_URI"]
        return
    with tempfile.TemporaryDirectory(prefix="oms-bench-") as data_dir:
        mongod = EmbeddedMongod(Path(data_dir), cache_size_gb=2)
        try:
            yield mongod.start()
        finally:
            mongod.stop()


async def seed_unless_kept(mongo: Mongo, size: SeedSize, seed: int) -> float | None:
    """The demo data of this size and seed, unless the database already holds it complete (a
    MONGODB_URI kept between runs, as `make bench` keeps bench/out/mongo): a marker written once the
    seed finished says so, so a run stopped half way seeds again. Seconds spent seeding, or None."""
    wanted = {"_id": "demo_seed", "seed": seed, **dataclasses.asdict(size)}
    if await mongo.db["bench_meta"].find_one({"_id": "demo_seed"}) == wanted:
        return None
    await mongo.client.drop_database(mongo.db.name)
    await ensure_indexes(mongo.db)
    started = time.perf_counter()
    await seed_demo(mongo, size, seed=seed)
    await mongo.db["bench_meta"].insert_one(wanted)
    return time.perf_counter() - started


@contextlib.contextmanager
def server(
    mongodb_uri: str,
    database: str,
    *,
    env: dict[str, str] | None = None,
    seed_if_empty: bool = False,
    command: list[str] | None = None,
    cwd: Path = ROOT,
    label: str = "server",
) -> Iterator[tuple[str, int]]:
    """`oms serve` on a free port against the given database; yields (base URL, pid). `command`
    replaces `python -m app.cli` (bench/gc_probe.py), `cwd` the source tree it runs. Its RSS (now
    and at peak) is printed when the block ends, so every bench reports what it cost in memory."""
    port = free_port()
    process_env = {
        **os.environ,
        "MONGODB_URI": mongodb_uri,
        "OMS_DB_NAME": database,
        "OMS_LOG_LEVEL": "WARNING",
        # One process, as these benches were measured (production would start one per core):
        # its pid is the server whose RSS is reported. bench.workers compares 1 with 2.
        "OMS_WORKERS": "1",
        **(env or {}),
    }
    process = subprocess.Popen(
        [*(command or [sys.executable, "-m", "app.cli"]), "serve", "--port", str(port), *(["--seed-if-empty"] if seed_if_empty else [])],
        cwd=cwd,
        env=process_env,
        stdout=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise RuntimeError(f"server exited with {process.returncode}")
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{base}/readyz", timeout=1).status_code == 200:
                    break
            time.sleep(0.2)
        else:
            raise RuntimeError("server did not become ready")
        yield base, process.pid
    finally:
        if process.poll() is None:
            print(f"{label} (pid {process.pid}) RSS after the run: {rss_mb(process.pid):.1f} MB, "
                  f"peak {peak_rss_mb(process.pid):.1f} MB", file=sys.stderr)
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(20)
        except subprocess.TimeoutExpired:
            process.kill()


def rss_mb(pid: int) -> float:
    return _status_mb(pid, "VmRSS:")


def peak_rss_mb(pid: int) -> float:
    return _status_mb(pid, "VmHWM:")


def _status_mb(pid: int, field: str) -> float:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(field):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return float("nan")


def percentile(samples: list[float], p: float) -> float:
    if not samples:
        return float("nan")
    ordered = sorted(samples)
    index = min(len(ordered) - 1, max(0, round(p / 100 * (len(ordered) - 1))))
    return ordered[index]


def summary(samples_ms: list[float]) -> dict[str, float]:
    return {
        "n": len(samples_ms),
        "p50_ms": round(percentile(samples_ms, 50), 3),
        "p95_ms": round(percentile(samples_ms, 95), 3),
        "p99_ms": round(percentile(samples_ms, 99), 3),
        "mean_ms": round(statistics.fmean(samples_ms), 3) if samples_ms else float("nan"),
    }


def profile_report(
    profiler: cProfile.Profile, count: int, *, per: str, top: int, sort: str, in_ms: bool = False, callers: str | None = None
) -> str:
    """A cProfile's CPU and calls per `per` (a request, a page) over `count` of them, then its
    `top` functions by `sort` and, if asked, who calls the functions matching `callers`."""
    stats = pstats.Stats(profiler)
    total = stats.total_tt / count  # type: ignore[attr-defined]
    calls = sum(entry[1] for entry in stats.stats.values())  # type: ignore[attr-defined]
    cpu = f"{total * 1000:.1f} ms" if in_ms else f"{total * 1e6:.0f} µs"
    out = io.StringIO()
    out.write(f"cProfile: {cpu} CPU per {per} (with the profiler's overhead), {calls / count:,.0f} calls per {per}\n")
    stats.stream = out  # type: ignore[attr-defined]
    stats.sort_stats(sort).print_stats(top)
    if callers:
        stats.print_callers(callers)
    return out.getvalue()
