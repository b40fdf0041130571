"""Bulk stock import: CSV and JSON Lines through the inventory path, rejected rows, idempotent
re-runs, reservations left alone, backorders filled, transient conflicts retried; the HTTP upload
and the `oms import` command."""

from __future__ import annotations

import asyncio
import csv
import io
import json
import os
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from pymongo import monitoring

from app.domain.imports import ImportFormat, ImportRefused, ImportSummary, RowIssue, RowReader
from app.domain.principals import SYSTEM, Principal, Role
from app.domain.stock_import import STOCK_COLUMNS
from app.repositories.database import Mongo, connect
from app.services.container import Services, build_services
from app.services.imports import ImportStopped
from app.settings import Settings
from tests.factories import World
from tests.order_helpers import capture_input, capture_request, network
from tests.security_helpers import client_for

pytestmark = pytest.mark.usefixtures("reservations_consistent")

ROOT = Path(__file__).resolve().parent.parent
ADMIN = Principal(subject="test:importer", role=Role.ADMIN)
HEADER = "sku,location,onHand,safetyStock,reorderPoint,reorderQuantity,bin\n"


async def _chunks(data: bytes, size: int) -> AsyncIterator[bytes]:
    for start in range(0, len(data), size):
        yield data[start : start + size]


async def _import(
    services: Services,
    text: str,
    fmt: ImportFormat = ImportFormat.CSV,
    *,
    chunk: int = 7,
    batch_size: int = 500,
    principal: Principal = ADMIN,
) -> tuple[ImportSummary, list[RowIssue]]:
    """Small chunks on purpose: rows and multi-byte characters straddle chunk boundaries."""
    issues: list[RowIssue] = []
    summary = await services.imports.run(
        principal, "stock", _chunks(text.encode(), chunk), fmt, source="test.csv", on_rejected=issues.append,
        batch_size=batch_size,
    )
    return summary, issues


async def _level(services: Services, key: str) -> dict[str, Any] | None:
    return await services.mongo.db["inventory"].find_one({"_id": key}, {"updated_at": 0})


async def _movements(services: Services, **match: Any) -> list[dict[str, Any]]:
    query = {"type": "StockLevelChanged", **match}
    return [doc async for doc in services.mongo.db["events"].find(query).sort("_id", 1)]


def _counts(summary: ImportSummary) -> tuple[int, int, int, int]:
    return (summary.rows_read, summary.written, summary.unchanged, summary.rejected)


# --- the file: rows, lines, coercion ---------------------------------------------------------------


def test_rows_are_read_the_same_whatever_the_chunk_boundaries() -> None:
    data = (
        "\ufeffSKU,Location,On Hand,safety_stock,bin\r\n"
        "SKU-1,ST-BOS,5,,A-01-2-03\r\n"
        "\r\n"
        '"SKU-2","ST-BOS","7",1,"Z-1-2-3"\n'
        '"SKU-Ü ""quoted""\nsecond line",ST-BOS,1\n'
        "SKU-3,ST-BOS,abc\n"
    ).encode()

    def read(size: int) -> list[object]:
        reader = RowReader(ImportFormat.CSV, STOCK_COLUMNS)
        out: list[object] = []
        for start in range(0, len(data), size):
            out += reader.feed(data[start : start + size])
        return out + reader.finish()

    whole = read(len(data))
    assert [read(size) for size in (1, 2, 3, 5, 64)] == [whole] * 5
    assert [(row.line, dict(row.values)) for row in whole] == [  # type: ignore[attr-defined]
        (2, {"sku": "SKU-1", "location": "ST-BOS", "onHand": "5", "bin": "A-01-2-03"}),
        (4, {"sku": "SKU-2", "location": "ST-BOS", "onHand": "7", "safetyStock": "1", "bin": "Z-1-2-3"}),
        (5, {"sku": 'SKU-Ü "quoted"\nsecond line', "location": "ST-BOS", "onHand": "1"}),
        (7, {"sku": "SKU-3", "location": "ST-BOS", "onHand": "abc"}),
    ]


