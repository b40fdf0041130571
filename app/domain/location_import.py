"""Location import rows: one row states one whole location, as `upsertLocation` takes it.

Columns (camelCase; headers match ignoring case, spaces, `_` and `-`). JSON Lines may nest the
address, point and capabilities as the GraphQL input does (`"address": {"line1": …}`):

- `code`, `name`, `kind` (STORE, DISTRIBUTION_CENTER, DROP_SHIP), `timezone` (IANA) required;
- the address: `line1`, `line2`, `city`, `region`, `postalCode`, `country` (default US),
  `addressName`, `phone`;
- `lat` and `lng` (both, or neither: then the address is geocoded offline, postal code first);
- `ships` (default true), `offersPickup`, `acceptsReturns` (default false): true/false, yes/no, 1/0;
- `handlingCostCents`, `priority` (default 0);
- `zones`: `code:name:walkOrder` separated by `|` (`A:Ambient:1|C:Cold room:2`; the walk order may
  be left out, then it is the zone's position), or a JSON array of `{code, name, walkOrder}`;
- `bins`: bin codes separated by `|` (`A-01-1-01|A-01-1-02`), each in the zone its code starts
  with, or a JSON array of codes or `{code, zone}`;
- `openingHours` (pick-up hand-over hours): `DAYS HH:MM-HH:MM` separated by `|`, days as `MON`
  to `SUN` (or full names), ranges and lists (`MON-FRI 09:00-20:00|SAT,SUN 10:00-16:00`; `SUN
  closed` or no entry: closed), or a JSON array of `{weekday, opens, closes}`.

Left empty, a list is empty: a row describes the whole location. The active flag is not imported:
`deactivateLocation` / `reactivateLocation` change it, and re-importing never revives a location.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from app.domain.addresses import MAX_ADDRESS_FIELD
from app.domain.errors import FieldIssue
from app.domain.geo import GeoPoint
from app.domain.imports import Column, RowIssue, RowValues, SourceRow
from app.domain.import_values import decimal, flag, integer, items, key, lifted, row_issues
from app.domain.location_drafts import (
    MAX_HANDLING_COST_CENTS,
    MAX_NAME_LENGTH,
    MAX_PRIORITY,
    MIN_PRIORITY,
    LocationDraft,
    OpeningHoursDraft,
)
from app.domain.locations import WEEKDAYS, Address, Capabilities, LocationBin, Zone

ADDRESS_FIELDS = {
    "line1": "line1",
    "line2": "line2",
    "city": "city",
    "region": "region",
    "postalCode": "postalCode",
    "country": "country",
    "name": "addressName",
    "phone": "phone",
}
NESTED = {
    "address": ADDRESS_FIELDS,
    "point": {"lat": "lat", "lng": "lng"},
    "capabilities": {"ships": "ships", "offersPickup": "offersPickup", "acceptsReturns": "acceptsReturns"},
}
LOCATION_COLUMNS = (
    Column("code", required=True),
    Column("name", required=True),
    Column("kind", required=True),
    Column("timezone", required=True),
    *(Column(column) for column in ADDRESS_FIELDS.values()),
    Column("address"),
    Column("lat"),
    Column("lng"),
    Column("point"),
    Column("ships"),
    Column("offersPickup"),
    Column("acceptsReturns"),
    Column("capabilities"),
    Column("handlingCostCents"),
    Column("priority"),
    Column("zones"),
    Column("bins"),
    Column("openingHours"),
)
_DAYS = {day.value[:3]: day.value for day in WEEKDAYS} | {day.value: day.value for day in WEEKDAYS}
_COLUMN_OF_ADDRESS = dict(ADDRESS_FIELDS)


def draft_location(row: SourceRow) -> LocationDraft | list[RowIssue]:
    """The draft a row describes, or its issues. Validation proper (codes, time zone, zones and
    bins, geocoding) is the service's `prepare`, whose issues `location_row_issues` names by column."""
    spread = lifted(row, NESTED)
    if isinstance(spread, list):
        return spread
    values = RowValues(spread)
    code = values.text("code", required=True)
    name = values.text("name", required=True, max_length=MAX_NAME_LENGTH)
    kind = values.text("kind", required=True)
    timezone = values.text("timezone", required=True)
    address = Address(
        line1=values.text("line1", max_length=MAX_ADDRESS_FIELD) or "",
        line2=values.text("line2", max_length=MAX_ADDRESS_FIELD),
        city=values.text("city", max_length=MAX_ADDRESS_FIELD) or "",
        region=values.text("region", max_length=MAX_ADDRESS_FIELD),
        postal_code=values.text("postalCode", max_length=MAX_ADDRESS_FIELD) or "",
        country=values.text("country", max_length=MAX_ADDRESS_FIELD) or "US",
        name=values.text("addressName", max_length=MAX_ADDRESS_FIELD),
        phone=values.text("phone", max_length=MAX_ADDRESS_FIELD),
    )
    point = _point(values)
    ships, pickup, returns = flag(values, "ships"), flag(values, "offersPickup"), flag(values, "acceptsReturns")
    handling_cost = values.count("handlingCostCents", maximum=MAX_HANDLING_COST_CENTS)
    priority = integer(values, "priority", minimum=MIN_PRIORITY, maximum=MAX_PRIORITY)
    zones = _zones(values)
    bins = _bins(values)
    hours = _hours(values)
    if values.issues:
        return values.issues
    assert code is not None and name is not None and kind is not None and timezone is not None
    return LocationDraft(
        code=code,
        name=name,
        kind="_".join(kind.replace("-", " ").split()).upper(),
        address=address,
        timezone=timezone,
        point=point,
        capabilities=Capabilities(
            ships=True if ships is None else ships,
            offers_pickup=bool(pickup),
            accepts_returns=bool(returns),
        ),
        zones=zones,
        bins=bins,
        handling_cost_cents=handling_cost or 0,
        priority=priority or 0,
        opening_hours=hours,
    )


