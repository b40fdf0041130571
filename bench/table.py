"""The one table `make bench` writes: each figure beside the raw-driver baseline measured in the same
run, their ratio, the target (issue 17, docs in PRODUCT.md's "Targets") and whether it is met; then
the server's RSS after each bench and the machine it ran on. Pure functions of the benches' JSON
results, so the arithmetic is tested without running a bench (tests/test_bench_table.py)."""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

# A p99 no worse than 4× the p50 at 16 clients; RSS within 15% of where it settled.
TAIL_RATIO = 4.0
RSS_GROWTH = 1.15
# Throughput with 2 workers on 2 cores against one worker, at 16 clients.
WORKERS_SPEED_UP = 1.6


# Targets of issue 17 / PRODUCT.md that no bench of the set measures, named so the table is not
# read as covering them.
NOT_MEASURED = (
    "orders page ≥ 5× a mature peer's throughput: the peer (Saleor) is measured from outside, not here",
    "10,000 subscribers on one process: the set runs 200 and 5,000 (`subscriptions_many`); the full size is "
    "`python -m bench.subscriptions --subscribers 10000`",
)


@dataclass(frozen=True)
class Target:
    """What a figure must reach: `on` the value itself or its ratio to the baseline, at most or at
    least `limit`; or (`on="yes"`) a guarantee that holds or not."""

    on: str  # "value" | "ratio" | "yes"
    limit: float = 0.0
    at_most: bool = True
    unit: str = ""

    def met(self, value: float | bool | None, ratio: float | None) -> bool | None:
        """None when there is nothing to judge (the bench failed or gave no figure)."""
        if self.on == "yes":
            return None if value is None else bool(value)
        figure = ratio if self.on == "ratio" else value
        if figure is None or isinstance(figure, bool) or math.isnan(figure):
            return None
        return figure <= self.limit if self.at_most else figure >= self.limit

    def describe(self) -> str:
        if self.on == "yes":
            return "yes"
        sign = "≤" if self.at_most else "≥"
        if self.on == "ratio":
            return f"ratio {sign} {_number(self.limit)}×"
        return f"{sign} {_value(self.limit, self.unit)}"


def ratio_at_most(limit: float) -> Target:
    return Target("ratio", limit, at_most=True)


def ratio_at_least(limit: float) -> Target:
    return Target("ratio", limit, at_most=False)


def at_most(limit: float, unit: str = "") -> Target:
    return Target("value", limit, at_most=True, unit=unit)


HOLDS = Target("yes")


@dataclass(frozen=True)
class Figure:
    bench: str
    what: str
    value: float | bool | None
    unit: str = ""
    baseline: float | None = None
    target: Target | None = None

    @property
    def ratio(self) -> float | None:
        if not isinstance(self.value, (int, float)) or isinstance(self.value, bool) or not self.baseline:
            return None
        return self.value / self.baseline

    @property
    def met(self) -> bool | None:
        return None if self.target is None else self.target.met(self.value, self.ratio)


@dataclass
class BenchRun:
    """One bench of the set: its figures, the server's RSS after it, how long it took, and why it
    failed if it did (its figures are then missing, and the table says so)."""

    name: str
    seconds: float
    figures: list[Figure] = field(default_factory=list)
    rss_mb: float | None = None
    error: str | None = None


@dataclass
class Machine:
    cores: int
    load_start: Sequence[float]
    load_end: Sequence[float]
    started_at: str
    mode: str = "short"