def test_a_header_with_unknown_or_missing_columns_refuses_the_file() -> None:
    with pytest.raises(ImportRefused, match="unknown column 'qty'"):
        RowReader(ImportFormat.CSV, STOCK_COLUMNS).feed(b"sku,location,qty\nSKU-1,ST-BOS,1\n")
    with pytest.raises(ImportRefused, match="no onHand column"):
        RowReader(ImportFormat.CSV, STOCK_COLUMNS).feed(b"sku,location\n")
    with pytest.raises(ImportRefused, match="more than once"):
        RowReader(ImportFormat.CSV, STOCK_COLUMNS).feed(b"sku,location,onHand,on_hand\n")


def test_an_overlong_record_is_rejected_and_reading_goes_on() -> None:
    reader = RowReader(ImportFormat.CSV, STOCK_COLUMNS, max_record_bytes=40)
    out = reader.feed(b"sku,location,onHand\nA,B,1\n" + b"x" * 100 + b'\nC,D,2\n"never closed,' + b"y" * 60 + b"\nE,F,3\n")
    out += reader.finish()
    assert [(item.line, type(item).__name__) for item in out] == [  # type: ignore[union-attr]
        (2, "SourceRow"), (3, "RowIssue"), (4, "SourceRow"), (5, "RowIssue"), (6, "SourceRow"),
    ]


# --- writing stock ---------------------------------------------------------------------------------


async def test_a_csv_import_sets_counts_creates_levels_and_records_import_movements(world: World, services: Services) -> None:
    await network(world)
    summary, issues = await _import(services, HEADER + "SKU-1,ST-BOS,8,,,,\nSKU-3,ST-BOS,4,1,2,10,A-01-2-03\n")

    assert issues == [] and _counts(summary) == (2, 2, 0, 0)
    counted = await _level(services, "SKU-1@ST-BOS")
    assert counted is not None and (counted["on_hand"], counted["reserved"], counted["available"]) == (8, 0, 8)
    created = await _level(services, "SKU-3@ST-BOS")
    assert created is not None
    # A new level carries the location's kind and point (the geo query reads them) and the row's policy and bin.
    assert (created["location_kind"], created["point"]["type"]) == ("STORE", "Point")
    assert (created["on_hand"], created["reserved"], created["safety_stock"], created["available"]) == (4, 0, 1, 3)
    assert (created["reorder_point"], created["reorder_quantity"]) == (2, 10)
    assert created["bin"] == {"zone": "A", "aisle": "01", "shelf": "2", "bin": "03"}

    events = await _movements(services)
    assert [(e["sku"], e["location_id"], e["payload"]["cause"], e["payload"]["onHandDelta"], e["payload"]["reservedDelta"])
            for e in events] == [("SKU-1", "ST-BOS", "IMPORT", 3, 0), ("SKU-3", "ST-BOS", "IMPORT", 4, 0)]
    assert [e["payload"]["importLine"] for e in events] == [2, 3]
    assert len({e["payload"]["importId"] for e in events}) == 1
    assert events[1]["payload"] | {"importId": None} == {
        "onHand": 4, "reserved": 0, "safetyStock": 1, "incoming": 0, "available": 3, "previousAvailable": 0,
        "reorderPoint": 2, "reorderQuantity": 10, "cause": "IMPORT", "onHandDelta": 4, "reservedDelta": 0,
        "importId": None, "importLine": 3,
    }
    assert events[0]["actor"] == {"subject": "test:importer", "role": "ADMIN"}
    assert events[0]["reason"] == "stock import from test.csv"


async def test_json_lines_import_the_same_as_csv(world: World, services: Services) -> None:
    await network(world)
    lines = [
        {"sku": "SKU-1", "location": "ST-BOS", "onHand": 8},
        {"SKU": "SKU-3", "Location": "ST-BOS", "on_hand": "4", "safetyStock": 1, "reorderPoint": 2.0,
         "reorderQuantity": 10, "bin": "A-01-2-03"},
        {"sku": "SKU-2", "location": "ST-BOS", "onHand": 1.5},
        {"sku": "SKU-2", "location": "ST-BOS", "onHand": 1, "colour": "red"},
    ]
    text = "\n".join(json.dumps(line) for line in lines) + "\n\nnot json\n[1]\n"
    summary, issues = await _import(services, text, ImportFormat.JSONL)

    assert _counts(summary) == (6, 2, 0, 4)
    assert [(i.line, i.field) for i in issues] == [(3, "onHand"), (4, "colour"), (6, ""), (7, "")]
    assert issues[0].reason == "must be a whole number; got '1.5'"
    created = await _level(services, "SKU-3@ST-BOS")
    assert created is not None and (created["on_hand"], created["available"], created["reorder_point"]) == (4, 3, 2)
    assert (await _level(services, "SKU-1@ST-BOS"))["on_hand"] == 8  # type: ignore[index]