def location_row_issues(line: int, draft: LocationDraft, issues: Iterable[FieldIssue]) -> list[RowIssue]:
    """`validate_location`'s issues (paths of the draft) as the row's, named by column."""

    def column(path: tuple[str, ...]) -> tuple[str, str]:
        if not path:
            return "", ""
        head = path[0]
        if head == "address":
            return (_COLUMN_OF_ADDRESS.get(path[1], "address") if len(path) > 1 else "address"), ""
        if head == "point":
            return "lat", ""
        if head in ("zones", "bins", "openingHours") and len(path) > 1 and path[1].isdigit():
            return head, _item_name(draft, head, int(path[1])) + ": "
        return head, ""

    return row_issues(line, issues, column)


def _item_name(draft: LocationDraft, column: str, index: int) -> str:
    if column == "zones":
        return f"zone {index + 1}" + (f" ({draft.zones[index].code})" if index < len(draft.zones) else "")
    if column == "bins":
        return f"bin {draft.bins[index].code}" if index < len(draft.bins) else f"bin {index + 1}"
    return draft.opening_hours[index].weekday if index < len(draft.opening_hours) else f"entry {index + 1}"


def _point(values: RowValues) -> GeoPoint | None:
    lat, lng = decimal(values, "lat"), decimal(values, "lng")
    given = {"lat": "lat" in values.row.values, "lng": "lng" in values.row.values}
    if given["lat"] != given["lng"]:
        missing = "lng" if given["lat"] else "lat"
        values.problem(missing, "give lat and lng together, or neither (the address is then geocoded)")
        return None
    return GeoPoint(lat, lng) if lat is not None and lng is not None else None


def _fields(values: RowValues, column: str, index: int, item: Mapping[str, object], names: tuple[str, ...]) -> dict[str, object] | None:
    """A JSON object's values by expected name (keys matched like columns); None with an issue for an unknown key."""
    by_key = {key(name): name for name in names}
    out: dict[str, object] = {}
    for given, value in item.items():
        name = by_key.get(key(given))
        if name is None:
            values.problem(column, f"item {index + 1}: unknown field {given!r}; expected {', '.join(names)}")
            return None
        out[name] = value
    return out


