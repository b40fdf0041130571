"""upsertLocation / deactivateLocation / reactivateLocation over HTTP on the real app and database,
and the pure per-row validation the bulk importer shares."""

from __future__ import annotations

import asyncio
import base64
import time
from dataclasses import replace
from datetime import datetime, timezone
from typing import Any

import pytest

from app.asgi import create_app
from app.domain.clock import utcnow
from app.domain.geo import GeoPoint, distance_km
from app.domain.geocoding import Geocoded, PointSource
from app.domain.location_drafts import LocationDraft, OpeningHoursDraft, validate_location
from app.domain.locations import Address, LocationKind, Zone
from app.domain.principals import Role
from app.repositories.database import Mongo
from app.repositories.inventory import InventoryRepository
from app.services.container import Services
from app.settings import Settings
from tests.conftest import GraphQLClient, lifespan_of
from tests.factories import BOSTON, PROVIDENCE, World, level, location, product
from tests.order_helpers import CAPTURE, capture_input, network, pickup

pytestmark = pytest.mark.usefixtures("reservations_consistent")

LOCATION_FIELDS = """
  id code name kind active version timezone priority pointSource point { lat lng }
  address { line1 city postalCode country region }
  capabilities { ships offersPickup acceptsReturns }
  zones { code name walkOrder } bins { code zone } openingHours { weekday opens closes } handlingCost { cents }
"""
ERRORS = "... on Error { code message field } ... on InvalidInputError { issues { code field message } }"
UPSERT = f"""
mutation($input: UpsertLocationInput!) {{
  upsertLocation(input: $input) {{
    __typename
    ... on UpsertLocationPayload {{ created changedFields inventoryCopiesCurrent location {{ {LOCATION_FIELDS} }} }}
    {ERRORS}
  }}
}}
"""
DEACTIVATE = f"""
mutation($input: DeactivateLocationInput!) {{
  deactivateLocation(input: $input) {{
    __typename
    ... on LocationActivePayload {{ inventoryCopiesCurrent location {{ code active version }} }}
    ... on LocationInUseError {{ openAllocations }}
    {ERRORS}
  }}
}}
"""
REACTIVATE = f"""
mutation($input: ReactivateLocationInput!) {{
  reactivateLocation(input: $input) {{
    __typename
    ... on LocationActivePayload {{ inventoryCopiesCurrent location {{ code active version }} }}
    {ERRORS}
  }}
}}
"""
NEAR = """
query($near: GeoPointInput!) {
  storeAvailability(skus: ["SKU-1"], near: $near, radiusKm: 200) { locationCode distanceKm }
}
"""
LIST = "query($all: Boolean!) { locations(filter: {includeInactive: $all}) { code active } }"


def gid(type_name: str, node_id: str) -> str:
    return base64.b64encode(f"{type_name}:{node_id}".encode()).decode()


def store_input(code: str = "ST-MA-BOS-01", **overrides: Any) -> dict[str, Any]:
    value: dict[str, Any] = {
        "code": code,
        "name": "Boston Downtown",
        "kind": "STORE",
        "address": {"line1": "1 Washington St", "city": "Boston", "postalCode": "02108", "region": "MA"},
        "point": {"lat": BOSTON.lat, "lng": BOSTON.lng},
        "timezone": "America/New_York",
        "capabilities": {"ships": True, "offersPickup": True, "acceptsReturns": True},
        "zones": [{"code": "FLOOR", "name": "Sales floor", "walkOrder": 1}, {"code": "BACK", "name": "Back room", "walkOrder": 2}],
        "bins": [{"code": "FLOOR-01-1-01", "zone": "FLOOR"}, {"code": "BACK-2-3-10", "zone": "BACK"}],
        "handlingCostCents": 300,
        "priority": 5,
        "openingHours": [
            {"weekday": "MONDAY", "opens": "09:00", "closes": "21:00"},
            {"weekday": "SUNDAY", "opens": "11:00", "closes": "18:00"},
        ],
    }
    value.update(overrides)
    return value


