"""Aggregations behind the live dashboard. Each is index-backed and bounded; the dashboard feed runs
them once per tick for all subscribers together."""

from __future__ import annotations

from datetime import datetime

from pymongo.asynchronous.database import AsyncDatabase

from app.domain.dashboard import ChannelMinute
from app.domain.orders import OPEN_STATUSES, OrderStatus
from app.domain.replenishment import CrossingOutcome
from app.repositories.purchase_orders import PurchaseOrderRepository

BACKORDER_STATUSES = (OrderStatus.BACKORDERED.value, OrderStatus.PARTIALLY_ALLOCATED.value)


class DashboardRepository:
    def __init__(self, db: AsyncDatabase):
        self._orders = db["orders"]
        self._inventory = db["inventory"]
        self._returns = db["returns"]
        self._refunds = db["refunds"]
        self._cases = db["cases"]
        self._purchase_orders = PurchaseOrderRepository(db)
        self._crossings = db["reorder_crossings"]

    async def orders_per_minute(self, since: datetime) -> list[ChannelMinute]:
        pipeline = [
            {"$match": {"created_at": {"$gte": since}}},
            {
                "$group": {
                    "_id": {"minute": {"$dateTrunc": {"date": "$created_at", "unit": "minute"}}, "channel": "$channel_id"},
                    "orders": {"$sum": 1},
                }
            },
            {"$sort": {"_id.minute": 1, "_id.channel": 1}},
        ]
        cursor = await self._orders.aggregate(pipeline)
        return [
            ChannelMinute(minute=doc["_id"]["minute"], channel_id=doc["_id"]["channel"], orders=doc["orders"])
            async for doc in cursor
        ]

    async def open_orders_by_status(self) -> dict[str, int]:
        pipeline = [
            {"$match": {"status": {"$in": sorted(OPEN_STATUSES)}}},
            {"$group": {"_id": "$status", "orders": {"$sum": 1}}},
        ]
        cursor = await self._orders.aggregate(pipeline)
        return {doc["_id"]: doc["orders"] async for doc in cursor}

    async def backorders(self) -> int:
        return await self._orders.count_documents({"status": {"$in": list(BACKORDER_STATUSES)}})

    async def returns_since(self, since: datetime) -> int:
        # Index "created" on returns: a range scan of today's returns only.
        return await self._returns.count_documents({"created_at": {"$gte": since}})

    async def refunds_since(self, since: datetime) -> tuple[int, dict[str, int]]:
        """Refunds with money back since `since` (index "created" on refunds): how many, and cents per currency."""
        rows = await self._refunds.aggregate(
            [
                {"$match": {"created_at": {"$gte": since}, "kind": {"$ne": "EXCHANGE_CREDIT"}, "status": {"$in": ["ISSUED", "PARTIALLY_ISSUED"]}}},
                {"$group": {"_id": "$currency", "count": {"$sum": 1}, "cents": {"$sum": "$amount_cents"}}},
                {"$sort": {"_id": 1}},
            ]
        )
        count, amounts = 0, {}
        async for row in rows:
            count += int(row["count"])
            amounts[row["_id"]] = int(row["cents"])
        return count, amounts

    async def stock_outs(self) -> int:
        # Uses the partial index "stock_outs": only levels with nothing available are in it.
        return await self._inventory.count_documents({"available": {"$lte": 0}})

    async def open_cases_by_priority(self) -> dict[str, int]:
        rows = await self._cases.aggregate(
            [{"$match": {"status": {"$in": ["NEW", "OPEN", "PENDING_CUSTOMER"]}}}, {"$group": {"_id": "$priority", "n": {"$sum": 1}}}]
        )
        return {row["_id"]: int(row["n"]) async for row in rows}

    async def sla_breaches_since(self, since: datetime) -> int:
        """Breaches marked since `since`, each target counted once (indexes "*_breached": breached cases only)."""
        first = await self._cases.count_documents({"sla.first_response_breached_at": {"$gte": since}})
        resolution = await self._cases.count_documents({"sla.resolution_breached_at": {"$gte": since}})
        return first + resolution
    async def purchase_orders(self) -> tuple[int, int]:
        """(open purchase orders, units incoming on them)."""
        return await self._purchase_orders.figures()

    async def stock_outs_avoided(self) -> int:
        """Reorder-point crossings replenished (a PO line or a transfer) while the level still had stock."""
        replenished = [CrossingOutcome.PO_LINE.value, CrossingOutcome.TRANSFER.value]
        return await self._crossings.count_documents({"outcome": {"$in": replenished}, "available": {"$gt": 0}})
