"""Scheduled delivery: when an order asked for a later date must be released for fulfilment."""

from __future__ import annotations

import math
from datetime import date, datetime, time, timedelta, timezone

from app.domain.geo import GeoPoint, distance_km

# Days a location needs to pick and pack before handing to a carrier.
HANDLING_DAYS = 1
# Ground transit: about this far per day, at least one day; a pick-up needs no transit.
KM_PER_TRANSIT_DAY = 800.0
# When nothing is allocated yet (all backordered), plan for the longest ground transit.
UNKNOWN_TRANSIT_DAYS = 5


def transit_days(origin: GeoPoint | None, destination: GeoPoint | None, *, pickup: bool) -> int:
    if pickup:
        return 0
    if origin is None or destination is None:
        return UNKNOWN_TRANSIT_DAYS
    return max(1, math.ceil(distance_km(origin, destination) / KM_PER_TRANSIT_DAY))


def release_time(requested: date, transit: int, *, handling: int = HANDLING_DAYS) -> datetime:
    """Start of the day fulfilment must start (UTC) so the goods arrive on `requested`."""
    return datetime.combine(requested - timedelta(days=transit + handling), time.min, tzinfo=timezone.utc)


def release_at(requested: date | None, transit: int, now: datetime) -> datetime | None:
    """The release time when it is still ahead; None when the order should go to fulfilment now."""
    if requested is None:
        return None
    moment = release_time(requested, transit)
    return moment if moment > now else None
