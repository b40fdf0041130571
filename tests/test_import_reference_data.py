"""Bulk import of reference data: products, locations and customers from CSV and JSON Lines, with
rejected rows (line, field, reason), idempotent re-runs (no new events), offline geocoding of a
location without coordinates, and `oms import` end to end."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from app.domain.imports import ImportFormat, ImportSummary, RowIssue
from app.domain.principals import Principal, Role
from app.services.container import Services
from app.services.import_lanes import lanes
from tests.factories import World
from tests.order_helpers import network

pytestmark = pytest.mark.usefixtures("reservations_consistent")

ROOT = Path(__file__).resolve().parent.parent
ADMIN = Principal(subject="test:importer", role=Role.ADMIN)


async def _chunks(data: bytes, size: int) -> AsyncIterator[bytes]:
    for start in range(0, len(data), size):
        yield data[start : start + size]


async def _import(
    services: Services, kind: str, text: str, fmt: ImportFormat = ImportFormat.CSV, *, batch_size: int = 500
) -> tuple[ImportSummary, list[RowIssue]]:
    issues: list[RowIssue] = []
    summary = await services.imports.run(
        ADMIN, kind, _chunks(text.encode(), 11), fmt, source="test.csv", on_rejected=issues.append, batch_size=batch_size
    )
    return summary, issues


def _jsonl(*rows: dict[str, Any]) -> str:
    return "".join(json.dumps(row) + "\n" for row in rows)


def _counts(summary: ImportSummary) -> tuple[int, int, int, int]:
    return (summary.rows_read, summary.written, summary.unchanged, summary.rejected)


def _rejections(issues: list[RowIssue]) -> list[tuple[int, str, str]]:
    return [(issue.line, issue.field, issue.reason) for issue in issues]


async def _events(services: Services, *types: str) -> list[dict[str, Any]]:
    return [doc async for doc in services.mongo.db["events"].find({"type": {"$in": list(types)}}).sort("_id", 1)]


async def _documents(services: Services, collection: str) -> list[dict[str, Any]]:
    return [doc async for doc in services.mongo.db[collection].find().sort("_id", 1)]


# --- products ----------------------------------------------------------------------------------------

PRODUCTS_CSV = """sku,name,price,weightGrams,lengthCm,widthCm,heightCm,handling,barcode,category,active
MUG-01,Stoneware mug,12.50,350,12,9,10,FRAGILE,4006381333931,Kitchen,
ICE-02,Ice packs (4),4.99,800,30,20,4,cold chain|fragile,,Outdoor,yes
OLD-03,Fondue set,39,2500,40,30,25,,,Kitchen,no
BAD-04,Broken row,12.345,0,12,9,,SHINY,4006381333932,,maybe
"""


async def test_products_from_csv_are_created_with_their_events_and_bad_rows_rejected(services: Services) -> None:
    summary, issues = await _import(services, "products", PRODUCTS_CSV)

    assert _counts(summary) == (4, 3, 0, 1)
    assert _rejections(issues) == [
        (5, "price", "at most two decimals; got '12.345'"),
        (5, "heightCm", "required"),
        (5, "active", "must be true or false; got 'maybe'"),
    ]
    products = {doc["_id"]: doc for doc in await _documents(services, "products")}
    assert sorted(products) == ["ICE-02", "MUG-01", "OLD-03"]
    assert (products["MUG-01"]["price"]["cents"], products["MUG-01"]["barcode"], products["MUG-01"]["handling"]) == (
        1250, "4006381333931", ["FRAGILE"]
    )
    assert products["ICE-02"]["handling"] == ["COLD_CHAIN", "FRAGILE"]
    assert products["ICE-02"]["dimensions"] == {"length_cm": 30.0, "width_cm": 20.0, "height_cm": 4.0}
    assert (products["OLD-03"]["active"], products["OLD-03"]["price"]["cents"]) == (False, 3900)
    events = await _events(services, "ProductCreated", "ProductUpdated")
    assert [(e["type"], e["sku"], e["reason"]) for e in events] == [
        ("ProductCreated", sku, "products import from test.csv") for sku in ("MUG-01", "ICE-02", "OLD-03")
    ]
    assert events[0]["actor"] == {"subject": "test:importer", "role": "ADMIN"}

    # A row's validation issues (the rules of upsertProducts) come back by column too.
    _, issues = await _import(services, "products", PRODUCTS_CSV.splitlines()[0] + "\nBAD-05,Bad,1,0,1,1,1,SHINY,4006381333932,,\n")
    assert _rejections(issues) == [
        (2, "weightGrams", "weight must be between 1 and 1,000,000 grams"),
        (2, "handling", "unknown handling flag 'SHINY'"),
        (2, "barcode", "check digit of 4006381333932 should be 1"),
    ]


async def test_a_product_rerun_writes_nothing_and_a_change_writes_only_its_row(services: Services) -> None:
    await _import(services, "products", PRODUCTS_CSV)
    stored = await _documents(services, "products")
    events = await services.mongo.db["events"].count_documents({})

    again, issues = await _import(services, "products", PRODUCTS_CSV)
    assert _counts(again) == (4, 0, 3, 1) and len(issues) == 3
    assert await _documents(services, "products") == stored
    assert await services.mongo.db["events"].count_documents({}) == events

    dearer = PRODUCTS_CSV.replace("Stoneware mug,12.50", "Stoneware mug,13.00")
    changed, _ = await _import(services, "products", dearer)
    assert _counts(changed) == (4, 1, 2, 1)
    updated = (await _events(services, "ProductUpdated"))[-1]
    assert (updated["sku"], updated["payload"]["changes"]["priceCents"]) == ("MUG-01", {"before": 1250, "after": 1300})


async def test_products_from_json_lines_nest_dimensions_and_repeats_and_taken_barcodes_are_handled(services: Services) -> None:
    await _import(services, "products", PRODUCTS_CSV)
    rows = _jsonl(
        {"sku": "LAMP-1", "name": "Desk lamp", "priceCents": 4500, "weightGrams": 1200,
         "dimensions": {"lengthCm": 40, "widthCm": 20.5, "heightCm": 15}, "handling": ["OVERSIZE"], "barcode": "036000291452"},
        {"sku": "LAMP-2", "name": "Floor lamp", "priceCents": 9900, "weightGrams": 5000,
         "dimensions": {"lengthCm": 160, "widthCm": 40, "heightCm": 40}, "barcode": "4006381333931"},  # MUG-01's
        {"sku": "LAMP-1", "name": "Desk lamp (black)", "price": "45.00", "weightGrams": 1200,
         "dimensions": {"lengthCm": 40, "widthCm": 20.5, "heightCm": 15}, "handling": "OVERSIZE", "barcode": "036000291452"},
        {"sku": "LAMP-3", "name": "Lamp", "priceCents": 100, "weightGrams": 10, "dimensions": {"depth": 1}},
        {"sku": "LAMP-4", "name": "Lamp", "priceCents": 100, "price": 1, "weightGrams": 10, "lengthCm": 1,
         "widthCm": 1, "heightCm": 1},
    )
    summary, issues = await _import(services, "products", rows, ImportFormat.JSONL)

    assert _counts(summary) == (5, 2, 0, 3)
    assert _rejections(issues) == [
        (2, "barcode", "barcode 4006381333931 already belongs to MUG-01"),
        (4, "dimensions.depth", "unknown field; expected lengthCm, widthCm, heightCm"),
        (5, "price", "give price or priceCents, not both"),
    ]
    lamp = await services.mongo.db["products"].find_one({"_id": "LAMP-1"})
    assert lamp is not None and (lamp["name"], lamp["dimensions"]["width_cm"], lamp["handling"]) == (
        "Desk lamp (black)", 20.5, ["OVERSIZE"]
    )
    # A SKU given twice in a file ends as its last row says, each change with its event.
    assert [e["type"] for e in await _events(services, "ProductCreated", "ProductUpdated") if e["sku"] == "LAMP-1"] == [
        "ProductCreated", "ProductUpdated"
    ]
    assert await services.mongo.db["products"].find_one({"_id": "LAMP-2"}) is None


async def test_a_product_batch_larger_than_upsert_products_takes_is_written_in_parts(services: Services) -> None:
    header = PRODUCTS_CSV.splitlines()[0]
    rows = "".join(f"P-{n:04d},Product {n},1.00,100,1,1,1,,,,\n" for n in range(501))
    summary, issues = await _import(services, "products", f"{header}\n{rows}", batch_size=600)
    assert (_counts(summary), issues) == ((501, 501, 0, 0), [])
    assert await services.mongo.db["products"].count_documents({}) == 501


# --- locations ---------------------------------------------------------------------------------------

LOCATIONS_CSV = """code,name,kind,timezone,line1,city,region,postalCode,country,lat,lng,ships,offersPickup,acceptsReturns,zones,bins,openingHours,priority
ST-MA-BOS-01,Boston Back Bay,STORE,America/New_York,500 Boylston St,Boston,MA,02116,US,42.3496,-71.0746,yes,yes,yes,FLOOR:Sales floor:1|BACK:Stock room:2,FLOOR-01-1-01|BACK-01-1-01,MON-FRI 09:00-21:00|SAT 10:00-18:00|SUN closed,5
DC-OH-COL,Columbus DC,distribution center,America/New_York,4000 Logistics Way,Columbus,OH,43215,US,,,true,false,false,A:Ambient|C:Cold room,,,
ST-XX-01,Nowhere,STORE,America/New_York,1 Main St,Nowhere,ZZ,00000,US,,,,,,,,,
ST-XX-02,Half a point,STORE,Mars/Olympus,1 Main St,Boston,MA,02116,US,42.35,,,,,,,,
ST-XX-03,Bad lists,KIOSK,America/New_York,1 Main St,Boston,MA,02116,US,,,,,,A:Aisle|A:Again,B-01-1-01,MON-FRY 09:00-17:00,
"""


async def test_locations_from_csv_geocode_what_has_no_coordinates_and_reject_bad_rows(services: Services) -> None:
    summary, issues = await _import(services, "locations", LOCATIONS_CSV)

    assert _counts(summary) == (5, 2, 0, 3)
    assert _rejections(issues) == [
        (4, "postalCode", "no coordinates found for postal code '00000' or city 'Nowhere' in US: give the point"),
        (5, "lng", "give lat and lng together, or neither (the address is then geocoded)"),
        (6, "openingHours", "entry 1 ('MON-FRY 09:00-17:00'): write it as DAYS HH:MM-HH:MM, e.g. MON-FRI 09:00-20:00"),
    ]
    store = await services.mongo.db["locations"].find_one({"_id": "ST-MA-BOS-01"})
    assert store is not None
    assert (store["point_source"], store["point"]["coordinates"], store["priority"]) == ("GIVEN", [-71.0746, 42.3496], 5)
    assert store["capabilities"] == {"ships": True, "offers_pickup": True, "accepts_returns": True}
    assert store["zones"] == [{"code": "FLOOR", "name": "Sales floor", "walk_order": 1}, {"code": "BACK", "name": "Stock room", "walk_order": 2}]
    assert store["bins"] == [{"code": "FLOOR-01-1-01", "zone": "FLOOR"}, {"code": "BACK-01-1-01", "zone": "BACK"}]
    assert [(h["weekday"], h["opens"], h["closes"]) for h in store["opening_hours"]] == [
        *((day, "09:00", "21:00") for day in ("MONDAY", "TUESDAY", "WEDNESDAY", "THURSDAY", "FRIDAY")),
        ("SATURDAY", "10:00", "18:00"),
    ]
    dc = await services.mongo.db["locations"].find_one({"_id": "DC-OH-COL"})
    assert dc is not None and (dc["kind"], dc["point_source"]) == ("DISTRIBUTION_CENTER", "POSTAL_CODE")
    assert 39.9 < dc["point"]["coordinates"][1] < 40.0 and -83.1 < dc["point"]["coordinates"][0] < -82.9
    assert dc["zones"] == [{"code": "A", "name": "Ambient", "walk_order": 1}, {"code": "C", "name": "Cold room", "walk_order": 2}]
    events = await _events(services, "LocationCreated", "LocationUpdated")
    assert sorted((e["type"], e["location_id"], e["reason"]) for e in events) == [
        ("LocationCreated", "DC-OH-COL", "locations import from test.csv"),
        ("LocationCreated", "ST-MA-BOS-01", "locations import from test.csv"),
    ]

    # Validation issues of the row's draft come back by column, with the list item named.
    one = LOCATIONS_CSV.splitlines()[0] + "\n" + LOCATIONS_CSV.splitlines()[5].replace("MON-FRY", "MON-FRI") + "\n"
    _, issues = await _import(services, "locations", one)
    assert _rejections(issues) == [
        (2, "kind", "kind is STORE, DISTRIBUTION_CENTER or DROP_SHIP"),
        (2, "zones", "zone 2 (A): zone A is listed twice"),
        (2, "bins", "bin B-01-1-01: unknown zone 'B': list it under zones"),
    ]


async def test_a_location_rerun_writes_nothing_even_for_geocoded_points(services: Services) -> None:
    await _import(services, "locations", LOCATIONS_CSV)
    stored = await _documents(services, "locations")
    events = await services.mongo.db["events"].count_documents({})

    again, _ = await _import(services, "locations", LOCATIONS_CSV, batch_size=2)

    assert _counts(again) == (5, 0, 2, 3)
    assert await _documents(services, "locations") == stored
    assert await services.mongo.db["events"].count_documents({}) == events


async def test_locations_from_json_lines_nest_like_the_api_and_a_move_refreshes_inventory_copies(
    world: World, services: Services
) -> None:
    await network(world)  # ST-BOS holds stock: its inventory documents copy its point
    rows = _jsonl(
        {
            "code": "ST-BOS", "name": "Boston (moved)", "kind": "STORE", "timezone": "America/New_York",
            "address": {"line1": "100 Cambridge St", "city": "Boston", "region": "MA", "postalCode": "02114"},
            "point": {"lat": 42.3611, "lng": -71.0621},
            "capabilities": {"ships": True, "offersPickup": True},
            "zones": [{"code": "A", "name": "Zone A", "walkOrder": 1}, {"code": "B", "name": "Zone B", "walkOrder": 2}],
            "bins": ["A-01-1-01", {"code": "B-02-1-01", "zone": "B"}],
            "openingHours": [{"weekday": "MONDAY", "opens": "08:00", "closes": "20:00"}, "SAT,SUN 10:00-16:00"],
            "handlingCostCents": 150,
        },
        {"code": "ST-PVD", "name": "Providence", "kind": "STORE", "timezone": "America/New_York",
         "address": {"line1": "1 Kennedy Plaza", "city": "Providence", "postalCode": "02903", "country": "us"}},
        {"code": "ST-BAD", "name": "Bad", "kind": "STORE", "timezone": "America/New_York", "address": {"street": "x"}},
    )
    summary, issues = await _import(services, "locations", rows, ImportFormat.JSONL)

    assert _counts(summary) == (3, 2, 0, 1)
    assert _rejections(issues) == [(3, "address.street", "unknown field; expected line1, line2, city, region, postalCode, country, name, phone")]
    moved = await services.mongo.db["locations"].find_one({"_id": "ST-BOS"})
    assert moved is not None and (moved["name"], moved["handling_cost_cents"], moved["version"]) == ("Boston (moved)", 150, 1)
    assert [(h["weekday"], h["opens"]) for h in moved["opening_hours"]] == [("MONDAY", "08:00"), ("SATURDAY", "10:00"), ("SUNDAY", "10:00")]
    assert moved["bins"] == [{"code": "A-01-1-01", "zone": "A"}, {"code": "B-02-1-01", "zone": "B"}]
    # The import reports once the copies storeAvailability reads are current: no refresh left owed.
    copies = [doc["point"]["coordinates"] async for doc in services.mongo.db["inventory"].find({"location_id": "ST-BOS"})]
    assert copies and all(point == [-71.0621, 42.3611] for point in copies)
    assert not moved.get("copies_pending")
    pvd = await services.mongo.db["locations"].find_one({"_id": "ST-PVD"})
    assert pvd is not None and (pvd["point_source"], pvd["address"]["country"]) == ("POSTAL_CODE", "US")
    updated = (await _events(services, "LocationUpdated"))[0]
    assert {"name", "point", "handlingCostCents"} <= set(updated["payload"]["changes"])


# --- customers ---------------------------------------------------------------------------------------

CUSTOMERS_CSV = """firstName,lastName,email,phone,channel,externalId,line1,city,region,postalCode,country
Ada,Lovelace,ada@example.com,+1 617 555 0101,web,W-ADA,1 Beacon St,Boston,MA,02108,US
,,ADA@example.com,,amazon,AMZ-9,,,,,
Grace,Hopper,,,pos,LOY-7,,,,,
Alan,Turing,alan@example.com,,tiktok,T-1,,,,,
Eve,,ada@example.com,,web,W-EVE,,,,,
Bob,,bob@example,,,,,,,,
"""


async def test_customers_from_csv_are_matched_added_to_and_rejected_by_column(world: World, services: Services) -> None:
    summary, issues = await _import(services, "customers", CUSTOMERS_CSV)

    assert _counts(summary) == (6, 3, 0, 3)
    assert [(line, field) for line, field, _ in _rejections(issues)] == [(5, "channel"), (6, "channel"), (7, "email")]
    assert issues[0].reason == "unknown channel 'tiktok'"
    assert issues[1].reason.startswith("the customer this row matches is known on web as 'W-ADA', not 'W-EVE'")
    assert issues[2].reason == "is not an email address"
    customers = {doc["email"] or doc["first_name"]: doc for doc in await _documents(services, "customers")}
    assert sorted(customers) == ["Grace", "ada@example.com"]
    ada = customers["ada@example.com"]
    # The second row matched Ada by email and added its Amazon identity to her web one.
    assert (ada["first_name"], ada["phone"]) == ("Ada", "+16175550101")
    assert ada["identities"] == [{"channel_id": "web", "external_id": "W-ADA"}, {"channel_id": "amazon", "external_id": "AMZ-9"}]
    assert [(a["line1"], a["postal_code"]) for a in ada["addresses"]] == [("1 Beacon St", "02108")]
    events = await _events(services, "CustomerCreated", "CustomerUpdated")
    # Rows about different people run side by side: their events may interleave.
    assert sorted((e["type"], e["customer_id"] == ada["_id"], e["payload"]["changed"]) for e in events) == [
        ("CustomerCreated", False, ["firstName", "lastName", "identities"]),
        ("CustomerCreated", True, ["firstName", "lastName", "email", "phone", "addresses", "identities"]),
        ("CustomerUpdated", True, ["identities"]),
    ]
    assert events[0]["reason"] == "customers import from test.csv"

    count = await services.mongo.db["events"].count_documents({})
    again, _ = await _import(services, "customers", CUSTOMERS_CSV)
    assert _counts(again) == (6, 0, 3, 3)
    assert await services.mongo.db["events"].count_documents({}) == count


async def test_customers_from_json_lines_take_lists_and_a_rerun_changes_nothing(world: World, services: Services) -> None:
    rows = _jsonl(
        {"firstName": "Ada", "email": "ada@example.com",
         "identities": [{"channel": "web", "externalId": "W-ADA"}, {"channel": "pos", "externalId": "LOY-1"}],
         "addresses": [{"line1": "1 Beacon St", "city": "Boston", "postalCode": "02108"},
                       {"line1": "10 Downing St", "city": "London", "postalCode": "SW1A 2AA", "country": "GB", "name": "Office"}]},
        {"lastName": "Lovelace", "identities": "pos:LOY-1|amazon:AMZ-9",
         "addresses": [{"line1": "1 beacon st", "city": "BOSTON", "postalCode": "02108"}]},
        {"email": "x@example.com", "identities": ["web"]},
        {"email": "y@example.com", "addresses": [{"line1": "1 Main St", "city": "Boston", "zip": "02108"}]},
    )
    summary, issues = await _import(services, "customers", rows, ImportFormat.JSONL)

    assert _counts(summary) == (4, 2, 0, 2)
    assert _rejections(issues) == [
        (3, "identities", "identity 1: write it as channel:externalId or {channel, externalId}"),
        (4, "addresses", "address 1: unknown field 'zip'; expected line1, line2, city, region, postalCode, country, name, phone"),
    ]
    (ada,) = await _documents(services, "customers")
    assert (ada["first_name"], ada["last_name"]) == ("Ada", "Lovelace")
    assert [i["external_id"] for i in ada["identities"]] == ["W-ADA", "LOY-1", "AMZ-9"]
    assert [a["city"] for a in ada["addresses"]] == ["Boston", "London"]  # the same place twice is one address

    count = await services.mongo.db["events"].count_documents({})
    again, _ = await _import(services, "customers", rows, ImportFormat.JSONL)
    assert _counts(again) == (4, 0, 2, 2)
    assert await services.mongo.db["events"].count_documents({}) == count


def test_rows_sharing_a_key_share_a_lane_in_file_order() -> None:
    rows = [{"a"}, {"b"}, {"c", "a"}, {"d"}, {"b", "d"}, set()]
    assert sorted(lanes(rows, lambda keys: keys)) == [[0, 2], [1, 3, 4], [5]]


async def test_a_repeated_location_code_ends_as_its_last_row_says(services: Services) -> None:
    header, boston = LOCATIONS_CSV.splitlines()[:2]
    renamed = boston.replace("Boston Back Bay", "Back Bay (renamed)")
    summary, _ = await _import(services, "locations", f"{header}\n{boston}\n{renamed}\n{boston}\n")
    assert _counts(summary) == (3, 3, 0, 0)
    store = await services.mongo.db["locations"].find_one({"_id": "ST-MA-BOS-01"})
    assert store is not None and (store["name"], store["version"]) == ("Boston Back Bay", 3)


# --- over HTTP, and the command ----------------------------------------------------------------------


async def test_http_import_of_products_for_an_admin(services: Services, http: httpx.AsyncClient, admin_token: str) -> None:
    body = _jsonl({"sku": "MUG-01", "name": "Mug", "priceCents": 1250, "weightGrams": 350, "lengthCm": 12, "widthCm": 9, "heightCm": 10})
    answer = await http.post("/imports/products", content=body, headers={"content-type": "application/x-ndjson", "X-API-Key": admin_token})
    assert answer.status_code == 200, answer.text
    assert {k: answer.json()[k] for k in ("kind", "rowsRead", "written", "rejected")} == {"kind": "products", "rowsRead": 1, "written": 1, "rejected": 0}
    _, csr = await services.auth.create_api_key(name="csr", role=Role.CSR)
    refused = await http.post("/imports/customers", content=b"email\nx@example.com\n", headers={"content-type": "text/csv", "X-API-Key": csr})
    assert (refused.status_code, refused.json()["code"]) == (403, "FORBIDDEN")
    assert await services.mongo.db["customers"].count_documents({}) == 0


def _oms(*args: str, mongodb_uri: str, database: str) -> subprocess.CompletedProcess[bytes]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("OMS_") and k != "MONGODB_URI"}
    env |= {"MONGODB_URI": mongodb_uri, "OMS_DB_NAME": database, "OMS_LOG_LEVEL": "WARNING"}
    return subprocess.run([sys.executable, "-m", "app.cli", *args], cwd=ROOT, env=env, capture_output=True, timeout=120)


async def test_oms_import_locations_end_to_end(services: Services, mongodb_uri: str, database_name: str, tmp_path: Path) -> None:
    feed = tmp_path / "locations.csv"
    feed.write_text(LOCATIONS_CSV)
    rejects = tmp_path / "rejects.csv"

    def run() -> subprocess.CompletedProcess[bytes]:
        return _oms("import", "locations", str(feed), "--rejects", str(rejects), mongodb_uri=mongodb_uri, database=database_name)

    first = await asyncio.to_thread(run)
    assert first.returncode == 3, first.stderr.decode()
    assert first.stdout.decode().startswith("locations import from locations.csv: 5 rows read, 2 written, 0 unchanged, 3 rejected; ")
    assert rejects.read_text().splitlines()[1] == (
        "4,postalCode,INVALID_INPUT,no coordinates found for postal code '00000' or city 'Nowhere' in US: give the point"
    )
    dc = await services.mongo.db["locations"].find_one({"_id": "DC-OH-COL"})
    assert dc is not None and dc["point_source"] == "POSTAL_CODE"
    created = await _events(services, "LocationCreated")
    assert len(created) == 2 and created[0]["actor"]["subject"].startswith("cli:")

    again = await asyncio.to_thread(run)
    assert again.returncode == 3
    assert "5 rows read, 0 written, 2 unchanged, 3 rejected" in again.stdout.decode()
    assert len(await _events(services, "LocationCreated", "LocationUpdated")) == 2