def render(machine: Machine, runs: Sequence[BenchRun]) -> str:
    lines = [
        f"# Benchmarks: `make bench`, {machine.started_at}",
        "",
        f"Machine: {machine.cores} cores, mongod on the same machine; load average (1/5/15 min) "
        f"{_load(machine.load_start)} at the start, {_load(machine.load_end)} at the end. "
        f"{machine.mode.capitalize()} runs (each bench's own command has the long mode); "
        "the raw baseline is PyMongo doing the same database work, measured in the same run.",
        "",
        "| bench | figure | OMS | raw baseline | ratio | target | met |",
        "|---|---|---|---|---|---|---|",
    ]
    for run in runs:
        if run.error is not None:
            lines.append(f"| {run.name} | **failed**: {_cell(run.error)} | | | | | not measured |")
        for figure in run.figures:
            lines.append(
                f"| {figure.bench} | {figure.what} | {_value(figure.value, figure.unit)} | "
                f"{_value(figure.baseline, figure.unit) if figure.baseline is not None else ''} | "
                f"{_number(figure.ratio) + '×' if figure.ratio is not None else ''} | "
                f"{figure.target.describe() if figure.target else ''} | {_verdict(figure.met, figure.target)} |"
            )
    lines += ["", "Server RSS after each bench:", "", "| bench | RSS after | seconds |", "|---|---|---|"]
    for run in runs:
        rss = f"{run.rss_mb:.1f} MB" if run.rss_mb is not None else "—"
        lines.append(f"| {run.name} | {rss} | {run.seconds:.0f} |")
    lines += ["", "Not measured by this set:", "", *(f"- {text}" for text in NOT_MEASURED)]
    met = [f.met for run in runs for f in run.figures if f.target is not None]
    failed = [run.name for run in runs if run.error is not None]
    lines += [
        "",
        f"Targets met: {sum(m is True for m in met)} of {len(met)}"
        + (f"; failed benches: {', '.join(failed)}" if failed else "")
        + f". Total {sum(run.seconds for run in runs) / 60:.1f} min.",
    ]
    return "\n".join(lines) + "\n"


def _verdict(met: bool | None, target: Target | None) -> str:
    if target is None:
        return ""
    return {True: "met", False: "**not met**", None: "not measured"}[met]


def _load(values: Sequence[float]) -> str:
    return " / ".join(f"{v:.1f}" for v in values)


def _number(value: float | None) -> str:
    if value is None:
        return ""
    if isinstance(value, int) or abs(value) >= 100:
        return f"{value:,.0f}"
    text = f"{value:.1f}" if abs(value) >= 10 else f"{value:.2f}"
    return text.rstrip("0").rstrip(".") if "." in text else text


def _value(value: float | bool | None, unit: str) -> str:
    if value is None:
        return "—"
    if isinstance(value, bool):
        return "yes" if value else "no"
    return f"{_number(value)}{'' if not unit or unit.startswith('/') else ' '}{unit}"


def _cell(text: str) -> str:
    return " ".join(text.replace("|", "\\|").split())[:300]


# --- the figures each bench's JSON result gives -----------------------------------------------------


def _get(result: Mapping[str, Any], *path: str) -> Any:
    node: Any = result
    for key in path:
        if not isinstance(node, Mapping) or key not in node:
            return None
        node = node[key]
    return node


def _tail(bench: str, what: str, summary: Mapping[str, Any] | None, clients: int | None) -> Figure:
    """p99 against p50 of one run: the tails target applies at 16 clients."""
    p50, p99 = _get(summary or {}, "p50_ms"), _get(summary or {}, "p99_ms")
    return Figure(bench, f"{what + ' ' if what else ''}p99 against its p50, {clients} clients", p99, "ms", p50,
                  ratio_at_most(TAIL_RATIO) if clients == 16 else None)