async def _token(services: Services, role: Role, **scope: Any) -> str:
    _, token = await services.auth.create_api_key(name=f"test-{role.value.lower()}", role=role, **scope)
    return token


async def _location_events(mongo: Mongo) -> list[dict[str, Any]]:
    return [doc async for doc in mongo.db["events"].find({"aggregate_type": "Location"}).sort("_id", 1)]


async def _upsert(gql: GraphQLClient, given: dict[str, Any]) -> dict[str, Any]:
    return (await gql.data(UPSERT, {"input": given}))["upsertLocation"]


async def _copies_settled(mongo: Mongo, *, timeout: float = 30.0) -> None:
    """Waits until no location owes its inventory copies a refresh (they run in the background)."""
    deadline = time.monotonic() + timeout
    while await mongo.db["locations"].count_documents({"copies_pending": True}):
        assert time.monotonic() < deadline, "inventory copies were never refreshed"
        await asyncio.sleep(0.02)


# --- create and update -------------------------------------------------------------------------------


async def test_admin_creates_a_location_with_everything_and_it_is_audited(gql: GraphQLClient, world: World, mongo: Mongo) -> None:
    result = await _upsert(gql, store_input(reason="new store"))
    assert result["__typename"] == "UpsertLocationPayload", result
    assert result["created"] is True and result["inventoryCopiesCurrent"] is True
    stored = result["location"]
    assert (stored["code"], stored["kind"], stored["active"], stored["version"], stored["pointSource"]) == (
        "ST-MA-BOS-01", "STORE", True, 1, "GIVEN"
    )
    assert stored["id"] == gid("Location", "ST-MA-BOS-01")
    assert stored["capabilities"] == {"ships": True, "offersPickup": True, "acceptsReturns": True}
    assert stored["bins"] == [{"code": "FLOOR-01-1-01", "zone": "FLOOR"}, {"code": "BACK-2-3-10", "zone": "BACK"}]
    assert stored["openingHours"] == [
        {"weekday": "MONDAY", "opens": "09:00", "closes": "21:00"},
        {"weekday": "SUNDAY", "opens": "11:00", "closes": "18:00"},
    ]
    assert (stored["handlingCost"]["cents"], stored["priority"], stored["timezone"]) == (300, 5, "America/New_York")
    listed = (await gql.data(LIST, {"all": False}))["locations"]
    assert {"code": "ST-MA-BOS-01", "active": True} in listed

    [event] = await _location_events(mongo)
    assert (event["type"], event["aggregate_id"], event["location_id"], event["reason"]) == (
        "LocationCreated", "ST-MA-BOS-01", "ST-MA-BOS-01", "new store"
    )
    assert event["actor"] == {"subject": "apikey:test-admin", "role": "ADMIN"}
    assert event["payload"]["version"] == 1 and event["payload"]["location"]["pointSource"] == "GIVEN"


async def test_update_by_code_says_what_changed_and_an_equal_input_writes_nothing(
    gql: GraphQLClient, world: World, mongo: Mongo
) -> None:
    await _upsert(gql, store_input())
    changed = await _upsert(gql, store_input(name="Boston Downtown Crossing", priority=7))
    assert (changed["created"], changed["changedFields"], changed["location"]["version"]) == (False, ["name", "priority"], 2)
    updated = (await _location_events(mongo))[-1]
    assert updated["type"] == "LocationUpdated"
    assert updated["payload"]["changes"] == {
        "name": {"before": "Boston Downtown", "after": "Boston Downtown Crossing"},
        "priority": {"before": 5, "after": 7},
    }

    again = await _upsert(gql, store_input(name="Boston Downtown Crossing", priority=7))
    assert (again["changedFields"], again["location"]["version"]) == ([], 2)
    assert len(await _location_events(mongo)) == 2


