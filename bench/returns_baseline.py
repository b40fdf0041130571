"""The raw-driver baseline for bench.returns: the database work of requestReturn, receiveReturn and
issueRefund, no layers.

Per return, the same reads and writes the services make (counted with a command listener on the
services, see bench/returns.py), in the same transaction shapes:

- request: the order, its shipments, the channel's return policy, the stored return under the client
  key (outside); the locations that take returns (nearest chosen in Python; the label's rate-card
  maths is CPU the API pays and this does not); then one transaction: the key again, the order's
  returns, the return inserted with ReturnRequested and ReturnStatusChanged (AUTHORIZED);
- receive: the return, the location, the policy (outside); one transaction: the return, a guarded
  `on_hand` increment recomputing `available` with its StockLevelChanged (cause RETURN), the orders
  waiting for the SKU, the return updated under its version, ReturnStatusChanged ×2 and ReturnReceived;
  then the exchange lookup;
- refund: the return (outside); one transaction: the return, the order, its exchange, the policy, the
  order's refund tally under its version, the return REFUNDED under its version with its event, the
  refund inserted with RefundIssued.
"""

from __future__ import annotations

import math
import os
from datetime import datetime, timezone
from typing import Any

from pymongo import AsyncMongoClient, ReadPreference, ReturnDocument, WriteConcern
from pymongo.read_concern import ReadConcern

_AVAILABLE = {"$set": {"available": {"$max": [0, {"$subtract": [{"$subtract": ["$on_hand", "$reserved"]}, "$safety_stock"]}]}}}


def _oid() -> str:
    return os.urandom(12).hex()


def _km(a: tuple[float, float], b: tuple[float, float]) -> float:
    lat1, lat2 = math.radians(a[0]), math.radians(b[0])
    h = math.sin((lat2 - lat1) / 2) ** 2 + math.cos(lat1) * math.cos(lat2) * math.sin(math.radians(b[1] - a[1]) / 2) ** 2
    return 2 * 6371.0088 * math.asin(min(1.0, math.sqrt(h)))