async def test_rejected_rows_say_line_field_and_reason_and_write_nothing(world: World, services: Services) -> None:
    await network(world)
    before = await _level(services, "SKU-2@ST-BOS")
    text = HEADER + "\n".join(
        [
            "SKU-NOPE,ST-BOS,3,,,,",  # 2
            "SKU-2,ST-NOPE,3,,,,",  # 3
            "SKU-2,ST-BOS,abc,,,,",  # 4
            "SKU-2,ST-BOS,-1,,,,",  # 5
            ",ST-BOS,3,,,,",  # 6
            'SKU-2,ST-BOS,3,,,,"A-1"',  # 7
            '"SKU-2","ST-BOS","3","1","2","3","A-1-1-1","extra"',  # 8
            '"SKU-3","ST-BOS","5","","","","B-1-1',  # 9: a quoted value over two lines (numbered by its first)
            '-1"',  # 10
            "SKU-2,ST-BOS,2000000,,,,",  # 11
            "SKU-2,ST-BOS,x,,y,,",  # 12: two issues, one row
            "SKU-1,DC-CHI,90,,,,",  # 13: the only valid row
        ]
    ) + "\n"
    summary, issues = await _import(services, text, batch_size=4)

    assert _counts(summary) == (11, 1, 0, 10) and summary.issues == 11
    assert [(i.line, i.field, i.code.value) for i in issues] == [
        (2, "sku", "UNKNOWN_SKU"),
        (3, "location", "NOT_FOUND"),
        (4, "onHand", "INVALID_INPUT"),
        (5, "onHand", "INVALID_INPUT"),
        (6, "sku", "INVALID_INPUT"),
        (7, "bin", "INVALID_INPUT"),
        (8, "", "INVALID_INPUT"),
        (9, "bin", "INVALID_INPUT"),
        (11, "onHand", "INVALID_INPUT"),
        (12, "onHand", "INVALID_INPUT"),
        (12, "reorderPoint", "INVALID_INPUT"),
    ]
    assert [i.reason for i in issues[:9]] == [
        "unknown SKU 'SKU-NOPE'",
        "unknown location 'ST-NOPE'",
        "must be a whole number; got 'abc'",
        "must be between 0 and 1000000; got -1",
        "required",
        "must be zone-aisle-shelf-bin, e.g. A-03-2-15; got 'A-1'",
        "8 values, but the header has 7 columns",
        "must not contain line breaks or control characters",
        "must be between 0 and 1000000; got 2000000",
    ]
    assert await _level(services, "SKU-2@ST-BOS") == before
    assert await _level(services, "SKU-3@ST-BOS") is None
    assert (await _level(services, "SKU-1@DC-CHI"))["on_hand"] == 90  # type: ignore[index]
    assert [(e["sku"], e["location_id"]) for e in await _movements(services)] == [("SKU-1", "DC-CHI")]


async def test_a_rerun_changes_nothing_and_emits_no_events(world: World, services: Services) -> None:
    await network(world)
    text = HEADER + "SKU-1,ST-BOS,8,1,,,\nSKU-3,ST-NYC,4,,,,B-2-1-1\nSKU-2,ST-CAM,6,,,,\n"
    first, _ = await _import(services, text, batch_size=2)
    levels = [doc async for doc in services.mongo.db["inventory"].find().sort("_id", 1)]
    events = await services.mongo.db["events"].count_documents({})

    second, _ = await _import(services, text, batch_size=2)

    assert _counts(first) == (3, 2, 1, 0)  # SKU-2 at ST-CAM already had 6
    assert _counts(second) == (3, 0, 3, 0)
    assert [doc async for doc in services.mongo.db["inventory"].find().sort("_id", 1)] == levels
    assert await services.mongo.db["events"].count_documents({}) == events


async def test_a_level_repeated_in_a_file_is_set_in_file_order(world: World, services: Services) -> None:
    await network(world)
    summary, _ = await _import(services, HEADER + "SKU-3,ST-NYC,4,,,,\nSKU-1,ST-BOS,5,,,,\nSKU-3,ST-NYC,6,,,,\n", batch_size=2)
    assert _counts(summary) == (3, 2, 1, 0)
    assert [(e["payload"]["onHand"], e["payload"]["onHandDelta"]) for e in await _movements(services)] == [(4, 4), (6, 2)]