async def test_every_issue_is_reported_with_its_path_and_nothing_is_written(gql: GraphQLClient, world: World, mongo: Mongo) -> None:
    bad = store_input(
        code="st-bos",
        timezone="Mars/Olympus",
        point={"lat": 91, "lng": 0},
        zones=[{"code": "A", "name": "A", "walkOrder": 1}, {"code": "A", "name": "A again", "walkOrder": 2}],
        bins=[{"code": "B-01-1-01", "zone": "B"}, {"code": "A-01-1-01", "zone": "B"}, {"code": "A01", "zone": "A"}],
        openingHours=[{"weekday": "MONDAY", "opens": "18:00", "closes": "09:00"}, {"weekday": "TUESDAY", "opens": "9am", "closes": "17:00"}],
        handlingCostCents=-1,
    )
    result = await _upsert(gql, bad)
    assert (result["__typename"], result["code"]) == ("InvalidInputError", "INVALID_INPUT")
    fields = [issue["field"] for issue in result["issues"]]
    assert fields == [
        ["code"],
        ["point"],
        ["timezone"],
        ["zones", "1", "code"],
        ["bins", "0", "zone"],
        ["bins", "1", "zone"],
        ["bins", "2", "code"],
        ["openingHours", "0", "closes"],
        ["openingHours", "1", "opens"],
        ["handlingCostCents"],
    ]
    assert await mongo.db["locations"].count_documents({}) == 0
    assert await _location_events(mongo) == []


# --- geocoding ---------------------------------------------------------------------------------------


async def test_without_a_point_the_address_is_geocoded_and_its_source_recorded(gql: GraphQLClient, world: World) -> None:
    by_zip = (await _upsert(gql, store_input(point=None)))["location"]
    assert by_zip["pointSource"] == "POSTAL_CODE"
    assert distance_km(GeoPoint(**by_zip["point"]), BOSTON) < 5

    koln = store_input(
        "ST-DE-CGN-01", point=None, timezone="Europe/Berlin",
        address={"line1": "Hohe Str. 1", "city": "Köln", "postalCode": "50667", "country": "de"},
    )
    by_city = (await _upsert(gql, koln))["location"]
    assert (by_city["pointSource"], by_city["address"]["country"]) == ("CITY", "DE")
    assert distance_km(GeoPoint(**by_city["point"]), GeoPoint(50.9375, 6.9603)) < 10

    # A later feed without coordinates keeps a surveyed point while the address is the same.
    surveyed = await _upsert(gql, store_input(point={"lat": 42.3555, "lng": -71.0602}))
    assert surveyed["changedFields"] == ["point", "pointSource"]
    kept = await _upsert(gql, store_input(point=None))
    assert (kept["changedFields"], kept["location"]["pointSource"]) == ([], "GIVEN")


async def test_an_address_nothing_matches_is_refused_naming_the_field(gql: GraphQLClient, world: World, mongo: Mongo) -> None:
    nowhere = store_input(point=None, address={"line1": "1 Nowhere Rd", "city": "Qwxyzzy", "postalCode": "X1", "country": "ZZ"})
    result = await _upsert(gql, nowhere)
    assert (result["__typename"], result["field"]) == ("InvalidInputError", ["address", "city"])
    assert "give the point" in result["message"]
    assert await mongo.db["locations"].count_documents({}) == 0


# --- inventory copies: storeAvailability ----------------------------------------------------------------


async def _stocked_store(world: World) -> None:
    await world.add_locations(location("ST-X", BOSTON))
    await world.add_products(product("SKU-1"))
    await world.add_stock(level("SKU-1", "ST-X", 5))


def _as_input(code: str, point: GeoPoint, **overrides: Any) -> dict[str, Any]:
    # The factory location, as an admin would re-send it (zones A and B, no bins).
    return store_input(
        code, name=code, point={"lat": point.lat, "lng": point.lng}, bins=[], openingHours=[],
        zones=[{"code": "A", "name": "Zone A", "walkOrder": 1}, {"code": "B", "name": "Zone B", "walkOrder": 2}],
        **overrides,
    )


