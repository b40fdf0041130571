"""The rehearsal's verdicts (bench/scaling_rehearsal.py), without running a cluster: a subscriber
passes only with exactly the log's events after its cursor, once each and in order, and a lost
acknowledged order or an oversold SKU fails the run."""

from __future__ import annotations

from typing import Any

from app.domain.events import EventFilter
from bench.scaling_rehearsal import STOCK_OF_SKU, Subscriber, delivery_report, failures


def _subscriber(received: list[int], expected: list[int]) -> Subscriber:
    subscriber = Subscriber(api=None, query=STOCK_OF_SKU, variables={}, selection=EventFilter())  # type: ignore[arg-type]
    subscriber.seqs = received
    subscriber.expected = expected
    subscriber.arrivals = [(f"e{seq}", 100.0, 100.05) for seq in received]
    return subscriber


def _report(subscribers: list[Subscriber], *, lost: list[str] | None = None, oversold: bool = False) -> dict[str, Any]:
    return {
        "subscriptions": delivery_report(subscribers, {f"e{seq}": 100.04 for s in subscribers for seq in s.seqs}),
        "no_oversell": {"oversold": oversold, "reserved_equals_open_allocations": True, "levels_with_on_hand_below_reserved_plus_safety": 0},
        "nothing_acknowledged_lost": {"lost": lost or []},
    }


def test_exact_deliveries_pass_and_latencies_come_from_commit_and_event_time() -> None:
    report = _report([_subscriber([3, 5, 8], [3, 5, 8]), _subscriber([], [])])
    assert failures(report) == []
    subs = report["subscriptions"]
    assert (subs["subscribers_exact"], subs["duplicates"], subs["missing"], subs["out_of_order"]) == (2, 0, 0, 0)
    assert subs["commit_to_client_ms"]["p50"] == 10.0
    assert subs["event_at_to_client_ms"]["p50"] == 50.0


def test_a_duplicate_a_gap_or_a_reordering_fails() -> None:
    for received in ([3, 5, 5, 8], [3, 8], [5, 3, 8]):
        report = _report([_subscriber(received, [3, 5, 8])])
        assert failures(report) == ["every subscriber every event once, in order"], received


def test_a_lost_order_or_an_oversold_sku_fails() -> None:
    exact = [_subscriber([1], [1])]
    assert failures(_report(exact, lost=["FLASH-3"])) == ["nothing acknowledged lost"]
    assert failures(_report(exact, oversold=True)) == ["no oversell"]