async def test_reserved_is_never_touched_and_a_count_below_it_is_refused(world: World, services: Services) -> None:
    await network(world)
    given = capture_input("W-1", lines=[{"sku": "SKU-1", "quantity": 3, "unitPriceCents": 1000}])
    await services.order_capture.capture(SYSTEM, capture_request(given))  # reserves 3 in Boston (5 on hand)
    assert (await _level(services, "SKU-1@ST-BOS"))["reserved"] == 3  # type: ignore[index]

    refused, issues = await _import(services, HEADER + "SKU-1,ST-BOS,2,,,,\n")
    assert _counts(refused) == (1, 0, 0, 1)
    assert (issues[0].field, issues[0].code.value) == ("onHand", "INSUFFICIENT_STOCK")
    assert issues[0].reason.startswith("2 on hand is below the 3 units reserved for open orders of SKU-1 at ST-BOS")

    counted, _ = await _import(services, HEADER + "SKU-1,ST-BOS,9,2,,,\n")
    assert _counts(counted) == (1, 1, 0, 0)
    level = await _level(services, "SKU-1@ST-BOS")
    assert level is not None and (level["on_hand"], level["reserved"], level["safety_stock"], level["available"]) == (9, 3, 2, 4)
    assert [e["payload"]["reservedDelta"] for e in await _movements(services, **{"payload.cause": "IMPORT"})] == [0]


async def test_an_import_fills_backorders_waiting_for_the_sku(world: World, services: Services) -> None:
    await network(world)
    given = capture_input("W-A", lines=[{"sku": "SKU-HOT", "quantity": 12, "unitPriceCents": 9900}])
    order_id = (await services.order_capture.capture(SYSTEM, capture_request(given))).order.id  # 10 reserved, 2 waiting

    summary, _ = await _import(services, HEADER + "SKU-HOT,DC-CHI,14,,,,\nSKU-1,ST-BOS,5,,,,\n")

    assert (summary.written, summary.unchanged, summary.backorders_filled) == (1, 1, 1)
    order = await services.mongo.db["orders"].find_one({"_id": order_id})
    assert order["status"] == "ALLOCATED" and "backordered_skus" not in order
    level = await _level(services, "SKU-HOT@DC-CHI")
    assert level is not None and (level["on_hand"], level["reserved"], level["available"]) == (14, 12, 2)
    causes = [e["payload"]["cause"] for e in await _movements(services, sku="SKU-HOT")]
    assert causes[-2:] == ["IMPORT", "RESERVATION"]
    assert await services.mongo.db["events"].count_documents({"type": "OrderAllocated", "order_id": order_id}) == 1


class _WriteConflicts(monitoring.CommandListener):
    def __init__(self) -> None:
        self.seen = 0

    def started(self, event: monitoring.CommandStartedEvent) -> None:
        pass

    def succeeded(self, event: monitoring.CommandSucceededEvent) -> None:
        if any(e.get("code") == 112 for e in (event.reply.get("writeErrors") or [])):
            self.seen += 1

    def failed(self, event: monitoring.CommandFailedEvent) -> None:
        if getattr(event.failure, "get", None) and event.failure.get("code") == 112:
            self.seen += 1


async def test_a_batch_that_meets_a_write_conflict_is_retried_whole(
    world: World, services: Services, mongodb_uri: str, database_name: str
) -> None:
    await network(world)
    conflicts = _WriteConflicts()
    watched = Mongo(connect(mongodb_uri, event_listeners=[conflicts]), database_name)
    importer = build_services(watched, scheduler_interval_seconds=0)
    try:
        async with services.mongo.client.start_session() as other:
            # Another writer holds SKU-1 at Boston in an open transaction.
            await other.start_transaction()
            await services.mongo.db["inventory"].update_one({"_id": "SKU-1@ST-BOS"}, {"$set": {"note": "busy"}}, session=other)
            running = asyncio.create_task(_import(importer, HEADER + "SKU-3,DC-CHI,41,,,,\nSKU-1,ST-BOS,7,,,,\n"))
            while not conflicts.seen:
                assert not running.done(), running.result()
                await asyncio.sleep(0.01)
            await other.abort_transaction()
        summary, _ = await running
    finally:
        await watched.close()

    assert _counts(summary) == (2, 2, 0, 0)
    assert (await _level(services, "SKU-1@ST-BOS"))["on_hand"] == 7  # type: ignore[index]
    # One attempt committed: each row once, with one event each.
    assert [(e["sku"], e["payload"]["onHandDelta"]) for e in await _movements(services)] == [("SKU-3", 1), ("SKU-1", 2)]