def store_availability(result: Mapping[str, Any]) -> list[Figure]:
    name = "storeAvailability"
    return [
        Figure(name, "p50, 1 client", _get(result, "graphql_http", "p50_ms"), "ms",
               _get(result, "raw_geo_query", "p50_ms"), ratio_at_most(1.5)),
        Figure(name, "p50 with location names", _get(result, "graphql_http_with_location_names", "p50_ms"), "ms",
               _get(result, "raw_geo_query_plus_location_names", "p50_ms")),
        # The floor: the same query behind bare uvicorn + Starlette + JSON (bench/store_availability_floor.py).
        Figure(name, "p50 floor: same query, bare HTTP + JSON", _get(result, "floor_http_json", "p50_ms"), "ms",
               _get(result, "raw_geo_query", "p50_ms")),
        # Every operation on Strawberry's standard path (OMS_GRAPHQL_FAST_PATH off): what the fast
        # path for prepared operations saves (graphql_schema/fast_path.py).
        Figure(name, "p50 without the fast path for prepared operations",
               _get(result, "graphql_http_standard_path", "p50_ms"), "ms", _get(result, "raw_geo_query", "p50_ms")),
        # Load-independent: the server's own CPU per request, against the same server without the fast path.
        Figure(name, "server CPU per request, against the standard path", _get(result, "server_cpu_ms_per_request", "api"),
               "ms", _get(result, "server_cpu_ms_per_request", "api_standard")),
    ]


def orders_page(result: Mapping[str, Any]) -> list[Figure]:
    name = "orders page (100 × 30 fields)"
    return [
        Figure(name, "p95, 1 client", _get(result, "graphql_http", "p95_ms"), "ms",
               _get(result, "raw_pymongo_same_reads", "p95_ms"), at_most(60, "ms")),
        Figure(name, "p50, 1 client", _get(result, "graphql_http", "p50_ms"), "ms", _get(result, "raw_pymongo_same_reads", "p50_ms")),
    ]


def capture_order(result: Mapping[str, Any]) -> list[Figure]:
    name, clients = "captureOrder", result.get("clients")
    return [
        Figure(name, f"orders/s, {clients} clients", _get(result, "api", "orders_per_s"), "/s",
               _get(result, "baseline", "orders_per_s"), ratio_at_least(0.8)),
        _tail(name, "", result.get("api"), clients),
        Figure(name, "flash sale: no oversell, reserved = open allocations",
               _get(result, "flash_sale", "oversold") is False and bool(result.get("invariant_reserved_equals_open_allocations")),
               target=HOLDS),
    ]


def capture_costs(result: Mapping[str, Any]) -> list[Figure]:
    """What one capture costs, load-independent: the database commands it sends and this process's
    CPU per capture, against the raw baseline doing the same database work (bench/capture_costs.py)."""
    name = "captureOrder, per capture"
    return [
        Figure(name, "database commands (the API's includes its rate-limit charge)", _get(result, "round_trips_per_capture", "api"), "",
               _get(result, "round_trips_per_capture", "baseline"), ratio_at_most(1.1)),
        Figure(name, "CPU of its process, one client", _get(result, "cpu_ms_per_capture", "api"), "ms",
               _get(result, "cpu_ms_per_capture", "baseline")),
    ]


def returns(result: Mapping[str, Any]) -> list[Figure]:
    name, clients = "returns (request + receive + refund)", result.get("clients")
    return [
        Figure(name, f"round trips/s, {clients} clients", _get(result, "api", "round_trips_per_s"), "/s",
               _get(result, "baseline", "round_trips_per_s")),
        _tail(name, "", result.get("api"), clients),
        Figure(name, "double refund race: exactly one issued", bool(_get(result, "double_refund_race", "exactly_one_issued_each"))
               and _get(result, "double_refund_race", "refund_documents_per_return") == [1], target=HOLDS),
    ]


def cases(result: Mapping[str, Any]) -> list[Figure]:
    name, clients = "cases (open + 2 entries + claim)", result.get("clients")
    api = dict(result.get("api") or {})
    return [
        Figure(name, f"round trips/s, {clients} clients", api.get("round_trips_per_s"), "/s",
               _get(result, "baseline", "round_trips_per_s")),
        _tail(name, "", api, clients),
        Figure(name, "no case claimed twice", result.get("no_case_claimed_twice_in_event_log"), target=HOLDS),
    ]


