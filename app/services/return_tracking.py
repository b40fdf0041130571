"""Carrier scans of return labels: the tracking webhook hands over the events whose tracking number
belongs to no shipment. A scan on the way moves a MAIL return to IN_TRANSIT, the delivery scan to
RECEIVED (at the dock: what arrived per line is recorded by receiveReturn; after the webhook
commits, the receipt hook places a pending exchange). Scans are kept on the
return, each once (by carrier event id); the status only moves forward, so duplicates and any
arrival order give the same result."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from app.domain.errors import Conflict
from app.domain.events import Actor, DomainEvent
from app.domain.principals import SYSTEM
from app.domain.returns import AWAITING_GOODS, Return, ReturnStatus, bump, return_event, status_changed, with_status
from app.domain.shipments import TrackingEvent, TrackingEventKind
from app.repositories.database import Session
from app.repositories.returns import ReturnRepository
from app.services.return_receiving import ReturnReceiving

_ON_THE_WAY = frozenset({TrackingEventKind.PICKED_UP, TrackingEventKind.IN_TRANSIT, TrackingEventKind.OUT_FOR_DELIVERY, TrackingEventKind.EXCEPTION})


@dataclass(frozen=True, slots=True)
class ReturnScan:
    outcome: str  # APPLIED | DUPLICATE
    status: str
    arrived_return_id: str | None = None  # this scan moved the return to RECEIVED


def tracked_return_status(ret: Return) -> ReturnStatus:
    """Where the scans say a return awaiting its goods stands; anything else keeps its status."""
    if ret.status not in AWAITING_GOODS:
        return ret.status
    kinds = {event.kind for event in ret.tracking}
    if TrackingEventKind.DELIVERED in kinds:
        return ReturnStatus.RECEIVED
    if kinds & _ON_THE_WAY:
        return ReturnStatus.IN_TRANSIT
    return ret.status


class ReturnTracking:
    def __init__(self, *, returns: ReturnRepository, receiving: ReturnReceiving | None = None):
        self._returns = returns
        self._receiving = receiving

    async def after_commit(self, arrived_return_ids: list[str]) -> None:
        """After the webhook's transaction committed: returns the dock received go through the same
        hook as every receipt (a pending exchange is placed; repeating it is harmless)."""
        if self._receiving is None:
            return
        for return_id in arrived_return_ids:
            await self._receiving.arrived(SYSTEM, return_id)

    async def apply(
        self, session: Session, tracking_number: str, event: TrackingEvent, actor: Actor, now: datetime, events: list[DomainEvent]
    ) -> ReturnScan | None:
        """None when no return has this tracking number. Appends its events to `events`."""
        updated = await self._returns.add_tracking_event(tracking_number, event, session=session)
        if updated is None:
            known = await self._returns.by_tracking_number(tracking_number, session=session)
            return ReturnScan("DUPLICATE", known.status.value) if known else None
        events.append(
            return_event(
                updated, "ReturnTrackingEventReceived", actor, now,
                {"carrierEventId": event.id, "kind": event.kind.value, "occurredAt": event.occurred_at.isoformat(),
                 "trackingNumber": tracking_number, "location": event.location, "description": event.description},
            )
        )
        target = tracked_return_status(updated)
        if target is updated.status:
            return ReturnScan("APPLIED", updated.status.value)
        after = updated
        if target is ReturnStatus.RECEIVED and updated.status is ReturnStatus.AUTHORIZED:
            # The delivery scan came first (or alone): the parcel was on its way all the same.
            after = with_status(after, ReturnStatus.IN_TRANSIT, now)
            events.append(status_changed(updated, after, actor, now, details={"trackingNumber": tracking_number}))
        final = with_status(after, target, now)
        events.append(status_changed(after, final, actor, now, details={"trackingNumber": tracking_number}))
        final = bump(final, now)
        if not await self._returns.replace(final, expected_version=updated.version, session=session):
            raise Conflict(f"return {updated.number} changed concurrently; the carrier may retry")
        return ReturnScan("APPLIED", final.status.value, arrived_return_id=final.id if final.status is ReturnStatus.RECEIVED else None)