async def test_an_input_that_fails_part_way_leaves_whole_batches_and_nothing_else(world: World, services: Services) -> None:
    await network(world)
    text = HEADER + "SKU-1,ST-BOS,6,,,,\nSKU-2,ST-BOS,3,,,,\nSKU-3,DC-CHI,1,,,,\nSKU-1,DC-CHI,1"

    async def cut_off() -> AsyncIterator[bytes]:
        yield text.encode()[:-5]
        raise ConnectionResetError("the client went away")

    with pytest.raises(ImportStopped) as stopped:
        await services.imports.run(ADMIN, "stock", cut_off(), ImportFormat.CSV, source="test.csv", batch_size=2)

    assert _counts(stopped.value.summary) == (2, 2, 0, 0)
    assert stopped.value.summary.stopped == "ConnectionResetError: the client went away"
    assert (await _level(services, "SKU-3@DC-CHI"))["on_hand"] == 40  # type: ignore[index]
    assert len(await _movements(services)) == 2


async def test_only_admins_import_and_unknown_kinds_are_not_found(world: World, services: Services) -> None:
    await network(world)
    from app.domain.errors import Forbidden, NotFound

    with pytest.raises(Forbidden):
        await _import(services, HEADER, principal=Principal(subject="x", role=Role.WAREHOUSE, location_ids=frozenset({"DC-CHI"})))
    with pytest.raises(NotFound, match="kinds: stock"):
        await services.imports.run(ADMIN, "pallets", _chunks(b"", 1), ImportFormat.CSV, source="x")
    assert services.imports.kinds == ("stock", "products", "locations", "customers")


# --- HTTP ------------------------------------------------------------------------------------------


async def _tokens(services: Services) -> dict[str, str | None]:
    async def key(role: Role, **scope: Any) -> str:
        return (await services.auth.create_api_key(name=f"import-{role}", role=role, **scope))[1]

    return {
        "ADMIN": await key(Role.ADMIN),
        "CSR": await key(Role.CSR),
        "STORE_STAFF": await key(Role.STORE_STAFF, location_ids=frozenset({"ST-BOS"})),
        "WAREHOUSE": await key(Role.WAREHOUSE, location_ids=frozenset({"DC-CHI"})),
        "CHANNEL": await key(Role.CHANNEL, channel_id="web"),
        "CUSTOMER": await key(Role.CUSTOMER, customer_id="c-1"),
        "ANONYMOUS": None,
    }


def _auth(token: str | None) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"} if token else {}


async def _fingerprint(services: Services) -> list[Any]:
    return [
        [{k: v for k, v in doc.items() if k != "seq"} async for doc in services.mongo.db[name].find().sort("_id", 1)]
        for name in ("inventory", "events", "orders", "products", "locations")
    ]


async def test_http_import_for_admins_answers_a_summary_with_the_first_rejections(
    world: World, services: Services, http: httpx.AsyncClient
) -> None:
    await network(world)
    token = (await _tokens(services))["ADMIN"]
    bad = "".join(f"SKU-NOPE-{n},ST-BOS,1,,,,\n" for n in range(120))
    body = HEADER + "SKU-1,ST-BOS,8,,,,\n" + bad
    response = await http.post("/imports/stock", content=body.encode(), headers={"content-type": "text/csv; charset=utf-8", **_auth(token)})

    assert response.status_code == 200, response.text
    answer = response.json()
    assert {k: answer[k] for k in ("kind", "format", "rowsRead", "written", "unchanged", "rejected", "complete", "moreRejections")} == {
        "kind": "stock", "format": "csv", "rowsRead": 121, "written": 1, "unchanged": 0, "rejected": 120,
        "complete": True, "moreRejections": 20,
    }
    assert answer["rejections"][0] == {"line": 3, "field": "sku", "code": "UNKNOWN_SKU", "reason": "unknown SKU 'SKU-NOPE-0'"}
    assert len(answer["rejections"]) == 100 and answer["bytesRead"] == len(body)

    jsonl = json.dumps({"sku": "SKU-1", "location": "ST-BOS", "onHand": 9}) + "\n"
    response = await http.post("/imports/stock", content=jsonl, headers={"content-type": "application/x-ndjson", **_auth(token)})
    assert (response.status_code, response.json()["written"]) == (200, 1)
    event = (await _movements(services))[-1]
    assert event["actor"] == {"subject": "apikey:import-ADMIN", "role": "ADMIN"}
    assert event["reason"] == "stock import from upload by apikey:import-ADMIN"