async def test_moving_a_store_moves_it_in_store_availability(gql: GraphQLClient, world: World, mongo: Mongo) -> None:
    await _stocked_store(world)
    [before] = (await gql.data(NEAR, {"near": {"lat": BOSTON.lat, "lng": BOSTON.lng}}))["storeAvailability"]
    assert before["locationCode"] == "ST-X" and before["distanceKm"] < 0.1

    moved = await _upsert(gql, _as_input("ST-X", PROVIDENCE))
    assert "point" in moved["changedFields"] and moved["location"]["version"] == 1  # seeded at version 0
    if not moved["inventoryCopiesCurrent"]:  # one level: only a very slow machine leaves it to the background
        await _copies_settled(mongo)
    [after] = (await gql.data(NEAR, {"near": {"lat": BOSTON.lat, "lng": BOSTON.lng}}))["storeAvailability"]
    assert after["distanceKm"] == pytest.approx(distance_km(BOSTON, PROVIDENCE), abs=0.5)
    copy = await mongo.db["inventory"].find_one({"_id": "SKU-1@ST-X"})
    assert copy["location_version"] == 1 and copy["point"]["coordinates"] == [PROVIDENCE.lng, PROVIDENCE.lat]
    assert await mongo.db["locations"].count_documents({"copies_pending": True}) == 0

    # No longer a store: storeAvailability lists stores only.
    await _upsert(gql, _as_input("ST-X", PROVIDENCE, kind="DISTRIBUTION_CENTER"))
    await _copies_settled(mongo)
    assert (await gql.data(NEAR, {"near": {"lat": BOSTON.lat, "lng": BOSTON.lng}}))["storeAvailability"] == []


async def test_a_stock_change_that_read_the_old_location_does_not_put_the_old_point_back(
    gql: GraphQLClient, world: World, mongo: Mongo
) -> None:
    await _stocked_store(world)
    old = await world.locations.get("ST-X")
    assert old is not None
    await _upsert(gql, _as_input("ST-X", PROVIDENCE))
    await _copies_settled(mongo)
    inventory = InventoryRepository(mongo.db)
    await mongo.transaction(
        lambda session: inventory.add_on_hand("SKU-1", "ST-X", 1, at=utcnow(), session=session, location=old)
    )
    copy = await mongo.db["inventory"].find_one({"_id": "SKU-1@ST-X"})
    assert copy["on_hand"] == 6 and copy["location_version"] == 1
    assert copy["point"]["coordinates"] == [PROVIDENCE.lng, PROVIDENCE.lat]


async def test_copies_left_stale_by_a_crash_are_repaired_at_startup(settings: Settings, world: World, mongo: Mongo) -> None:
    await _stocked_store(world)
    # As if the process died between the commit of a move and the refresh of the copies.
    moved = {"type": "Point", "coordinates": [PROVIDENCE.lng, PROVIDENCE.lat]}
    await mongo.db["locations"].update_one(
        {"_id": "ST-X"}, {"$set": {"point": moved, "version": 1, "copies_version": 1, "copies_pending": True}}
    )
    assert (await mongo.db["inventory"].find_one({"_id": "SKU-1@ST-X"}))["point"]["coordinates"] == [BOSTON.lng, BOSTON.lat]

    async with lifespan_of(create_app(settings)):
        await _copies_settled(mongo)  # start-up refreshes in the background
    copy = await mongo.db["inventory"].find_one({"_id": "SKU-1@ST-X"})
    assert (copy["point"], copy["location_version"]) == (moved, 1)
    assert await mongo.db["locations"].count_documents({"copies_pending": True}) == 0


# --- deactivation ------------------------------------------------------------------------------------


