"""Great-circle geometry on plain floats."""

from __future__ import annotations

import math
from dataclasses import dataclass

EARTH_RADIUS_KM = 6371.0088


@dataclass(frozen=True, slots=True)
class GeoPoint:
    lat: float
    lng: float

    def is_valid(self) -> bool:
        return -90.0 <= self.lat <= 90.0 and -180.0 <= self.lng <= 180.0


def distance_km(a: GeoPoint, b: GeoPoint) -> float:
    """Haversine distance."""
    lat1, lat2 = math.radians(a.lat), math.radians(b.lat)
    dlat = lat2 - lat1
    dlng = math.radians(b.lng - a.lng)
    h = math.sin(dlat / 2) ** 2 + math.cos(lat1) * math.cos(lat2) * math.sin(dlng / 2) ** 2
    return 2 * EARTH_RADIUS_KM * math.asin(min(1.0, math.sqrt(h)))