def subscriptions(result: Mapping[str, Any]) -> list[Figure]:
    subscribers = result.get("subscribers")
    name = "subscriptions"
    idle, subscribed = _get(result, "server_rss_mb", "idle"), _get(result, "server_rss_mb", "subscribed")
    # The margin (first tenth → all, bench/subscriptions.py; none in a short run, too few to see):
    # from idle, the first subscriptions' one-off costs (imports, caches) read as per subscriber.
    per_subscriber = _get(result, "rss_per_subscriber_kb", "subscribed")
    if "rss_per_subscriber_kb" not in result:  # an older result
        per_subscriber = round((subscribed - idle) * 1024 / subscribers, 1) if idle and subscribed and subscribers else None
    return [
        Figure(name, f"event → client p99, {subscribers} subscribers", _get(result, "latency_ms", "p99"), "ms",
               target=at_most(250, "ms")),
        Figure(name, "event → client p50", _get(result, "latency_ms", "p50"), "ms"),
        Figure(name, "every delivery once, in order",
               result.get("deliveries_received") == result.get("deliveries_expected") and result.get("duplicates") == 0
               and result.get("subscribers_out_of_order") == 0, target=HOLDS),
        Figure(name, "RSS per subscriber", per_subscriber, "KB"),
        Figure(name, "server CPU per delivery", result.get("server_cpu_us_per_delivery"), "µs"),
    ]


def tails(result: Mapping[str, Any]) -> list[Figure]:
    after = _get(result, "variants", "after") or {}
    clients = _get(result, "setup", "clients")
    name = "tails"
    figures = [
        _tail(name, "orders page", after.get("orders_page"), clients),
        _tail(name, "customer 360", after.get("customer_360"), clients),
    ]
    by_round = after.get("rss_mb_by_round") or []
    if len(by_round) >= 3:  # [start, round 1, round 2, ...]: flat after the first round warmed it up
        figures.append(Figure(name, "RSS after the last round, against the first", by_round[-1], "MB", by_round[1], ratio_at_most(RSS_GROWTH)))
    return figures


def soak(result: Mapping[str, Any]) -> list[Figure]:
    minutes = result.get("minutes")
    return [
        Figure("soak (captures + subscribers)", f"RSS at the end, against after warm-up, {minutes:g} min",
               _get(result, "rss_mb", "end"), "MB", _get(result, "rss_mb", "reference"), ratio_at_most(RSS_GROWTH)),
        Figure("soak (captures + subscribers)", "captures failed", result.get("capture_errors"), "", target=at_most(0)),
        Figure("soak (captures + subscribers)", "reads failed (stock lookups, order pages, customer 360s)",
               result.get("read_errors"), "", target=at_most(0)),
    ]


def contention(result: Mapping[str, Any]) -> list[Figure]:
    name, clients = "flash sale, 2 workers against 1", result.get("clients")
    one, two = result.get("one_worker") or {}, result.get("two_workers") or {}
    return [
        Figure(name, f"orders/s, {clients} clients (baseline: 1 worker)", two.get("orders_per_s"), "/s",
               one.get("orders_per_s"), ratio_at_least(1.0)),
        Figure(name, "p99 (baseline: 1 worker)", two.get("p99_ms"), "ms", one.get("p99_ms")),
        _tail(name, "2 workers", two, clients),
        Figure(name, "2 workers: share of the requests on the busier worker (worst round)",
               round(two["busiest_worker_share"], 2) if two.get("busiest_worker_share") is not None else None),
        Figure(name, "write conflicts per order, 2 workers",
               round(two["during"]["oms_mongo_write_conflicts_total"] / two["orders"], 2) if two.get("orders") and two.get("during") else None),
        Figure(name, "no oversell, reserved = open allocations, no failed capture",
               bool(one and two) and not one.get("oversold") and not two.get("oversold")
               and bool(one.get("invariant_reserved_equals_open_allocations") and two.get("invariant_reserved_equals_open_allocations"))
               and one.get("failed_requests") == 0 and two.get("failed_requests") == 0, target=HOLDS),
    ]


