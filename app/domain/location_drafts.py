"""Onboarding a location: one draft in, a Location or its issues out.

`validate_location(draft, geocoded=...)` is pure: a `LocationDraft` (raw values, as a form or an
import row gives them) becomes a `Location`, or every issue found with its path relative to the
draft (("zones", "1", "code")), so the GraphQL mutation and the bulk importer report the same
issues. The service geocodes the address first when the draft has no point.
"""

from __future__ import annotations

import re
import zoneinfo
from dataclasses import dataclass, field, replace
from datetime import time

from app.domain.addresses import MAX_ADDRESS_FIELD, check_address, check_text, normalized_address
from app.domain.errors import FieldIssue, Validator
from app.domain.geo import GeoPoint
from app.domain.geocoding import US_ZIP_COUNTRIES, Geocoded, PointSource
from app.domain.locations import (
    WEEKDAYS,
    Address,
    Capabilities,
    Location,
    LocationBin,
    LocationKind,
    OpeningHours,
    Weekday,
    Zone,
)


# Codes travel in inputs, API key scopes, event keys and bin labels: `ST-MA-BOS-01`, `DC-OH-COL`.
CODE_PATTERN = re.compile(r"[A-Z0-9]+(?:-[A-Z0-9]+)*")
MIN_CODE_LENGTH, MAX_CODE_LENGTH = 2, 40
ZONE_CODE_PATTERN = re.compile(r"[A-Z0-9]{1,20}")  # no `-`: a bin code starts with `<zone>-`
BIN_CODE_PATTERN = re.compile(r"([A-Z0-9]{1,20})-([A-Z0-9]{1,10})-([A-Z0-9]{1,10})-([A-Z0-9]{1,10})")
TIME_PATTERN = re.compile(r"([01]\d|2[0-3]):([0-5]\d)")
_ZONE_CODE_RULE = "a zone code is 1 to 20 upper-case letters or digits"
_BIN_CODE_RULE = "a bin code is <zone>-<aisle>-<shelf>-<bin>, upper-case letters and digits (e.g. A-01-1-07)"
MAX_NAME_LENGTH = 200
MAX_ZONES = 100
MAX_BINS = 500  # the API's input lists are capped at 500 items as well (OMS_MAX_LIST_LENGTH)
MAX_WALK_ORDER = 100_000
MAX_HANDLING_COST_CENTS = 1_000_000
MIN_PRIORITY, MAX_PRIORITY = -1_000, 1_000


@dataclass(frozen=True, slots=True)
class OpeningHoursDraft:
    weekday: str  # a Weekday name
    opens: str  # "HH:MM", 24-hour
    closes: str


@dataclass(frozen=True, slots=True)
class LocationDraft:
    """A location as a caller describes it, unvalidated. Field paths in issues follow these names
    in camelCase (the GraphQL input's names). The active flag is not part of it: a feed re-sending
    a location never revives or retires it (`deactivateLocation` / `reactivateLocation` do)."""

    code: str
    name: str
    kind: str  # a LocationKind name
    address: Address
    timezone: str
    point: GeoPoint | None = None  # None: geocoded from the address
    capabilities: Capabilities = field(default_factory=Capabilities)
    zones: tuple[Zone, ...] = ()
    bins: tuple[LocationBin, ...] = ()
    handling_cost_cents: int = 0
    priority: int = 0
    opening_hours: tuple[OpeningHoursDraft, ...] = ()


def normalized_draft(draft: LocationDraft) -> LocationDraft:
    """What validation and geocoding look at: trimmed strings, the address normalised."""
    return replace(
        draft,
        code=draft.code.strip(),
        name=draft.name.strip(),
        kind=draft.kind.strip(),
        timezone=draft.timezone.strip(),
        address=normalized_address(draft.address),
        zones=tuple(replace(z, code=z.code.strip(), name=z.name.strip()) for z in draft.zones),
        bins=tuple(LocationBin(b.code.strip(), b.zone.strip()) for b in draft.bins),
        opening_hours=tuple(OpeningHoursDraft(h.weekday.strip(), h.opens.strip(), h.closes.strip()) for h in draft.opening_hours),
    )


def valid_timezone(name: str) -> bool:
    if not name or len(name) > 64:
        return False
    try:
        zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        return False
    return True


def _parse_time(value: str) -> time | None:
    match = TIME_PATTERN.fullmatch(value)
    return time(int(match.group(1)), int(match.group(2))) if match else None


def _check_zones(check: Validator, zones: tuple[Zone, ...]) -> None:
    if not check.check(len(zones) <= MAX_ZONES, f"at most {MAX_ZONES} zones", "zones"):
        return
    seen: set[str] = set()
    for i, zone in enumerate(zones):
        path = ("zones", i)
        if check.check(ZONE_CODE_PATTERN.fullmatch(zone.code) is not None, _ZONE_CODE_RULE, *path, "code"):
            check.check(zone.code not in seen, f"zone {zone.code} is listed twice", *path, "code")
            seen.add(zone.code)
        check_text(check, zone.name, MAX_NAME_LENGTH, *path, "name", required=True)
        check.check(0 <= zone.walk_order <= MAX_WALK_ORDER, f"walkOrder is between 0 and {MAX_WALK_ORDER}", *path, "walkOrder")