def _zones(values: RowValues) -> tuple[Zone, ...]:
    found = items(values, "zones") or []
    zones: list[Zone] = []
    for index, item in enumerate(found):
        if isinstance(item, str):
            parts = [part.strip() for part in item.split(":")]
            walk: object = index + 1
            if len(parts) >= 3 and parts[-1].isdigit():
                walk = parts.pop()
            code, name = parts[0], ":".join(parts[1:]) or parts[0]
        elif isinstance(item, dict):
            fields = _fields(values, "zones", index, item, ("code", "name", "walkOrder"))
            if fields is None:
                continue
            code, name, walk = fields.get("code"), fields.get("name", fields.get("code")), fields.get("walkOrder", index + 1)
        else:
            values.problem("zones", f"zone {index + 1}: must be code:name:walkOrder or an object")
            continue
        order = _whole(walk)
        if not isinstance(code, str) or not isinstance(name, str) or order is None:
            values.problem("zones", f"zone {index + 1}: code and name are text, walkOrder a whole number")
            continue
        zones.append(Zone(code=code.strip().upper(), name=name.strip(), walk_order=order))
    return tuple(zones)


def _bins(values: RowValues) -> tuple[LocationBin, ...]:
    found = items(values, "bins") or []
    bins: list[LocationBin] = []
    for index, item in enumerate(found):
        zone: object = None
        if isinstance(item, dict):
            fields = _fields(values, "bins", index, item, ("code", "zone"))
            if fields is None:
                continue
            code, zone = fields.get("code"), fields.get("zone")
        else:
            code = item
        if not isinstance(code, str) or not (zone is None or isinstance(zone, str)):
            values.problem("bins", f"bin {index + 1}: a bin is a code such as A-01-1-07, or {{code, zone}}")
            continue
        code = code.strip().upper()
        bins.append(LocationBin(code=code, zone=(zone or code.split("-", 1)[0]).strip().upper()))
    return tuple(bins)


def _hours(values: RowValues) -> tuple[OpeningHoursDraft, ...]:
    found = items(values, "openingHours") or []
    hours: list[OpeningHoursDraft] = []
    for index, item in enumerate(found):
        if isinstance(item, dict):
            fields = _fields(values, "openingHours", index, item, ("weekday", "opens", "closes"))
            if fields is None:
                continue
            weekday, opens, closes = (fields.get(name) for name in ("weekday", "opens", "closes"))
            if not all(isinstance(value, str) for value in (weekday, opens, closes)):
                values.problem("openingHours", f"entry {index + 1}: weekday, opens and closes are text")
                continue
            hours.append(OpeningHoursDraft(str(weekday).strip().upper(), str(opens), str(closes)))
        elif isinstance(item, str):
            hours += _compact_hours(values, index, item)
        else:
            values.problem("openingHours", f"entry {index + 1}: must be 'MON-FRI 09:00-20:00' or an object")
    return tuple(hours)


def _compact_hours(values: RowValues, index: int, entry: str) -> list[OpeningHoursDraft]:
    """`MON-FRI 09:00-20:00`, `SAT,SUN 10:00-16:00`, `SUN closed`: one draft per day."""
    days_text, _, times = entry.strip().partition(" ")
    times = times.strip()
    days = _days(days_text)
    rule = f"entry {index + 1} ({entry.strip()!r}): write it as DAYS HH:MM-HH:MM, e.g. MON-FRI 09:00-20:00"
    if days is None or not times:
        values.problem("openingHours", rule)
        return []
    if times.lower() == "closed":
        return []
    opens, dash, closes = times.partition("-")
    if not dash:
        values.problem("openingHours", rule)
        return []
    return [OpeningHoursDraft(day, opens.strip(), closes.strip()) for day in days]


def _days(text: str) -> list[str] | None:
    """`MON-FRI`, `SAT,SUN`, `monday`: the weekdays named, in order; None when one is unknown."""
    days: list[str] = []
    for part in text.split(","):
        first, dash, last = part.strip().upper().partition("-")
        start, end = _DAYS.get(first), _DAYS.get(last) if dash else _DAYS.get(first)
        if start is None or end is None:
            return None
        names = [day.value for day in WEEKDAYS]
        i, j = names.index(start), names.index(end)
        days += names[i : j + 1] if i <= j else names[i:] + names[: j + 1]
    return days


def _whole(value: object) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str) and value.strip().isdigit():
        return int(value.strip())
    return None
