"""The raw-driver baseline for bench.capture_order: the database work of one capture, no layers.

Per order, the same reads and writes the service makes, in the same transaction shape and the same
round trips (bench/capture_costs.py counts both): channel and products (outside), then in one
snapshot transaction the (channel, external id) lookup, customer match by email, routing policy,
stock of the SKUs (available > 0), the locations holding it, nearest-first placement in plain
Python (routing's scoring is CPU the API pays and this does not), one guarded `available >= q`
reserve per allocated level (update pipelines recomputing `available`, in one bulk write), the
order insert (with its routing explanation in the API's stored shape, so the same bytes), fulfilment's shipments (one per allocating location) and every event in one insert
(OrderCaptured, OrderStatusChanged, one StockLevelChanged per level, ShipmentCreated per shipment).
Not the API's own round trip to the shared rate-limit bucket: that is per request, not capture work.
"""

from __future__ import annotations

import asyncio
import math
import os
from collections.abc import Sequence
from datetime import datetime, timezone
from typing import Any

from pymongo import AsyncMongoClient, ReadPreference, UpdateOne, WriteConcern
from pymongo.read_concern import ReadConcern

_AVAILABLE = {"$set": {"available": {"$max": [0, {"$subtract": [{"$subtract": ["$on_hand", "$reserved"]}, "$safety_stock"]}]}}}


def _oid() -> str:
    return os.urandom(12).hex()


def _km(a: tuple[float, float], b: tuple[float, float]) -> float:
    lat1, lat2 = math.radians(a[0]), math.radians(b[0])
    h = math.sin((lat2 - lat1) / 2) ** 2 + math.cos(lat1) * math.cos(lat2) * math.sin(math.radians(b[1] - a[1]) / 2) ** 2
    return 2 * 6371.0088 * math.asin(min(1.0, math.sqrt(h)))


def _routing(
    given: dict[str, Any],
    located: list[tuple[float, dict[str, Any]]],
    levels: dict[tuple[str, str], dict[str, Any]],
    allocations: list[dict[str, Any]],
    lines: list[dict[str, Any]],
) -> dict[str, Any]:
    """The routing explanation in the shape the API stores (app/domain/routing/stored.py, version 2),
    from the nearest-first placement: the same bytes for mongod to write, replicate and stream, and
    for the driver to encode (the API's scoring and sentences are its own CPU, not database work)."""
    chosen: dict[str, list[Any]] = {}
    for a in allocations:
        chosen.setdefault(a["location_id"], []).extend([a["line_id"], a["quantity"]])
    wanted = [(str(n), line["sku"], line["quantity"]) for n, line in enumerate(given["lines"], start=1)]
    eligible, excluded = [], []
    for km, doc in located:
        if not (doc["capabilities"]["ships"] and doc.get("active", True)):
            if len(excluded) < 20:
                excluded.append([doc["_id"], doc["name"], doc["kind"], doc.get("priority", 0), round(km, 3), "EXCLUDED", ["DOES_NOT_SHIP"]])
            continue
        fills = [(line_id, q, (levels.get((sku, doc["_id"])) or {}).get("available", 0)) for line_id, sku, q in wanted]
        share = sum(min(q, have) for _, q, have in fills) / sum(q for _, q, _ in fills)
        score = (located[0][0] + 1) / (km + 1)
        candidate = [doc["_id"], doc["name"], doc["kind"], doc.get("priority", 0), round(km, 3),
                     "CHOSEN" if doc["_id"] in chosen else "NOT_NEEDED", [], [round(km, 4), round(score, 4), round(share, 4), round(share, 4)],
                     round((score + share) / 2, 4), len(eligible) + 1, ";".join(f"{i}:{q}:{have}:{min(q, have)}" for i, q, have in fills),
                     share == 1.0]
        if doc["_id"] in chosen:
            candidate.append(chosen[doc["_id"]])
        if len(eligible) < 20 or doc["_id"] in chosen:
            eligible.append(candidate)
    winners = [c for c in eligible if c[0] in chosen]
    runner_up = next((c for c in eligible if c[0] not in chosen), None)
    return {
        "v": 2, "delivery_method": "SHIP", "channel_id": given["channel"], "policy_source": "global",
        "criteria": [["NEAREST", 1.0], ["FEWEST_SHIPMENTS", 1.0]], "split_only_when_needed": True, "max_splits": 3,
        "summary": f"Ships from {', '.join(c[0] for c in winners)} at {winners[0][4]:.1f} km." if winners else "Nothing can be allocated now.",
        "candidates": eligible + excluded,
        "decisions": [
            [step, c[0], c[8], chosen[c[0]], runner_up[0] if runner_up else None, runner_up[8] if runner_up else None,
             f"{c[0]} fills all {len(wanted)} line(s) at {c[4]:.1f} km; next best {runner_up[0] if runner_up else '-'} scores "
             f"{runner_up[8] if runner_up else 0:.2f} vs {c[8]:.2f}"]
            for step, c in enumerate(winners, start=1)
        ],
        "lines": [[line["id"], line["sku"], line["quantity"], [x for a in allocations if a["line_id"] == line["id"] for x in (a["location_id"], a["quantity"])],
                   0, False] for line in lines],
        "omitted_candidates": 0, "exclusion_counts": [["DOES_NOT_SHIP", len(excluded)]] if excluded else [], "pickup_alternatives": [],
        "destination_source": "GIVEN",
    }


