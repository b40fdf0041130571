"""Hand-made networks for routing tests. Locations sit on the meridian north of the destination
(0, 0), so a location `at_km(d)` is exactly d km away and right answers can be worked out by hand."""

from __future__ import annotations

import dataclasses
import math

from app.domain.geo import EARTH_RADIUS_KM, GeoPoint
from app.domain.locations import Address, Capabilities, Location, LocationKind
from app.domain.orders import DeliveryMethod
from app.domain.routing.plan import RoutingLine, RoutingRequest, StockAtLocation
from app.domain.routing.policy import CriterionWeight, RoutingCriterion, RoutingPolicy

KM_PER_DEGREE = 2 * math.pi * EARTH_RADIUS_KM / 360
DESTINATION = GeoPoint(0.0, 0.0)


def at_km(km: float) -> GeoPoint:
    return GeoPoint(lat=km / KM_PER_DEGREE, lng=0.0)


def loc(
    id: str,  # noqa: A002
    km: float,
    kind: LocationKind | None = None,
    *,
    ships: bool = True,
    pickup: bool | None = None,
    handling: int = 0,
    priority: int = 0,
    active: bool = True,
) -> Location:
    kind = kind or (LocationKind.STORE if id.startswith("ST") else LocationKind.DISTRIBUTION_CENTER)
    return Location(
        id=id,
        name=f"Location {id}",
        kind=kind,
        address=Address(line1="1 Main St", city="Testville", postal_code="00000"),
        point=at_km(km),
        capabilities=Capabilities(ships=ships, offers_pickup=(kind is LocationKind.STORE) if pickup is None else pickup),
        handling_cost_cents=handling,
        priority=priority,
        active=active,
    )


def moved(location: Location, km: float) -> Location:
    return dataclasses.replace(location, point=at_km(km))


def stock(location_id: str, **available: int) -> list[StockAtLocation]:
    """stock("DC", A=5, B=2) → available units per SKU (reorder point 0)."""
    return [StockAtLocation(sku=sku, location_id=location_id, available=n, on_hand=n) for sku, n in available.items()]


def ship(*lines: tuple[str, int] | tuple[str, int, int], channel: str = "web", exclude: frozenset[str] = frozenset()) -> RoutingRequest:
    """ship(("A", 2), ("B", 1, 750)) → lines "1", "2", ... of (sku, quantity[, grams per unit])."""
    return RoutingRequest(
        lines=tuple(
            RoutingLine(line_id=str(n), sku=line[0], quantity=line[1], weight_grams=line[2] if len(line) > 2 else 0)  # type: ignore[misc]
            for n, line in enumerate(lines, start=1)
        ),
        delivery_method=DeliveryMethod.SHIP,
        channel_id=channel,
        destination=DESTINATION,
        excluded_location_ids=exclude,
    )


def pickup_at(store_id: str, *lines: tuple[str, int]) -> RoutingRequest:
    return RoutingRequest(
        lines=tuple(RoutingLine(line_id=str(n), sku=sku, quantity=q) for n, (sku, q) in enumerate(lines, start=1)),
        delivery_method=DeliveryMethod.PICKUP_IN_STORE,
        channel_id="web",
        pickup_location_id=store_id,
    )


def policy(*weights: tuple[RoutingCriterion, float], **kw: object) -> RoutingPolicy:
    criteria = tuple(CriterionWeight(c, w) for c, w in weights) or RoutingPolicy().criteria
    return RoutingPolicy(criteria=criteria, **kw)  # type: ignore[arg-type]


def placed(plan: object) -> dict[tuple[str, str], int]:
    """{(line_id, location_id): quantity}."""
    return {(a.line_id, a.location_id): a.quantity for a in plan.allocations}  # type: ignore[attr-defined]


def candidate(plan: object, location_id: str):  # type: ignore[no-untyped-def]
    return next(c for c in plan.explanation.candidates if c.location_id == location_id)  # type: ignore[attr-defined]
