"""Prometheus metrics: every instrument the OMS records, in one place (docs/OPERATIONS.md, "Metrics").

Beside the layers like app/logs.py: any layer may record, nothing here imports the OMS. The hot path
only increments counters and observes histograms; children with fixed labels are bound once here,
and anything that needs a walk (RSS, the deepest subscriber feed) is sampled by `Sampler`, never per
request.

Multi-process: when PROMETHEUS_MULTIPROC_DIR names a directory (empty at start, shared by the
workers of one instance) prometheus-client keeps every value in memory-mapped files there and
`exposition()` merges all live workers' files, so any worker answers a scrape for the whole
instance. Gauges then say how workers combine (`multiprocess_mode`); single-process ignores it.
"""

from __future__ import annotations

import gc
import os
import time
from collections.abc import Callable
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client import REGISTRY, disable_created_metrics, multiprocess

# No `_created` series beside every counter and histogram: they double the scrape and no rule here uses them.
disable_created_metrics()

MULTIPROCESS = bool(os.environ.get("PROMETHEUS_MULTIPROC_DIR"))

# Operation names come from clients: past this many distinct names a process reports the rest as
# OTHER_OPERATION, so a client inventing names cannot grow the scrape without bound.
MAX_OPERATION_NAMES = 200
OTHER_OPERATION = "_other"
UNNAMED_OPERATION = "_unnamed"

# Seconds: a read is ~1-10 ms, a capture ~5-50 ms, anything past a second is an incident.
_LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
_LAG_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)
_GC_BUCKETS = (0.0001, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0)

# --- requests ----------------------------------------------------------------------------------
GRAPHQL_OPERATIONS = Counter(
    "oms_graphql_operations_total",
    "GraphQL operations by transport (http, ws), type, operation name and outcome code (OK, or the first error's code).",
    ["transport", "type", "operation", "code"],
)
GRAPHQL_DURATION = Histogram(
    "oms_graphql_operation_duration_seconds",
    "Time to answer a query or mutation (subscriptions are counted, not timed: they last as long as the client stays).",
    ["transport", "type", "operation"],
    buckets=_LATENCY_BUCKETS,
)
GRAPHQL_COST = Counter(
    "oms_graphql_cost_total",
    "Static query cost spent (graphql_schema/cost.py) by operation type and name: what the rate budgets drain.",
    ["type", "operation"],
)
RATE_LIMIT_REFUSALS = Counter(
    "oms_rate_limit_refusals_total",
    "Operations refused with RATE_LIMITED (the client's budget was spent), by transport.",
    ["transport"],
)
HTTP_REQUESTS = Counter(
    "oms_http_requests_total",
    "HTTP requests by handler (the path's first segment) and status code.",
    ["handler", "status"],
)
HTTP_DURATION = Histogram(
    "oms_http_request_duration_seconds",
    "HTTP request duration by handler (the path's first segment).",
    ["handler"],
    buckets=_LATENCY_BUCKETS,
)

# --- WebSocket and subscriptions ---------------------------------------------------------------
WEBSOCKET_CONNECTIONS = Gauge(
    "oms_websocket_connections", "Open WebSocket connections.", multiprocess_mode="livesum"
)
SUBSCRIPTIONS = Gauge(
    "oms_subscriptions", "Active subscriptions by root field.", ["field"], multiprocess_mode="livesum"
)
EVENTS_STAMPED = Counter("oms_events_stamped_total", "Events given their seq by this process's sequencer.")
EVENTS_DISPATCHED = Counter(
    "oms_events_dispatched_total", "Events this process's hub took off the event log's broadcast, in seq order."
)
EVENTS_DELIVERED = Counter(
    "oms_events_delivered_total", "Events handed to subscribers (one per subscriber an event reached; replays included)."
)
EVENTS_DROPPED = Counter(
    "oms_events_dropped_total",
    "Events not handed on: `slow_subscriber` (buffered for, or offered to, a subscriber cut off with "
    "SUBSCRIBER_TOO_SLOW: it resumes from the log), `malformed` (an envelope that did not decode), "
    "`missing` (a gap the log no longer holds: expired).",
    ["reason"],
)
_DROPPED_SLOW = EVENTS_DROPPED.labels("slow_subscriber")
_DROPPED_MALFORMED = EVENTS_DROPPED.labels("malformed")
_DROPPED_MISSING = EVENTS_DROPPED.labels("missing")
SUBSCRIBER_LAG = Histogram(
    "oms_subscriber_lag_seconds",
    "From an event's time (when its write began) to its hand-off to a live subscriber: sequencing plus fan-out.",
    buckets=_LAG_BUCKETS,
)
SUBSCRIBER_BACKLOG = Gauge(
    "oms_subscriber_backlog_events",
    "Events waiting in the fullest subscriber feed of the process (sampled; a feed holds OMS_SUBSCRIBER_QUEUE at most).",
    multiprocess_mode="livemax",
)
HUB_POSITION = Gauge(
    "oms_event_hub_seq", "The seq of the last event this process's hub dispatched.", multiprocess_mode="livemin"
)
STAMPED_SEQ = Gauge(
    "oms_event_log_seq", "The last seq this process's sequencer stamped (leader only).", multiprocess_mode="max"
)