async def test_http_import_is_refused_to_everyone_but_admins_and_writes_nothing(
    world: World, services: Services, http: httpx.AsyncClient
) -> None:
    await network(world)
    tokens = await _tokens(services)
    before = await _fingerprint(services)
    for caller, token in tokens.items():
        if caller == "ADMIN":
            continue
        response = await http.post(
            "/imports/stock", content=(HEADER + "SKU-1,ST-BOS,99,,,,\n").encode(), headers={"content-type": "text/csv", **_auth(token)}
        )
        expected = (401, "UNAUTHENTICATED") if caller == "ANONYMOUS" else (403, "FORBIDDEN")
        assert (response.status_code, response.json()["code"]) == expected, (caller, response.text)
    response = await http.post("/imports/stock", content=b"x", headers={"content-type": "text/csv", "Authorization": "Bearer oms_nope_nope"})
    assert (response.status_code, response.json()["code"]) == (401, "INVALID_CREDENTIAL")
    assert await _fingerprint(services) == before

    admin = _auth(tokens["ADMIN"])
    assert (await http.post("/imports/pallets", content=b"a\n", headers={"content-type": "text/csv", **admin})).status_code == 404
    refused = await http.post("/imports/stock", content=b"a\n", headers={"content-type": "text/plain", **admin})
    assert (refused.status_code, refused.json()["code"]) == (415, "UNSUPPORTED_MEDIA_TYPE")
    header = await http.post("/imports/stock", content=b"sku,qty\n", headers={"content-type": "text/csv", **admin})
    assert (header.status_code, header.json()["code"], header.json()["field"]) == (400, "INVALID_INPUT", ["header"])
    assert await _fingerprint(services) == before


def test_the_import_body_cap_is_a_setting() -> None:
    assert Settings.from_env({}).import_max_bytes == 1 << 30
    assert Settings.from_env({"OMS_IMPORT_MAX_BYTES": "1048576"}).import_max_bytes == 1 << 20
    with pytest.raises(SystemExit, match="OMS_IMPORT_MAX_BYTES must be 0 or more"):
        Settings.from_env({"OMS_IMPORT_MAX_BYTES": "-1"})


async def test_only_the_import_endpoint_takes_bodies_past_the_usual_cap(world: World, services: Services, settings: Settings) -> None:
    await network(world)
    admin = _auth((await _tokens(services))["ADMIN"])
    rows = HEADER + "SKU-1,ST-BOS,8,,,,\n" + "SKU-NOPE,ST-BOS,1,,,,\n" * 2_000  # ~44 KB
    async with client_for(settings, limits=settings.limits.__class__(max_body_bytes=10_000), import_max_bytes=60_000) as client:
        # The GraphQL cap (10 KB here) does not apply to imports, which have their own.
        big = await client.post("/imports/stock", content=rows.encode(), headers={"content-type": "text/csv", **admin})
        assert (big.status_code, big.json()["written"], big.json()["rejected"]) == (200, 1, 2_000)
        graphql = await client.post("/graphql", content=json.dumps({"query": "{ channels { code } }", "pad": "x" * 20_000}),
                                    headers={"content-type": "application/json", **admin})
        assert graphql.status_code == 413

        # Over the import cap: refused before anything runs when declared...
        too_big = rows + "SKU-1,ST-BOS,1,,,,\n" * 1_000
        declared = await client.post("/imports/stock", content=too_big.encode(), headers={"content-type": "text/csv", **admin})
        assert (declared.status_code, declared.json()["errors"][0]["extensions"]["code"]) == (413, "PAYLOAD_TOO_LARGE")

        # ...and stopped where it passes the cap when streamed without a length: whole batches before it stay.
        streamed = await client.post("/imports/stock", content=_chunks(too_big.encode(), 4096), headers={"content-type": "text/csv", **admin})
        answer = streamed.json()
        assert (streamed.status_code, answer["code"], answer["complete"]) == (413, "PAYLOAD_TOO_LARGE", False)
        # 14 chunks (57,344 bytes, 2,698 rows) arrived within the cap: 5 batches of 500 were written.
        assert (answer["rowsRead"], answer["written"], answer["rejected"]) == (2_500, 1, 2_000)
    assert (await _level(services, "SKU-1@ST-BOS"))["on_hand"] == 1  # type: ignore[index]


