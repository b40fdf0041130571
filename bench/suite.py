"""The whole benchmark set in short runs, one after another, and one markdown table of the figures
(bench/table.py): `make bench`, under 10 minutes on the 2-core machine.

    .venv/bin/python -m bench.suite                  # writes bench/out/bench.md (untracked)
    .venv/bin/python -m bench.suite --record         # also bench/results/bench.md (make bench-record)
    .venv/bin/python -m bench.suite --only tails soak
    .venv/bin/python -m bench.suite --fresh          # drop the kept demo data first

Each bench runs as its own command (the one a person runs by hand, with short arguments) in a
subprocess, with its result in bench/out/NAME.json and its output in bench/out/NAME.log; a bench
that fails or overruns its time is shown as failed in the table and the others still run. The long
runs stay each bench's own default (`python -m bench.capture_order`, `python -m bench.soak`, ...).

All of them use one mongod whose data is kept in bench/out/mongo between runs (or MONGODB_URI): the
benches that only read demo data seed it once (bench/harness.py seed_unless_kept), and seeding 100
locations × 5,000 SKUs is the set's longest step (50–90 s on a busy machine). Benches that write
drop and seed their own database each run.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timezone

from app.embedded_mongod import EmbeddedMongod

from bench.harness import OUT, RESULTS, ROOT
from bench.table import BenchRun, Machine, bench_run, render


@dataclass(frozen=True)
class Bench:
    name: str
    args: tuple[str, ...]
    timeout_s: float
    module: str = ""  # bench/<module>.py when a second run of one bench needs a name of its own

    @property
    def command(self) -> str:
        return f"bench.{self.module or self.name}"


# Short versions, at the targets' sizes where a target names one (storeAvailability: ≥ 100 locations
# × ≥ 5,000 SKUs; tails: 16 clients). About 6 minutes on the quiet 2-core machine once the demo data
# is kept; a timeout is each bench's worst case on a busy one (a bench past it is shown as failed).
SUITE = (
    Bench("store_availability", ("--locations", "100", "--skus", "5000", "--requests", "400"), 150),
    Bench("orders_page", ("--orders", "4000", "--requests", "60"), 80),
    Bench("capture_order", ("--clients", "16", "--orders", "200", "--flash-orders", "150", "--warmup", "30", "--customers", "200"), 100),
    Bench("capture_costs", ("--captures", "100", "--warmup", "10", "--customers", "200", "--top", "15"), 90),
    Bench("tails", ("--orders", "4000", "--rounds", "2", "--requests", "16", "--clients", "16"), 100),
    Bench("subscriptions", ("--quick",), 90),
    # Item 6's size on one process: 5,000 subscribers (a twentieth on the whole channel) at 10 events/s.
    Bench("subscriptions_many", ("--subscribers", "5000", "--seconds", "20"), 240, module="subscriptions"),
    Bench("returns", ("--clients", "16", "--returns", "120", "--races", "30", "--warmup", "20"), 70),
    Bench("cases", ("--clients", "16", "--cases", "120", "--warmup", "20"), 60),
    Bench("soak", ("--quick",), 100),
    Bench("contention", ("--quick",), 120),
    Bench("workers", ("--quick",), 300),
)


@contextlib.contextmanager
def kept_mongod(fresh: bool) -> Iterator[str]:
    """MONGODB_URI if set, else the embedded mongod on bench/out/mongo (emptied first with `fresh`)."""
    if os.environ.get("MONGODB_URI"):
        yield os.environ["MONGODB_URI"]
        return
    data_dir = OUT / "mongo"
    if fresh:
        shutil.rmtree(data_dir, ignore_errors=True)
    data_dir.mkdir(parents=True, exist_ok=True)
    mongod = EmbeddedMongod(data_dir, cache_size_gb=1.5)
    try:
        yield mongod.start()
    finally:
        mongod.stop()


def run_one(bench: Bench, mongodb_uri: str) -> BenchRun:
    result_file = OUT / f"{bench.name}.json"
    result_file.unlink(missing_ok=True)  # never report a previous run's figures
    command = [sys.executable, "-m", bench.command, *bench.args, "--json", str(result_file)]
    started = time.monotonic()
    error = None
    with open(OUT / f"{bench.name}.log", "wb") as log:
        # Its own process group: on overrun the bench, its server and its mongod stop together.
        process = subprocess.Popen(
            command, cwd=ROOT, env={**os.environ, "MONGODB_URI": mongodb_uri}, stdout=log, stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            status = process.wait(bench.timeout_s)
            if status != 0:
                error = f"exit status {status}, see bench/out/{bench.name}.log"
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(20)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
            error = f"overran {bench.timeout_s:.0f} s, see bench/out/{bench.name}.log"
    seconds = time.monotonic() - started
    result = json.loads(result_file.read_text()) if result_file.exists() else None
    return bench_run(bench.name, seconds, result, error)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--record", action="store_true", help="also write bench/results/bench.md, the recorded table")
    parser.add_argument("--only", nargs="+", choices=[b.name for b in SUITE], help="run these benches only")
    parser.add_argument("--fresh", action="store_true", help="drop the demo data kept in bench/out/mongo first")
    args = parser.parse_args(argv)
    OUT.mkdir(parents=True, exist_ok=True)
    chosen = [b for b in SUITE if not args.only or b.name in args.only]
    started_at = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    load_start = os.getloadavg()
    runs = []
    with kept_mongod(args.fresh) as uri:
        for bench in chosen:
            print(f"{bench.name} ...", file=sys.stderr, flush=True)
            runs.append(run_one(bench, uri))
            print(f"{bench.name}: {runs[-1].seconds:.0f} s{' — ' + runs[-1].error if runs[-1].error else ''}", file=sys.stderr, flush=True)
    machine = Machine(cores=os.cpu_count() or 0, load_start=load_start, load_end=os.getloadavg(), started_at=started_at)
    table = render(machine, runs)
    (OUT / "bench.md").write_text(table)
    if args.record:
        (RESULTS / "bench.md").write_text(table)
    print(table)


if __name__ == "__main__":
    main()
