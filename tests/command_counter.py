"""Counts the reads MongoDB receives while recording, per command and collection: N+1 tests compare
the counts for few and many rows."""

from __future__ import annotations

from collections import Counter

from pymongo import monitoring

# Read by the app's own background work (event relay, hub, dashboard, instance watch, the webhook
# and replenishment workers, the scheduler's case SLA scan), never by a query under test.
BACKGROUND = frozenset({"events", "leases", "relay_state", "instances", "webhook_endpoints", "webhook_deliveries", "reorder_crossings"})


class CommandCounter(monitoring.CommandListener):
    def __init__(self) -> None:
        self.counts: Counter[str] = Counter()
        self.recording = False

    def started(self, event: monitoring.CommandStartedEvent) -> None:
        if not self.recording or event.command_name not in {"find", "aggregate", "getMore", "count"}:
            return
        # getMore names its cursor; the collection is a separate field.
        field = "collection" if event.command_name == "getMore" else event.command_name
        collection = event.command.get(field)
        if collection not in BACKGROUND:
            self.counts[f"{event.command_name}:{collection}"] += 1

    def succeeded(self, event: monitoring.CommandSucceededEvent) -> None:
        pass

    def failed(self, event: monitoring.CommandFailedEvent) -> None:
        pass