# --- the command -----------------------------------------------------------------------------------


def _oms(*args: str, mongodb_uri: str, database: str, stdin: bytes | None = None) -> subprocess.CompletedProcess[bytes]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("OMS_") and k != "MONGODB_URI"}
    env |= {"MONGODB_URI": mongodb_uri, "OMS_DB_NAME": database, "OMS_LOG_LEVEL": "WARNING"}
    return subprocess.run(
        [sys.executable, "-m", "app.cli", *args], cwd=ROOT, env=env, input=stdin, capture_output=True, timeout=120
    )


async def test_oms_import_end_to_end(world: World, services: Services, mongodb_uri: str, database_name: str, tmp_path: Path) -> None:
    await network(world)
    feed = tmp_path / "nightly.csv"
    feed.write_text(HEADER + "SKU-1,ST-BOS,8,,,,\nSKU-NOPE,ST-BOS,1,,,,\nSKU-2,ST-BOS,x,,,,\nSKU-3,ST-NYC,12,,,,A-1-1-1\n")
    rejects = tmp_path / "rejects.csv"

    def run(*args: str, stdin: bytes | None = None) -> subprocess.CompletedProcess[bytes]:
        return _oms("import", "stock", *args, mongodb_uri=mongodb_uri, database=database_name, stdin=stdin)

    first = await asyncio.to_thread(run, str(feed), "--rejects", str(rejects))
    assert first.returncode == 3, first.stderr.decode()
    assert first.stdout.decode().startswith(
        "stock import from nightly.csv: 4 rows read, 2 written, 0 unchanged, 2 rejected; "
    )
    assert list(csv.reader(io.StringIO(rejects.read_text()))) == [
        ["line", "field", "code", "reason"],
        ["3", "sku", "UNKNOWN_SKU", "unknown SKU 'SKU-NOPE'"],
        ["4", "onHand", "INVALID_INPUT", "must be a whole number; got 'x'"],
    ]
    assert (await _level(services, "SKU-3@ST-NYC"))["on_hand"] == 12  # type: ignore[index]
    events = await services.mongo.db["events"].count_documents({})
    assert (await _movements(services))[0]["actor"]["subject"].startswith("cli:")

    again = await asyncio.to_thread(run, "-", "--format", "csv", "--rejects", str(tmp_path / "r.jsonl"), stdin=feed.read_bytes())
    assert again.returncode == 3
    assert "4 rows read, 0 written, 2 unchanged, 2 rejected" in again.stdout.decode()
    assert json.loads((tmp_path / "r.jsonl").read_text().splitlines()[0]) == {
        "line": 3, "field": "sku", "code": "UNKNOWN_SKU", "reason": "unknown SKU 'SKU-NOPE'"
    }
    assert await services.mongo.db["events"].count_documents({}) == events

    clean = tmp_path / "clean.jsonl"
    clean.write_text(json.dumps({"sku": "SKU-1", "location": "ST-BOS", "onHand": 4}) + "\n")
    done = await asyncio.to_thread(run, str(clean))
    assert (done.returncode, done.stderr.decode()) == (0, "")
    assert (await _level(services, "SKU-1@ST-BOS"))["on_hand"] == 4  # type: ignore[index]

    refused = await asyncio.to_thread(run, str(tmp_path / "missing.csv"))
    assert (refused.returncode, refused.stderr.decode().strip()) == (1, f"cannot import {tmp_path / 'missing.csv'}: no such file")
    bad_header = tmp_path / "bad.csv"
    bad_header.write_text("sku,qty\n")
    refused = await asyncio.to_thread(run, str(bad_header))
    assert refused.returncode == 1 and "nothing imported from bad.csv: unknown column 'qty'" in refused.stderr.decode()