class Baseline:
    def __init__(self, uri: str, database: str, *, event_listeners: Sequence[Any] = ()):
        self.client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(
            uri, w="majority", tz_aware=True, maxPoolSize=100, event_listeners=list(event_listeners)
        )
        self.db = self.client[database]

    async def close(self) -> None:
        await self.client.close()

    async def capture(self, given: dict[str, Any]) -> str:
        db = self.db
        skus = [line["sku"] for line in given["lines"]]
        _, found = await asyncio.gather(
            db["channels"].find({"_id": {"$in": [given["channel"]]}}).to_list(),
            db["products"].find({"_id": {"$in": skus}}).to_list(),
        )
        products = {p["_id"]: p for p in found}
        point = (given["delivery"]["point"]["lat"], given["delivery"]["point"]["lng"])

        async def work(session: Any) -> str:
            existing = await db["orders"].find_one({"channel_id": given["channel"], "external_id": given["externalId"]}, session=session)
            if existing:
                return str(existing["status"])
            customer = await db["customers"].find_one({"email": given["customer"]["email"]}, session=session)
            await db["routing_policies"].find({"_id": {"$in": [given["channel"], "global"]}}, session=session).to_list()
            levels = {
                (doc["sku"], doc["location_id"]): doc
                async for doc in db["inventory"].find(
                    {"sku": {"$in": skus}, "available": {"$gt": 0}},
                    {"_id": 0, "sku": 1, "location_id": 1, "available": 1, "on_hand": 1, "reserved": 1, "safety_stock": 1,
                     "incoming": 1, "reorder_point": 1, "reorder_quantity": 1},
                    session=session,
                )
            }
            holding = sorted({location_id for _, location_id in levels})
            located = [
                (_km((doc["point"]["coordinates"][1], doc["point"]["coordinates"][0]), point), doc)
                async for doc in db["locations"].find({"_id": {"$in": holding}}, session=session)
            ]
            located.sort(key=lambda pair: pair[0])
            ranked = [doc for _, doc in located if doc["capabilities"]["ships"] and doc.get("active", True)]
            now = datetime.now(timezone.utc)
            allocations, events, reserve = [], [], {}
            for n, line in enumerate(given["lines"], start=1):
                left = line["quantity"]
                for loc in ranked:
                    level = levels.get((line["sku"], loc["_id"]))
                    take = min(left, level["available"] if level else 0)
                    if take <= 0:
                        continue
                    reserve[(line["sku"], loc["_id"])] = take
                    allocations.append({"id": _oid(), "line_id": str(n), "sku": line["sku"], "location_id": loc["_id"], "quantity": take, "status": "OPEN"})
                    # The level as read in this snapshot is the one the reservation changes (a
                    # change committed since would fail the transaction with a write conflict).
                    events.append(
                        {"_id": _oid(), "type": "StockLevelChanged", "aggregate_type": "InventoryLevel", "aggregate_id": f"{line['sku']}@{loc['_id']}", "at": now,
                         "actor": {"subject": "baseline", "role": "CHANNEL"}, "sku": line["sku"], "location_id": loc["_id"],
                         "payload": {"onHand": level["on_hand"], "reserved": level["reserved"] + take, "cause": "RESERVATION"}}
                    )
                    left -= take
                    if left == 0:
                        break
            if reserve:
                # One guarded reserve per level, all in one bulk write.
                result = await db["inventory"].bulk_write(
                    [UpdateOne({"_id": f"{sku}@{location_id}", "available": {"$gte": take}},
                               [{"$set": {"reserved": {"$add": ["$reserved", take]}, "updated_at": now}}, _AVAILABLE])
                     for (sku, location_id), take in sorted(reserve.items())],
                    ordered=True, session=session,
                )
                if result.matched_count != len(reserve):
                    raise RuntimeError("stale plan")
            order_id = _oid()
            status = "ALLOCATED" if sum(a["quantity"] for a in allocations) == sum(line["quantity"] for line in given["lines"]) else "PARTIALLY_ALLOCATED"
            if not allocations:
                status = "BACKORDERED"
            lines = [
                {"id": str(n), "sku": line["sku"], "name": products[line["sku"]]["name"], "quantity": line["quantity"],
                 "unit_price_cents": products[line["sku"]]["price"]["cents"], "cancelled_quantity": 0}
                for n, line in enumerate(given["lines"], start=1)
            ]
            subtotal = sum(line["quantity"] * line["unit_price_cents"] for line in lines)
            await db["orders"].insert_one(
                {"_id": order_id, "channel_id": given["channel"], "external_id": given["externalId"], "customer_id": customer["_id"] if customer else None,
                 "status": status, "currency": "USD", "lines": lines,
                 "delivery": {"method": "SHIP", "address": given["delivery"]["address"], "point": {"type": "Point", "coordinates": [point[1], point[0]]}},
                 "totals": {"subtotal_cents": subtotal, "shipping_cents": 0, "tax_cents": 0, "total_cents": subtotal, "currency": "USD"},
                 "allocations": allocations, "location_ids": sorted({a["location_id"] for a in allocations}), "hold": None, "notes": None,
                 "release_at": None, "routing": _routing(given, located, levels, allocations, lines), "created_at": now, "updated_at": now,
                 "version": 1, "input_hash": _oid()},
                session=session,
            )
            head = {"aggregate_type": "Order", "aggregate_id": order_id, "at": now, "actor": {"subject": "baseline", "role": "CHANNEL"},
                    "order_id": order_id, "channel_id": given["channel"]}
            # Fulfilment's part of the same transaction: one shipment per allocating location, each
            # with its ShipmentCreated event.
            per_location: dict[str, list[dict[str, Any]]] = {}
            for allocation in allocations:
                per_location.setdefault(allocation["location_id"], []).append(allocation)
            shipments = [
                {"_id": _oid(), "order_id": order_id, "customer_id": customer["_id"] if customer else None, "channel_id": given["channel"],
                 "location_id": location_id, "number": f"{given['externalId']}-{n}", "method": "SHIP", "status": "PENDING",
                 "status_at": now, "held": False, "destination": given["delivery"]["address"],
                 "lines": [{"allocation_id": a["id"], "line_id": a["line_id"], "sku": a["sku"], "quantity": a["quantity"], "picked_quantity": 0}
                           for a in located],
                 "packages": [], "tracking": [], "created_at": now, "updated_at": now, "version": 1}
                for n, (location_id, located) in enumerate(sorted(per_location.items()), start=1)
            ]
            if shipments:
                await db["shipments"].insert_many(shipments, session=session)
            shipment_events = [
                {"_id": _oid(), "type": "ShipmentCreated", "aggregate_type": "Shipment", "aggregate_id": doc["_id"], "at": now,
                 "actor": head["actor"], "order_id": order_id, "channel_id": given["channel"], "shipment_id": doc["_id"],
                 "location_id": doc["location_id"], "payload": {"status": "PENDING"}}
                for doc in shipments
            ]
            await db["events"].insert_many(
                [{"_id": _oid(), "type": "OrderCaptured", "payload": {"status": status}, **head},
                 {"_id": _oid(), "type": "OrderStatusChanged", "payload": {"from": "CREATED", "to": status}, **head}, *events,
                 *shipment_events],
                session=session,
            )
            return status

        async with self.client.start_session() as session:
            return await session.with_transaction(
                work, read_concern=ReadConcern("snapshot"), write_concern=WriteConcern("majority"), read_preference=ReadPreference.PRIMARY
            )