# --- sequencer ---------------------------------------------------------------------------------
SEQUENCER_LEADER = Gauge(
    "oms_sequencer_leader", "1 while this process leads the sequencer, else 0.", multiprocess_mode="livesum"
)
SEQUENCER_LEADERSHIPS = Counter(
    "oms_sequencer_leaderships_total", "Times this process became the sequencer's leader."
)
SEQUENCER_TAKEOVERS = Counter(
    "oms_sequencer_takeovers_total",
    "Leaderships taken over from a leader that vanished without releasing its lease (its session was ended).",
)

# --- MongoDB transactions ----------------------------------------------------------------------
TRANSACTIONS = Counter("oms_mongo_transactions_total", "Transactions started through the transaction helper.")
TRANSACTION_RETRIES = Counter(
    "oms_mongo_transaction_retries_total",
    "Transaction bodies run again by the transaction helper after a transient error (a write conflict, a failover).",
)
TRANSACTION_CONFLICTS = Counter(
    "oms_mongo_write_conflicts_total", "WriteConflict errors met inside transactions (each one is retried)."
)
CONTENTION_WAITS = Counter(
    "oms_contention_waits_total",
    "Writers that queued in-process behind another writer of the same SKU (app/services/contention.py) "
    "instead of colliding in MongoDB.",
)
CONTENTION_WAIT = Histogram(
    "oms_contention_wait_seconds",
    "Time writers spent queued in-process behind other writers of the same SKUs (app/services/contention.py).",
    buckets=_LATENCY_BUCKETS,
)
CAPTURE_ATTEMPTS = Histogram(
    "oms_capture_transaction_attempts",
    "Transactions one capture ran before it committed: 1, or more after write conflicts with another process.",
    buckets=(1, 2, 3, 4, 6, 8, 12, 16, 24, 32, 64),
)
CAPTURE_TRANSACTION = Histogram(
    "oms_capture_transaction_seconds",
    "From a capture's first transaction to its commit, every conflicting attempt and pause included.",
    buckets=_LATENCY_BUCKETS,
)
CAPTURE_RETRIES = Counter(
    "oms_capture_retries_total",
    "Whole-capture retries after a race the transaction helper does not retry (stock moved, an external "
    "id or customer key taken concurrently).",
)

# --- jobs and business outcomes ----------------------------------------------------------------
SCHEDULER_RELEASES = Counter(
    "oms_scheduler_releases_total",
    "What the scheduler did: `scheduled_order` released for fulfilment, `backorder` lines filled, "
    "`refund` left PENDING completed.",
    ["kind"],
)
SCHEDULER_FAILURES = Counter("oms_scheduler_tick_failures_total", "Scheduler ticks that failed (retried next tick).")
CAPTURES = Counter(
    "oms_order_captures_total",
    "captureOrder outcomes: `captured`, `replayed` (same input again), `refused` (with the error code).",
    ["outcome", "code"],
)
_CAPTURED = CAPTURES.labels("captured", "")
_REPLAYED = CAPTURES.labels("replayed", "")

# --- process -----------------------------------------------------------------------------------
RSS = Gauge(
    "oms_process_resident_memory_bytes", "Resident memory of the process (sampled).", multiprocess_mode="liveall"
)
GC_PAUSES = Histogram(
    "oms_gc_pause_seconds", "Garbage-collector pauses by generation (gc.callbacks).", ["generation"], buckets=_GC_BUCKETS
)
_GC_BY_GENERATION = tuple(GC_PAUSES.labels(str(generation)) for generation in range(3))


def record_operation(
    transport: str, op_type: str | None, operation: str | None, code: str | None, cost: int | None, seconds: float
) -> None:
    """One GraphQL operation, when it ends (app/access_log.py)."""
    key = (transport, op_type or "none", _operation_label(operation), code or "OK")
    series = _operation_series.get(key)
    if series is None:
        series = _operation_series[key] = _bind_operation(*key)
    count, duration, cost_spent = series
    count.inc()
    if duration is not None:
        duration.observe(seconds)
    if cost:
        cost_spent.inc(cost)
    if code == "RATE_LIMITED":
        RATE_LIMIT_REFUSALS.labels(transport).inc()