class ReturnsBaseline:
    def __init__(self, uri: str, database: str):
        self.client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(uri, w="majority", tz_aware=True, maxPoolSize=100)
        self.db = self.client[database]

    async def close(self) -> None:
        await self.client.close()

    async def _transaction(self, work: Any) -> Any:
        async with self.client.start_session() as session:
            return await session.with_transaction(
                work, read_concern=ReadConcern("snapshot"), write_concern=WriteConcern("majority"), read_preference=ReadPreference.PRIMARY
            )

    def _event(self, kind: str, aggregate: str, aggregate_id: str, order: dict[str, Any], payload: dict[str, Any], **keys: Any) -> dict[str, Any]:
        return {
            "_id": _oid(), "type": kind, "aggregate_type": aggregate, "aggregate_id": aggregate_id, "at": datetime.now(timezone.utc),
            "actor": {"subject": "baseline", "role": "ADMIN"}, "payload": payload, "reason": None, "seq": None,
            "order_id": order["_id"], "customer_id": order["customer_id"], "channel_id": order["channel_id"], **keys,
        }

    async def round_trip(self, order_id: str) -> str:
        return_id = await self.request(order_id)
        await self.receive(return_id)
        return await self.refund(return_id)

    async def request(self, order_id: str) -> str:
        db = self.db
        key = _oid()
        order = await db["orders"].find_one({"_id": order_id})
        assert order is not None
        await db["shipments"].find({"order_id": order_id}).to_list()
        await db["return_policies"].find({"_id": {"$in": [order["channel_id"], "global"]}}).to_list()
        await db["returns"].find_one({"order_id": order_id, "client_key": key})
        point = tuple(reversed(order["delivery"]["point"]["coordinates"]))
        candidates = await db["locations"].find({"capabilities.accepts_returns": True}).to_list()
        nearest = min(candidates, key=lambda loc: _km(point, tuple(reversed(loc["point"]["coordinates"]))))  # type: ignore[arg-type]
        line = order["lines"][0]

        async def work(session: Any) -> str:
            await db["returns"].find_one({"order_id": order_id, "client_key": key}, session=session)
            existing = await db["returns"].find({"order_id": order_id}, session=session).to_list()
            now = datetime.now(timezone.utc)
            return_id = _oid()
            doc = {
                "_id": return_id, "number": f"R-{order['external_id']}-{len(existing) + 1}", "order_id": order_id,
                "customer_id": order["customer_id"], "channel_id": order["channel_id"], "client_key": key, "sequence": len(existing) + 1,
                "method": "MAIL", "status": "AUTHORIZED", "location_id": nearest["_id"],
                "lines": [{"id": "1", "order_line_id": line["id"], "sku": line["sku"], "name": line["name"], "quantity": 1,
                           "reason": "SIZE_FIT", "unit_price_cents": line["unit_price_cents"], "currency": "USD", "note": None,
                           "received_quantity": None, "disposition": None, "disposition_note": None}],
                "reasons": ["SIZE_FIT"],
                "routing": {"rule": "NEAREST_RETURN_LOCATION", "location_id": nearest["_id"], "summary": "nearest", "distance_km": 1.0, "candidates": []},
                "label": {"carrier": "ups", "service": "GROUND", "service_name": "Ground", "cost_cents": 899, "currency": "USD",
                          "billable_weight_grams": 500, "zone": 2, "estimated_delivery": now, "purchased_at": now},
                "label_paid_by": "RETAILER", "tracking_number": f"1Z{_oid()[:16].upper()}", "tracking": [], "requested_by": "baseline",
                "status_reason": None, "received_at": None, "inspected_at": None, "closed_at": None, "refund_id": None,
                "input_hash": key, "created_at": now, "updated_at": now, "version": 1,
            }
            await db["returns"].insert_one(doc, session=session)
            await db["events"].insert_many(
                [
                    self._event("ReturnRequested", "Return", return_id, order, {"status": "REQUESTED"}, location_id=nearest["_id"]),
                    self._event("ReturnStatusChanged", "Return", return_id, order, {"from": "REQUESTED", "to": "AUTHORIZED"}, location_id=nearest["_id"]),
                ],
                session=session,
            )
            return return_id

        return str(await self._transaction(work))

    async def receive(self, return_id: str) -> None:
        db = self.db
        ret = await db["returns"].find_one({"_id": return_id})
        assert ret is not None
        await db["locations"].find({"_id": {"$in": [ret["location_id"]]}}).to_list()
        await db["return_policies"].find({"_id": {"$in": [ret["channel_id"], "global"]}}).to_list()
        line = ret["lines"][0]
        order = {"_id": ret["order_id"], "customer_id": ret["customer_id"], "channel_id": ret["channel_id"]}

        async def work(session: Any) -> None:
            current = await db["returns"].find_one({"_id": return_id}, session=session)
            now = datetime.now(timezone.utc)
            level = await db["inventory"].find_one_and_update(
                {"_id": f"{line['sku']}@{ret['location_id']}"},
                # A level the SKU never had at this location is created, as receiving does.
                [{"$set": {"sku": line["sku"], "location_id": ret["location_id"], "on_hand": {"$add": [{"$ifNull": ["$on_hand", 0]}, 1]},
                           "reserved": {"$ifNull": ["$reserved", 0]}, "safety_stock": {"$ifNull": ["$safety_stock", 0]}, "updated_at": now}},
                 _AVAILABLE],
                upsert=True, return_document=ReturnDocument.AFTER, session=session,
            )
            await db["events"].insert_one(
                self._event("StockLevelChanged", "InventoryLevel", level["_id"], order,
                            {"onHand": level.get("on_hand"), "cause": "RETURN", "onHandDelta": 1},
                            sku=line["sku"], location_id=ret["location_id"]),
                session=session,
            )
            await db["orders"].find({"backordered_skus": line["sku"]}, session=session).sort([("created_at", 1), ("_id", 1)]).limit(50).to_list()
            received = [{**line, "received_quantity": 1, "disposition": "RESTOCK"}]
            result = await db["returns"].update_one(
                {"_id": return_id, "version": current["version"]},
                {"$set": {"lines": received, "status": "INSPECTED", "received_at": now, "inspected_at": now, "updated_at": now},
                 "$inc": {"version": 1}},
                session=session,
            )
            assert result.matched_count == 1
            await db["events"].insert_many(
                [
                    self._event("ReturnStatusChanged", "Return", return_id, order, {"from": "AUTHORIZED", "to": "RECEIVED"}),
                    self._event("ReturnReceived", "Return", return_id, order, {"status": "RECEIVED"}),
                    self._event("ReturnStatusChanged", "Return", return_id, order, {"from": "RECEIVED", "to": "INSPECTED"}),
                ],
                session=session,
            )

        await self._transaction(work)
        await db["exchanges"].find_one({"return_id": return_id})

    async def refund(self, return_id: str) -> str:
        db = self.db
        await db["returns"].find_one({"_id": return_id})
        refund_id = _oid()

        async def work(session: Any) -> str:
            ret = await db["returns"].find_one({"_id": return_id}, session=session)
            if ret["status"] != "INSPECTED":
                return "ALREADY_REFUNDED"
            order = await db["orders"].find_one({"_id": ret["order_id"]}, session=session)
            await db["exchanges"].find_one({"return_id": return_id}, session=session)
            await db["return_policies"].find({"_id": {"$in": [ret["channel_id"], "global"]}}, session=session).to_list()
            now = datetime.now(timezone.utc)
            line = ret["lines"][0]
            cents = line["unit_price_cents"]
            tally = order.get("refund_tally") or {}
            lines = dict(tally.get("lines") or {})
            lines[line["order_line_id"]] = lines.get(line["order_line_id"], 0) + cents
            new_tally = {
                "total_cents": tally.get("total_cents", 0) + cents, "credit_cents": 0, "refunded_cents": tally.get("refunded_cents", 0) + cents,
                "shipping_cents": 0, "lines": lines, "payments": {"0": tally.get("payments", {}).get("0", 0) + cents},
                "count": tally.get("count", 0) + 1,
            }
            updated = await db["orders"].update_one(
                {"_id": order["_id"], "version": order["version"]},
                {"$set": {"refund_tally": new_tally, "updated_at": now}, "$inc": {"version": 1}}, session=session,
            )
            assert updated.matched_count == 1
            marked = await db["returns"].update_one(
                {"_id": return_id, "version": ret["version"]},
                {"$set": {"status": "REFUNDED", "refund_id": refund_id, "closed_at": now, "updated_at": now}, "$inc": {"version": 1}},
                session=session,
            )
            assert marked.matched_count == 1
            await db["events"].insert_one(
                self._event("ReturnStatusChanged", "Return", return_id, order, {"from": "INSPECTED", "to": "REFUNDED"}), session=session
            )
            payment = order["payments"][0]
            await db["refunds"].insert_one(
                {"_id": refund_id, "order_id": order["_id"], "customer_id": order["customer_id"], "channel_id": order["channel_id"],
                 "return_id": return_id, "exchange_id": None, "kind": "RETURN", "amount_cents": cents, "currency": "USD",
                 "lines": [{"kind": "GOODS", "amount_cents": cents, "description": "goods", "order_line_id": line["order_line_id"],
                            "return_line_id": "1", "sku": line["sku"], "quantity": 1}],
                 "splits": [{"payment_index": 0, "provider": payment["provider"], "reference": payment["reference"], "amount_cents": cents,
                             "provider_refund_id": f"re_{refund_id}"}],
                 "status": "ISSUED", "reason": None, "created_at": now, "created_by": "baseline", "created_by_role": "ADMIN",
                 "location_id": ret["location_id"]},
                session=session,
            )
            await db["events"].insert_one(
                self._event("RefundIssued", "Refund", refund_id, order, {"kind": "RETURN", "amountCents": cents, "refundStatus": "ISSUED"}),
                session=session,
            )
            return "ISSUED"

        return str(await self._transaction(work))
