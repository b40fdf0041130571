"""`oms serve` with the cycle collector's pauses recorded: run as a script with the server's
arguments, from the source tree to measure (its working directory comes first on sys.path, so an
older checkout can be measured side by side with this one: bench/tails.py).

    BENCH_GC_FILE=/tmp/gc.json python bench/gc_probe.py serve --port 8001

At exit, BENCH_GC_FILE gets per generation: collections, total/p50/p99/max pause (ms), objects found
unreachable. BENCH_GC_THRESHOLDS="a,b,c" replaces the serve-time thresholds after the server set its own.
"""

from __future__ import annotations

import atexit
import gc
import json
import os
import sys
import time


class Pauses:
    def __init__(self) -> None:
        self.started = 0.0
        self.samples: dict[int, list[float]] = {0: [], 1: [], 2: []}
        self.collected: dict[int, int] = {0: 0, 1: 0, 2: 0}

    def __call__(self, phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            self.started = time.perf_counter()
            return
        generation = info["generation"]
        self.samples[generation].append((time.perf_counter() - self.started) * 1000)
        self.collected[generation] += info.get("collected", 0)

    def summary(self) -> dict[str, dict[str, float]]:
        out = {}
        for generation, samples in self.samples.items():
            ordered = sorted(samples)

            def at(p: float, ordered: list[float] = ordered) -> float:
                return round(ordered[min(len(ordered) - 1, int(p * len(ordered)))], 2) if ordered else 0.0

            out[f"gen{generation}"] = {
                "collections": len(samples),
                "total_ms": round(sum(samples), 1),
                "p50_ms": at(0.50),
                "p99_ms": at(0.99),
                "max_ms": round(max(samples), 2) if samples else 0.0,
                "unreachable_found": self.collected[generation],
            }
        out["thresholds"] = list(gc.get_threshold())  # type: ignore[assignment]
        return out


def main() -> None:
    sys.path.insert(0, os.getcwd())
    from app import cli

    pauses = Pauses()
    target = os.environ.get("BENCH_GC_FILE")
    if target:
        atexit.register(lambda: open(target, "w").write(json.dumps(pauses.summary())))
    tune = cli._tune_garbage_collector

    def tune_then_record() -> None:
        tune()
        if os.environ.get("BENCH_GC_THRESHOLDS"):
            gc.set_threshold(*(int(part) for part in os.environ["BENCH_GC_THRESHOLDS"].split(",")))
        gc.callbacks.append(pauses)

    cli._tune_garbage_collector = tune_then_record  # type: ignore[attr-defined]
    sys.argv = ["oms", *sys.argv[1:]]
    cli.main()


if __name__ == "__main__":
    main()