def record_http(path: str, status: int, seconds: float) -> None:
    key = (_handler_label(path), status)
    series = _http_series.get(key)
    if series is None:
        series = _http_series[key] = (HTTP_REQUESTS.labels(key[0], str(status)), HTTP_DURATION.labels(key[0]))
    series[0].inc()
    series[1].observe(seconds)


# Label children by their label values: `labels()` checks and converts its arguments under a lock on
# every call, several times the cost of the increment itself. Bounded like the labels they hold.
_operation_series: dict[tuple[str, str, str, str], tuple[Any, Any, Any]] = {}
_http_series: dict[tuple[str, int], tuple[Any, Any]] = {}


def _bind_operation(transport: str, kind: str, name: str, code: str) -> tuple[Any, Any, Any]:
    duration = None if kind == "subscription" else GRAPHQL_DURATION.labels(transport, kind, name)
    return GRAPHQL_OPERATIONS.labels(transport, kind, name, code), duration, GRAPHQL_COST.labels(kind, name)


_operation_names: set[str] = set()


def _operation_label(operation: str | None) -> str:
    if not operation:
        return UNNAMED_OPERATION
    if operation in _operation_names:
        return operation
    if len(_operation_names) >= MAX_OPERATION_NAMES or len(operation) > 100:
        return OTHER_OPERATION
    _operation_names.add(operation)
    return operation


_HANDLERS = frozenset({"graphql", "metrics", "livez", "healthz", "readyz", "documents", "webhooks", "imports", "dashboard"})


def _handler_label(path: str) -> str:
    first = path.split("/", 2)[1] if path.startswith("/") else ""
    return f"/{first}" if first in _HANDLERS else "other"


def capture_outcome(*, replayed: bool | None, code: str | None = None) -> None:
    if code is not None:
        CAPTURES.labels("refused", code).inc()
    elif replayed:
        _REPLAYED.inc()
    else:
        _CAPTURED.inc()


def events_dropped_slow(count: int = 1) -> None:
    _DROPPED_SLOW.inc(count)


def events_dropped_malformed() -> None:
    _DROPPED_MALFORMED.inc()


def events_missing(count: int) -> None:
    if count > 0:
        _DROPPED_MISSING.inc(count)


def observe_lag(event_at: Any) -> None:
    """`event_at`: the event's aware datetime."""
    SUBSCRIBER_LAG.observe(max(0.0, time.time() - event_at.timestamp()))


# --- sampled gauges and the GC callback --------------------------------------------------------

_PAGE_SIZE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096


def resident_memory_bytes() -> int | None:
    """From /proc (Linux); None where there is none."""
    try:
        with open("/proc/self/statm", "rb") as statm:
            return int(statm.read().split()[1]) * _PAGE_SIZE
    except (OSError, ValueError, IndexError):
        return None


class Sampler:
    """Values that need a walk or a system call, refreshed every `interval` seconds by the app's
    lifespan and before each scrape this process answers."""

    SECONDS = 5.0

    def __init__(self) -> None:
        self._sources: list[Callable[[], None]] = []

    def add(self, source: Callable[[], None]) -> None:
        self._sources.append(source)

    def sample(self) -> None:
        rss = resident_memory_bytes()
        if rss is not None:
            RSS.set(rss)
        for source in self._sources:
            source()


_gc_started = 0.0


def _on_gc(phase: str, info: dict[str, int]) -> None:
    global _gc_started  # noqa: PLW0603 - one collector per process
    if phase == "start":
        _gc_started = time.perf_counter()
    elif _gc_started:
        _GC_BY_GENERATION[info.get("generation", 2)].observe(time.perf_counter() - _gc_started)
        _gc_started = 0.0


def watch_gc() -> None:
    """Times every collection (idempotent). A pause is the time between the callbacks' start and stop."""
    if _on_gc not in gc.callbacks:
        gc.callbacks.append(_on_gc)


def exposition() -> tuple[bytes, str]:
    """The scrape: this process's registry, or every live worker's when multi-process."""
    if MULTIPROCESS:
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
        return generate_latest(registry), CONTENT_TYPE_LATEST
    return generate_latest(REGISTRY), CONTENT_TYPE_LATEST


def process_exiting() -> None:
    """Drops this worker's live gauges from the shared directory, so a stopped worker stops counting."""
    if MULTIPROCESS:
        multiprocess.mark_process_dead(os.getpid())  # type: ignore[no-untyped-call]


def registered_names() -> list[str]:
    """Every `oms_` metric family registered in this process, wherever it was defined (the docs
    test checks each is documented)."""
    return sorted(
        family.name + ("_total" if family.type == "counter" else "")
        for family in REGISTRY.collect()
        if family.name.startswith("oms_")
    )