async def test_deactivation_is_refused_while_orders_hold_open_allocations(gql: GraphQLClient, world: World, mongo: Mongo) -> None:
    await network(world)
    for external_id in ("W-1", "W-2"):
        placed = (await gql.data(CAPTURE, {"input": capture_input(external_id)}))["captureOrder"]
        assert placed["order"]["allocations"][0]["locationCode"] == "ST-BOS"
    before = await mongo.db["locations"].find_one({"_id": "ST-BOS"})

    refused = (await gql.data(DEACTIVATE, {"input": {"locationId": gid("Location", "ST-BOS"), "reason": "closing"}}))
    result = refused["deactivateLocation"]
    assert (result["__typename"], result["code"], result["openAllocations"]) == ("LocationInUseError", "CONFLICT", 2)
    assert "2 open allocation" in result["message"]
    assert await mongo.db["locations"].find_one({"_id": "ST-BOS"}) == before
    assert await _location_events(mongo) == []


async def test_a_deactivated_location_is_not_routed_to_and_comes_back_when_reactivated(
    gql: GraphQLClient, world: World, mongo: Mongo
) -> None:
    await network(world)
    near_boston = {"near": {"lat": BOSTON.lat, "lng": BOSTON.lng}}
    assert [s["locationCode"] for s in (await gql.data(NEAR, near_boston))["storeAvailability"]] == ["ST-BOS"]

    done = (await gql.data(DEACTIVATE, {"input": {"locationId": gid("Location", "ST-BOS"), "reason": "flooded"}}))
    assert done["deactivateLocation"]["location"] == {"code": "ST-BOS", "active": False, "version": 1}
    await _copies_settled(mongo)

    shipped = (await gql.data(CAPTURE, {"input": capture_input("W-1")}))["captureOrder"]["order"]
    assert [a["locationCode"] for a in shipped["allocations"]] == ["DC-CHI"]  # ST-BOS is nearer and has stock
    pick_up = (await gql.data(CAPTURE, {"input": capture_input("W-2", delivery=pickup("ST-BOS"))}))["captureOrder"]
    assert (pick_up["__typename"], pick_up["field"]) == ("InvalidInputError", ["delivery", "pickupLocation"])
    assert (await gql.data(NEAR, near_boston))["storeAvailability"] == []
    assert "ST-BOS" not in {loc["code"] for loc in (await gql.data(LIST, {"all": False}))["locations"]}
    assert {"code": "ST-BOS", "active": False} in (await gql.data(LIST, {"all": True}))["locations"]

    back = (await gql.data(REACTIVATE, {"input": {"locationId": gid("Location", "ST-BOS")}}))["reactivateLocation"]
    assert back["location"] == {"code": "ST-BOS", "active": True, "version": 2}
    await _copies_settled(mongo)
    assert [s["locationCode"] for s in (await gql.data(NEAR, near_boston))["storeAvailability"]] == ["ST-BOS"]
    deactivated, reactivated = await _location_events(mongo)
    assert (deactivated["type"], deactivated["reason"], deactivated["actor"]["role"]) == ("LocationDeactivated", "flooded", "ADMIN")
    assert deactivated["payload"]["changes"] == {"active": {"before": True, "after": False}}
    assert reactivated["type"] == "LocationReactivated"


async def test_upsert_never_revives_a_deactivated_location(gql: GraphQLClient, world: World) -> None:
    await _upsert(gql, store_input())
    await gql.data(DEACTIVATE, {"input": {"locationId": gid("Location", "ST-MA-BOS-01"), "reason": "moved"}})
    again = await _upsert(gql, store_input(name="Boston (closed)"))
    assert (again["location"]["active"], again["changedFields"]) == (False, ["name"])


async def test_unknown_and_wrongly_typed_ids_are_typed_errors(gql: GraphQLClient, world: World) -> None:
    missing = (await gql.data(DEACTIVATE, {"input": {"locationId": gid("Location", "ST-NONE"), "reason": "x"}}))
    assert (missing["deactivateLocation"]["__typename"], missing["deactivateLocation"]["field"]) == ("NotFoundError", ["locationId"])
    wrong = (await gql.data(REACTIVATE, {"input": {"locationId": gid("Order", "ST-NONE")}}))["reactivateLocation"]
    assert (wrong["__typename"], wrong["field"]) == ("InvalidInputError", ["locationId"])
    blank = (await gql.data(DEACTIVATE, {"input": {"locationId": gid("Location", "ST-NONE"), "reason": " "}}))
    assert blank["deactivateLocation"]["field"] == ["reason"]