def _check_bins(check: Validator, bins: tuple[LocationBin, ...], zone_codes: set[str]) -> None:
    if not check.check(len(bins) <= MAX_BINS, f"at most {MAX_BINS} bins", "bins"):
        return
    seen: set[str] = set()
    for i, item in enumerate(bins):
        path = ("bins", i)
        match = BIN_CODE_PATTERN.fullmatch(item.code)
        if check.check(match is not None, _BIN_CODE_RULE, *path, "code"):
            check.check(item.code not in seen, f"bin {item.code} is listed twice", *path, "code")
            seen.add(item.code)
        known = check.check(item.zone in zone_codes, f"unknown zone {item.zone!r}: list it under zones", *path, "zone")
        if known and match is not None:
            in_zone = match.group(1)
            check.check(in_zone == item.zone, f"bin {item.code} is in zone {in_zone}, not {item.zone}", *path, "zone")


def _check_hours(check: Validator, hours: tuple[OpeningHoursDraft, ...]) -> tuple[OpeningHours, ...]:
    parsed: list[OpeningHours] = []
    seen: set[str] = set()
    for i, entry in enumerate(hours[: len(WEEKDAYS) + 1]):
        weekday = entry.weekday.upper()
        known = check.check(weekday in Weekday.__members__, "weekday is MONDAY to SUNDAY", "openingHours", i, "weekday")
        if known:
            check.check(weekday not in seen, f"{weekday} is listed twice", "openingHours", i, "weekday")
            seen.add(weekday)
        opens, closes = _parse_time(entry.opens), _parse_time(entry.closes)
        check.check(opens is not None, "a time is HH:MM, 00:00 to 23:59", "openingHours", i, "opens")
        check.check(closes is not None, "a time is HH:MM, 00:00 to 23:59", "openingHours", i, "closes")
        if opens is not None and closes is not None:
            check.check(opens < closes, "closes must be after opens (same day)", "openingHours", i, "closes")
            if known:
                parsed.append(OpeningHours(Weekday(weekday), opens, closes))
    check.check(len(hours) <= len(WEEKDAYS), "at most one entry per weekday", "openingHours")
    return tuple(sorted(parsed, key=lambda h: WEEKDAYS.index(h.weekday)))


def validate_location(draft: LocationDraft, *, geocoded: Geocoded | None = None) -> Location | tuple[FieldIssue, ...]:
    """One draft → the Location it describes, or every issue found (paths relative to the draft).

    `geocoded`: the address's point when the draft has none (the service looks it up); a draft
    with neither is refused on ("address", "postalCode") in the US, ("address", "city") elsewhere.
    The result is a new, active location at version 0; the service carries an existing location's
    state (active, versions) over when it saves (`with_state_of`)."""
    draft = normalized_draft(draft)
    check = Validator()
    code_ok = MIN_CODE_LENGTH <= len(draft.code) <= MAX_CODE_LENGTH and CODE_PATTERN.fullmatch(draft.code) is not None
    check.check(
        code_ok,
        f"a location code is {MIN_CODE_LENGTH} to {MAX_CODE_LENGTH} upper-case letters, digits and single - "
        "inside (e.g. ST-MA-BOS-01)",
        "code",
    )
    check_text(check, draft.name, MAX_NAME_LENGTH, "name", required=True)
    check.check(draft.kind in LocationKind.__members__, "kind is STORE, DISTRIBUTION_CENTER or DROP_SHIP", "kind")
    before_address = len(check.issues)
    check_address(check, draft.address, "address")
    address_ok = len(check.issues) == before_address
    point: GeoPoint | None = None
    source = PointSource.GIVEN
    if draft.point is not None:
        if check.check(draft.point.is_valid(), "lat must be within ±90 and lng within ±180", "point"):
            point = draft.point
    elif geocoded is not None:
        point, source = geocoded.point, geocoded.source
    elif address_ok:
        # The field the geocoder matched on, as for orders: the ZIP in the US, the city elsewhere.
        where = "postalCode" if draft.address.country in US_ZIP_COUNTRIES else "city"
        check.add(
            f"no coordinates found for postal code {draft.address.postal_code!r} or city {draft.address.city!r} "
            f"in {draft.address.country}: give the point",
            "address",
            where,
        )
    check.check(valid_timezone(draft.timezone), "timezone is an IANA time zone name, e.g. America/New_York", "timezone")
    _check_zones(check, draft.zones)
    _check_bins(check, draft.bins, {z.code for z in draft.zones})
    hours = _check_hours(check, draft.opening_hours)
    check.check(
        0 <= draft.handling_cost_cents <= MAX_HANDLING_COST_CENTS,
        f"handlingCostCents is between 0 and {MAX_HANDLING_COST_CENTS}",
        "handlingCostCents",
    )
    priority_rule = f"priority is between {MIN_PRIORITY} and {MAX_PRIORITY}"
    check.check(MIN_PRIORITY <= draft.priority <= MAX_PRIORITY, priority_rule, "priority")
    if check.issues or point is None:
        return tuple(check.issues)
    return Location(
        id=draft.code,
        name=draft.name,
        kind=LocationKind(draft.kind),
        address=draft.address,
        point=point,
        point_source=source,
        capabilities=draft.capabilities,
        zones=draft.zones,
        bins=draft.bins,
        handling_cost_cents=draft.handling_cost_cents,
        priority=draft.priority,
        timezone=draft.timezone,
        opening_hours=hours,
    )
