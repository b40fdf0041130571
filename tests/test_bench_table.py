"""`make bench`'s table (bench/table.py): each figure beside its raw baseline, the ratio, the target and
met / not met, from the benches' JSON results. No bench runs here: the results are written out."""

from __future__ import annotations

from bench.table import HOLDS, BenchRun, Figure, Machine, at_most, bench_run, ratio_at_least, ratio_at_most, render

MACHINE = Machine(cores=2, load_start=(3.0, 2.5, 2.0), load_end=(4.25, 3.0, 2.1), started_at="2026-11-29 20:15 UTC")


def _row(table: str, text: str, *, last: bool = False) -> list[str]:
    found = [line for line in table.splitlines() if text in line]
    line = found[-1] if last else found[0]
    return [cell.strip() for cell in line.strip("|").split("|")]


def test_the_ratio_is_the_figure_over_its_baseline_and_the_target_judges_it() -> None:
    # A latency at most 1.5× its raw query, a throughput at least 0.8× its raw driver
    slow = Figure("storeAvailability", "p50", 3.0, "ms", 1.5, ratio_at_most(1.5))
    fast = Figure("storeAvailability", "p50", 2.0, "ms", 1.5, ratio_at_most(1.5))
    assert slow.ratio == 2.0 and slow.met is False
    assert fast.met is True
    assert Figure("captureOrder", "orders/s", 40.0, "/s", 50.0, ratio_at_least(0.8)).met is True  # 0.8 exactly
    assert Figure("captureOrder", "orders/s", 39.0, "/s", 50.0, ratio_at_least(0.8)).met is False
    # A bound on the figure itself, a guarantee, and nothing to judge
    assert Figure("orders page", "p95", 61.0, "ms", 20.0, at_most(60, "ms")).met is False
    assert Figure("flash sale", "no oversell", True, target=HOLDS).met is True
    assert Figure("flash sale", "no oversell", False, target=HOLDS).met is False
    assert Figure("storeAvailability", "p50", None, "ms", 1.5, ratio_at_most(1.5)).met is None
    assert Figure("storeAvailability", "p50", 3.0, "ms", None, ratio_at_most(1.5)).ratio is None
    assert Figure("returns", "round trips/s", 12.0, "/s", 24.0).met is None  # no target: reported only


def test_the_table_shows_figure_baseline_ratio_target_verdict_rss_and_the_machine() -> None:
    # Given two benches' results as they write them, and one bench that failed
    store = {
        "graphql_http": {"p50_ms": 3.3}, "raw_geo_query": {"p50_ms": 1.5},
        "graphql_http_with_location_names": {"p50_ms": 4.0}, "raw_geo_query_plus_location_names": {"p50_ms": 2.0},
        "server_rss_mb": {"before": 90.0, "after": 101.25},
    }
    capture = {
        "clients": 16, "api": {"orders_per_s": 45.0, "p50_ms": 100.0, "p99_ms": 350.0},
        "baseline": {"orders_per_s": 50.0}, "flash_sale": {"oversold": False},
        "invariant_reserved_equals_open_allocations": True, "server_rss_after_flash": {"rss_mb": 120.0},
    }
    runs = [
        bench_run("store_availability", 61.0, store),
        bench_run("capture_order", 40.0, capture),
        bench_run("soak", 120.0, None, "overran 120 s"),
    ]
    table = render(MACHINE, runs)

    # Then each figure sits beside its baseline with the ratio, the target and the verdict
    assert _row(table, "| p50, 1 client") == ["storeAvailability", "p50, 1 client", "3.3 ms", "1.5 ms", "2.2×", "ratio ≤ 1.5×", "**not met**"]
    assert _row(table, "orders/s") == ["captureOrder", "orders/s, 16 clients", "45/s", "50/s", "0.9×", "ratio ≥ 0.8×", "met"]
    assert _row(table, "p99 against its p50, 16 clients")[4:] == ["3.5×", "ratio ≤ 4×", "met"]
    assert _row(table, "no oversell")[2:] == ["yes", "", "", "yes", "met"]
    assert _row(table, "with location names")[4:] == ["2×", "", ""]  # reported, no target
    # a failed bench says so instead of leaving a gap
    assert _row(table, "| soak | **failed**")[-1] == "not measured"
    # the server's RSS after each bench, and the machine at start and end
    assert _row(table, "| store_availability |") == ["store_availability", "101.2 MB", "61"]
    assert _row(table, "| soak |", last=True)[1:] == ["—", "120"]
    assert "2 cores" in table and "3.0 / 2.5 / 2.0 at the start, 4.2 / 3.0 / 2.1 at the end" in table
    assert "Targets met: 3 of 4; failed benches: soak." in table