# --- authorization -----------------------------------------------------------------------------------


async def test_only_admins_may_change_locations_and_refusals_write_nothing(
    gql: GraphQLClient, world: World, services: Services, mongo: Mongo
) -> None:
    await world.add_locations(location("ST-X", BOSTON))
    stored = await mongo.db["locations"].find_one({"_id": "ST-X"})
    for role, scope in [
        (Role.CSR, {}),
        (Role.STORE_STAFF, {"location_ids": frozenset({"ST-X"})}),
        (Role.WAREHOUSE, {"location_ids": frozenset({"ST-X"})}),
    ]:
        caller = gql.as_(await _token(services, role, **scope))
        for document, variables, root in [
            (UPSERT, {"input": store_input()}, "upsertLocation"),
            (UPSERT, {"input": _as_input("ST-X", PROVIDENCE)}, "upsertLocation"),
            (DEACTIVATE, {"input": {"locationId": gid("Location", "ST-X"), "reason": "x"}}, "deactivateLocation"),
            (REACTIVATE, {"input": {"locationId": gid("Location", "ST-X")}}, "reactivateLocation"),
        ]:
            result = (await caller.data(document, variables))[root]
            assert (result["__typename"], result["code"]) == ("PermissionDeniedError", "FORBIDDEN"), (role, root)
    assert await mongo.db["locations"].count_documents({}) == 1
    assert await mongo.db["locations"].find_one({"_id": "ST-X"}) == stored
    assert await _location_events(mongo) == []


# --- the pure step the importer shares ---------------------------------------------------------------


def _draft(**overrides: Any) -> LocationDraft:
    base = LocationDraft(
        code="DC-OH-COL",
        name="Columbus DC",
        kind="DISTRIBUTION_CENTER",
        address=Address(line1="1 Dock Rd", city="Columbus", postal_code="43215", region="OH"),
        timezone="America/New_York",
        zones=(Zone("A", "Zone A", 1),),
    )
    return replace(base, **overrides)


def test_a_draft_without_point_takes_the_geocoded_one_and_its_source() -> None:
    found = validate_location(_draft(), geocoded=Geocoded(GeoPoint(39.96, -83.0), PointSource.POSTAL_CODE))
    assert not isinstance(found, tuple)
    assert (found.point, found.point_source, found.kind, found.active) == (
        GeoPoint(39.96, -83.0), PointSource.POSTAL_CODE, LocationKind.DISTRIBUTION_CENTER, True
    )
    refused = validate_location(_draft())
    assert isinstance(refused, tuple) and [i.field for i in refused] == [("address", "postalCode")]


def test_draft_issues_have_paths_relative_to_the_row() -> None:
    issues = validate_location(
        _draft(
            code="D", kind="WAREHOUSE", point=GeoPoint(0, 0),
            address=Address(line1="", city="Columbus", postal_code="43215", country="USA"),
            opening_hours=(OpeningHoursDraft("FUNDAY", "09:00", "17:00"),),
        )
    )
    assert isinstance(issues, tuple)
    assert [i.field for i in issues] == [
        ("code",), ("kind",), ("address", "line1"), ("address", "country"), ("openingHours", "0", "weekday")
    ]


def test_opening_hours_are_read_in_the_locations_time_zone() -> None:
    store = validate_location(
        _draft(point=GeoPoint(40, -83), opening_hours=(OpeningHoursDraft("monday", "09:00", "21:00"),))
    )
    assert not isinstance(store, tuple)
    assert store.is_open(datetime(2026, 1, 12, 14, 0, tzinfo=timezone.utc))  # 09:00 in Columbus
    assert not store.is_open(datetime(2026, 1, 12, 13, 59, tzinfo=timezone.utc))
    assert not store.is_open(datetime(2026, 1, 13, 15, 0, tzinfo=timezone.utc))  # Tuesday
