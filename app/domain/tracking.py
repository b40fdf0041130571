"""Carrier tracking: a shipment's status and ETA are a function of the set of events received.

Folding the whole set (sorted by when things happened) makes duplicates and out-of-order arrival
harmless: the same set gives the same answer whatever order it arrived in, and a larger set never
has less progress than a smaller one, so status never moves backwards.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime

from app.domain.carriers import add_business_days
from app.domain.shipments import ShipmentStatus, TrackingEvent, TrackingEventKind

TARGET = {
    TrackingEventKind.LABEL_CREATED: ShipmentStatus.SHIPPED,
    TrackingEventKind.PICKED_UP: ShipmentStatus.IN_TRANSIT,
    TrackingEventKind.IN_TRANSIT: ShipmentStatus.IN_TRANSIT,
    TrackingEventKind.OUT_FOR_DELIVERY: ShipmentStatus.OUT_FOR_DELIVERY,
    TrackingEventKind.DELIVERED: ShipmentStatus.DELIVERED,
    TrackingEventKind.EXCEPTION: ShipmentStatus.EXCEPTION,
}
PROGRESS = {
    ShipmentStatus.SHIPPED: 0,
    ShipmentStatus.IN_TRANSIT: 1,
    ShipmentStatus.OUT_FOR_DELIVERY: 2,
    ShipmentStatus.DELIVERED: 3,
}
MAX_EVENTS_PER_SHIPMENT = 500


def _order(event: TrackingEvent) -> tuple[datetime, int, str]:
    target = TARGET[event.kind]
    return event.occurred_at, PROGRESS.get(target, 1), event.id


def tracked_status(events: Iterable[TrackingEvent]) -> tuple[ShipmentStatus, datetime | None]:
    """Status after handover to the carrier, and when it was reached."""
    progress = ShipmentStatus.SHIPPED
    status = ShipmentStatus.SHIPPED
    at: datetime | None = None
    for event in sorted(events, key=_order):
        if status is ShipmentStatus.DELIVERED:
            break  # delivered is final: a late scan cannot undo it
        target = TARGET[event.kind]
        if target is ShipmentStatus.EXCEPTION:
            status, at = ShipmentStatus.EXCEPTION, event.occurred_at
        elif PROGRESS[target] > PROGRESS[progress]:
            progress = status = target
            at = event.occurred_at
        elif status is ShipmentStatus.EXCEPTION and PROGRESS[target] == PROGRESS[progress]:
            status, at = progress, event.occurred_at  # recovered at the same stage
    return status, at


def tracked_eta(label_eta: date | None, events: Iterable[TrackingEvent], status: ShipmentStatus) -> date | None:
    """Delivered: the delivery day. Else the newest carrier estimate, else the label's. An exception
    with no newer estimate pushes the ETA at least one business day past the exception."""
    ordered = sorted(events, key=_order)
    if status is ShipmentStatus.DELIVERED:
        delivered = [e for e in ordered if e.kind is TrackingEventKind.DELIVERED]
        return delivered[0].occurred_at.date() if delivered else label_eta
    eta = label_eta
    estimated_at: datetime | None = None
    for event in ordered:
        if event.estimated_delivery is not None:
            eta, estimated_at = event.estimated_delivery, event.occurred_at
    if status is ShipmentStatus.EXCEPTION:
        exception = [e for e in ordered if e.kind is TrackingEventKind.EXCEPTION][-1]
        if estimated_at is None or estimated_at < exception.occurred_at:
            floor = add_business_days(exception.occurred_at.date(), 1)
            eta = max(eta, floor) if eta else floor
    return eta