def workers(result: Mapping[str, Any]) -> list[Figure]:
    """`oms serve --workers 2` against `--workers 1` in the same run: the baseline column is one worker."""
    name = "`--workers 2` (baseline: 1 worker)"
    one, two = result.get("one_worker") or {}, result.get("two_workers") or {}
    figures = []
    for key, what in (("stock_lookups", "stock lookups/s"), ("orders_pages", "orders pages/s"), ("captures", "captures/s")):
        for clients in (1, 16):
            found = f"{key}_{clients}_clients"
            figures.append(Figure(name, f"{what}, {clients} client{'s' if clients > 1 else ''}", _get(two, found, "orders_per_s"), "/s",
                                  _get(one, found, "orders_per_s"), ratio_at_least(WORKERS_SPEED_UP) if clients == 16 else None))
        # Where the second worker's speed-up went: the cores the machine, and the server, kept busy.
        for part in ("machine", "server"):
            figures.append(Figure(name, f"{what.removesuffix('/s')}, 16 clients: cores busy ({'the whole machine' if part == 'machine' else 'the server'})",
                                  _get(two, f"{key}_16_clients", "cores_used", part), "cores", _get(one, f"{key}_16_clients", "cores_used", part)))
    streams = [_get(two, "change_streams"), _get(two, "change_streams_after")]
    followed = None if None in streams else all(not found.get("relay_state") for found in streams)
    flash = "flash_sale_16_clients"
    return [
        *figures,
        Figure(name, "mongod CPU per captured order, 16 clients", _get(two, "captures_16_clients", "mongod_cpu_ms_per_order"), "ms",
               _get(one, "captures_16_clients", "mongod_cpu_ms_per_order")),
        Figure(name, "no worker follows the relay through MongoDB (0 change streams on relay_state)", followed, target=HOLDS),
        Figure(name, "flash sale orders/s, 16 clients", _get(two, flash, "orders_per_s"), "/s", _get(one, flash, "orders_per_s"),
               ratio_at_least(1.0)),
        Figure(name, "flash sale: no oversell, reserved = open allocations",
               _get(two, flash, "oversold") is False and bool(two.get("invariant_reserved_equals_open_allocations")) if two else None,
               target=HOLDS),
    ]


def _rss(*path: str) -> Callable[[Mapping[str, Any]], float | None]:
    return lambda result: _get(result, *path)


# name -> (the figures, the server's RSS after the bench)
EXTRACTORS: dict[str, tuple[Callable[[Mapping[str, Any]], list[Figure]], Callable[[Mapping[str, Any]], float | None]]] = {
    "store_availability": (store_availability, _rss("server_rss_mb", "after")),
    "orders_page": (orders_page, _rss("server_rss_mb")),
    "capture_order": (capture_order, _rss("server_rss_after_flash", "rss_mb")),
    "capture_costs": (capture_costs, lambda result: None),  # in-process: no server of its own
    "returns": (returns, _rss("server_rss_after_api", "rss_mb")),
    "cases": (cases, _rss("server_rss_after_api", "rss_mb")),
    "subscriptions": (subscriptions, _rss("server_rss_mb", "end")),
    "subscriptions_many": (subscriptions, _rss("server_rss_mb", "end")),
    "tails": (tails, lambda result: (_get(result, "variants", "after", "rss_mb_by_round") or [None])[-1]),
    "soak": (soak, _rss("rss_mb", "end")),
    "contention": (contention, _rss("two_workers", "server_rss_mb")),
    "workers": (workers, _rss("two_workers", "server_rss_mb")),
}


def bench_run(name: str, seconds: float, result: Mapping[str, Any] | None, error: str | None = None) -> BenchRun:
    if result is None:
        return BenchRun(name, seconds, error=error or "no result")
    figures, rss = EXTRACTORS[name]
    return BenchRun(name, seconds, figures(result), rss(result), error)