def test_tails_only_judged_at_16_clients_and_rss_judged_after_the_first_round() -> None:
    # Given the tails bench at 16 clients, with RSS before, after round 1 and after round 2
    result = {
        "setup": {"clients": 16},
        "variants": {"after": {
            "orders_page": {"p50_ms": 50.0, "p99_ms": 250.0},
            "customer_360": {"p50_ms": 10.0, "p99_ms": 30.0},
            "rss_mb_by_round": [80.0, 120.0, 126.0],
        }},
    }
    run = bench_run("tails", 30.0, result)
    verdicts = {f.what: f.met for f in run.figures}
    assert verdicts == {"orders page p99 against its p50, 16 clients": False, "customer 360 p99 against its p50, 16 clients": True,
                        "RSS after the last round, against the first": True}
    assert run.rss_mb == 126.0
    # At 8 clients the same tails are reported but not judged
    quick = bench_run("capture_order", 5.0, {"clients": 8, "api": {"p50_ms": 10.0, "p99_ms": 90.0}})
    tail = next(f for f in quick.figures if "p99" in f.what)
    assert tail.ratio == 9.0 and tail.target is None and tail.met is None


def test_a_failed_run_keeps_its_figures_and_its_error() -> None:
    # A bench that wrote its result and then exited non-zero (capture_order on a broken invariant)
    capture = {"clients": 16, "api": {"orders_per_s": 45.0}, "baseline": {"orders_per_s": 50.0},
               "flash_sale": {"oversold": True}, "invariant_reserved_equals_open_allocations": True}
    run = bench_run("capture_order", 40.0, capture, "exit status 1")
    assert isinstance(run, BenchRun) and run.error == "exit status 1"
    assert next(f for f in run.figures if "oversell" in f.what).met is False
    table = render(MACHINE, [run])
    assert "**failed**: exit status 1" in table and "**not met**" in table


def test_the_flash_sale_with_two_workers_is_judged_against_one_worker_in_the_same_run() -> None:
    def side(rate: float, p50: float, p99: float, failed: int = 0) -> dict:
        return {"orders": 200, "orders_per_s": rate, "p50_ms": p50, "p99_ms": p99, "oversold": False, "failed_requests": failed,
                "invariant_reserved_equals_open_allocations": True, "during": {"oms_mongo_write_conflicts_total": 50.0}}

    result = {"clients": 16, "one_worker": side(100.0, 150.0, 360.0), "two_workers": side(110.0, 140.0, 420.0) | {"server_rss_mb": 300.0}}
    table = render(MACHINE, [bench_run("contention", 60.0, result)])
    assert _row(table, "orders/s, 16 clients")[2:] == ["110/s", "100/s", "1.1×", "ratio ≥ 1×", "met"]
    assert _row(table, "write conflicts per order")[2] == "0.25"
    assert _row(table, "no oversell")[-1] == "met"
    failed = render(MACHINE, [bench_run("contention", 60.0, result | {"two_workers": side(110.0, 140.0, 420.0, failed=3)})])
    assert _row(failed, "no oversell")[-1] == "**not met**"


def test_two_workers_are_judged_against_one_worker_of_the_same_run() -> None:
    # Given bench.workers' result: one server with 1 worker, one with 2, on the same database
    def server(rate: float, relay_streams: int) -> dict:
        figures = {f"{key}_{clients}_clients": {"orders_per_s": rate * clients} for key in ("stock_lookups", "orders_pages") for clients in (1, 16)}
        return figures | {
            "captures_1_clients": {"orders_per_s": rate}, "captures_16_clients": {"orders_per_s": rate * 8, "mongod_cpu_ms_per_order": 8.0 + relay_streams},
            "flash_sale_16_clients": {"orders_per_s": rate * 4, "oversold": False}, "invariant_reserved_equals_open_allocations": True,
            "change_streams": {"events": 1, "relay_state": relay_streams}, "change_streams_after": {"events": 1}, "server_rss_mb": 300.0,
        }

    run = bench_run("workers", 90.0, {"one_worker": server(10.0, 0), "two_workers": server(17.0, 0)})
    table = render(MACHINE, [run])

    # Then each 16-client throughput is 1.7× its 1-worker baseline (target ≥ 1.6×); 1 client is reported only
    assert _row(table, "stock lookups/s, 16 clients")[2:] == ["272/s", "160/s", "1.7×", "ratio ≥ 1.6×", "met"]
    assert _row(table, "orders pages/s, 1 client")[4:] == ["1.7×", "", ""]
    assert _row(table, "captures/s, 16 clients")[-1] == "met"
    assert _row(table, "mongod CPU per captured order")[2:5] == ["8 ms", "8 ms", "1×"]
    assert _row(table, "follows the relay")[-1] == "met"
    assert _row(table, "flash sale orders/s")[-1] == "met" and _row(table, "no oversell")[-1] == "met"
    assert run.rss_mb == 300.0
    # A worker following relay_state fails the guarantee, whenever it was seen
    following = bench_run("workers", 90.0, {"one_worker": server(10.0, 0), "two_workers": server(17.0, 1)})
    assert next(f for f in following.figures if "relay" in f.what).met is False
