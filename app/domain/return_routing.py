"""Where a MAIL return goes: the channel's returns centre by policy, else the nearest active location
that accepts returns. Pure: the service hands in the locations and the point the parcel leaves from,
and stores the explanation on the return, as order routing stores its own."""

from __future__ import annotations

from app.domain.geo import GeoPoint, distance_km
from app.domain.locations import Location
from app.domain.returns import ReturnNotAccepted, ReturnPolicy, ReturnRouting, ReturnRoutingRule, RoutingCandidate

MAX_LISTED = 10  # candidates kept in the explanation, the chosen one always among them


def _why_not(location: Location) -> str | None:
    if not location.active:
        return "INACTIVE"
    if not location.capabilities.accepts_returns:
        return "NO_RETURNS"
    return None


def choose_return_location(
    origin: GeoPoint,
    locations: list[Location],
    policy: ReturnPolicy,
    *,
    channel_id: str,
    origin_note: str = "the shopper's address",
) -> ReturnRouting:
    """`locations`: the candidates (active locations that accept returns) plus the policy's returns centre,
    whatever its state, so the explanation can say why it was passed over. ReturnNotAccepted when none fits."""
    distances = {loc.id: distance_km(origin, loc.point) for loc in locations}
    eligible = sorted((loc for loc in locations if _why_not(loc) is None), key=lambda loc: (distances[loc.id], -loc.priority, loc.id))
    centre_id = policy.returns_centre_location_id
    centre = next((loc for loc in locations if loc.id == centre_id), None) if centre_id else None
    centre_problem = None
    if centre_id:
        centre_problem = "UNKNOWN" if centre is None else _why_not(centre)
    if centre is not None and centre_problem is None:
        chosen, rule = centre, ReturnRoutingRule.RETURNS_CENTRE
        summary = (
            f"{channel_id} sends its returns to its returns centre {centre.id} ({centre.name}), "
            f"{distances[centre.id]:.0f} km from {origin_note}."
        )
    elif eligible:
        chosen, rule = eligible[0], ReturnRoutingRule.NEAREST_RETURN_LOCATION
        summary = (
            f"{chosen.id} ({chosen.name}) is the nearest active location that accepts returns, "
            f"{distances[chosen.id]:.0f} km from {origin_note}."
        )
        if centre_id:
            reason = {"UNKNOWN": "does not exist", "INACTIVE": "is inactive", "NO_RETURNS": "does not accept returns"}[centre_problem or "UNKNOWN"]
            summary = f"The returns centre {centre_id} {reason}; " + summary[0].lower() + summary[1:]
    else:
        raise ReturnNotAccepted("no active location accepts returns", field=("method",))
    candidates = [RoutingCandidate(loc.id, round(distances[loc.id], 1), "CHOSEN" if loc.id == chosen.id else "FARTHER") for loc in eligible]
    if rule is ReturnRoutingRule.RETURNS_CENTRE:
        candidates = [RoutingCandidate(chosen.id, round(distances[chosen.id], 1), "CHOSEN")] + [
            RoutingCandidate(c.location_id, c.distance_km, "NOT_CENTRE") for c in candidates if c.location_id != chosen.id
        ]
    elif centre is not None and centre_problem is not None:
        candidates.append(RoutingCandidate(centre.id, round(distances[centre.id], 1), centre_problem))
    listed = candidates[:MAX_LISTED]
    if all(c.location_id != chosen.id for c in listed):
        listed.append(next(c for c in candidates if c.location_id == chosen.id))
    return ReturnRouting(
        rule=rule,
        location_id=chosen.id,
        summary=summary,
        distance_km=round(distances[chosen.id], 1),
        candidates=tuple(listed),
    )


def in_store_routing(location: Location, *, planned: bool = False) -> ReturnRouting:
    """At the counter of the store taking it, or (`planned`) the store the shopper said they will visit."""
    where = f"{location.id} ({location.name})"
    return ReturnRouting(
        rule=ReturnRoutingRule.IN_STORE,
        location_id=location.id,
        summary=f"The shopper will bring it to {where}." if planned else f"Handed over at the counter of {where}.",
        candidates=(RoutingCandidate(location.id, None, "CHOSEN"),),
    )
