"""`oms seed`: deterministic demo data of configurable size, with cross-channel customer histories."""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from datetime import date, datetime, timezone

from app.domain.fulfilment import SyncPlan, plan_sync, rolled_up_status
from app.domain.ids import new_id
from app.domain.orders import ALLOCATION_STATES, OPEN_STATUSES, AllocationStatus, OrderStatus, status_from_allocations
from app.domain.shipments import CONSUMED_STATES, SHIPPED_STATES, Shipment, ShipmentStatus
from app.domain.tracking import tracked_status
from app.repositories.database import Mongo, connect
from app.repositories.indexes import ensure_indexes
from app.repositories.inventory import InventoryRepository
from app.repositories.locations import from_doc as location_from_doc
from app.repositories.orders import from_doc as order_from_doc
from app.repositories.products import from_doc as product_from_doc
from app.repositories.shipments import from_doc as shipment_from_doc
from app.services.demo_seed import SeedSize, seed_demo

SMALL = SeedSize(locations=12, skus=40, customers=30, orders=90)


async def _fingerprint(mongo: Mongo) -> dict[str, str]:
    prints = {}
    for name in ("channels", "locations", "products", "inventory", "customers", "orders"):
        docs = [doc async for doc in mongo.db[name].find().sort("_id", 1)]
        prints[name] = hashlib.sha256(json.dumps(docs, default=str, sort_keys=True).encode()).hexdigest()
    return prints


async def test_same_seed_same_data_different_seed_different_data(mongo: Mongo, mongodb_uri: str) -> None:
    report = await seed_demo(mongo, SMALL, seed=7, as_of=date(2026, 11, 1))
    assert (report.locations, report.products, report.customers, report.orders) == (12, 40, 30, 90)

    twin = Mongo(connect(mongodb_uri), mongo.db.name + "_twin")
    other = Mongo(connect(mongodb_uri), mongo.db.name + "_other")
    try:
        for handle, seed in ((twin, 7), (other, 8)):
            await ensure_indexes(handle.db)
            await seed_demo(handle, SMALL, seed=seed, as_of=date(2026, 11, 1))
        assert await _fingerprint(twin) == await _fingerprint(mongo)
        assert (await _fingerprint(other))["orders"] != (await _fingerprint(mongo))["orders"]
    finally:
        for handle in (twin, other):
            await handle.client.drop_database(handle.db.name)
            await handle.close()

    # Seeding again upserts: same counts, nothing duplicated.
    await seed_demo(mongo, SMALL, seed=7, as_of=date(2026, 11, 1))
    assert await mongo.db.orders.count_documents({}) == 90


async def test_seeded_world_is_realistic(mongo: Mongo) -> None:
    await seed_demo(mongo, SMALL, seed=1, as_of=date(2026, 11, 1))
    db = mongo.db
    kinds = {doc["_id"]: doc["n"] async for doc in await db.locations.aggregate([{"$group": {"_id": "$kind", "n": {"$sum": 1}}}])}
    assert kinds["DISTRIBUTION_CENTER"] >= 1 and kinds["STORE"] >= 8
    store = await db.locations.find_one({"address.city": "New York", "kind": "STORE"})
    lng, lat = store["point"]["coordinates"]
    assert abs(lat - 40.71) < 0.2 and abs(lng + 74.01) < 0.2  # real city coordinates
    # Customers buy on several channels, and no seeded order holds a reservation.
    per_customer = await (await db.orders.aggregate(
        [{"$group": {"_id": "$customer_id", "channels": {"$addToSet": "$channel_id"}}},
         {"$match": {"channels.1": {"$exists": True}}}, {"$count": "n"}]
    )).to_list()
    assert per_customer[0]["n"] >= 10
    # Some orders are still open and hold stock, and `reserved` says exactly how much.
    assert await db.orders.count_documents({"allocations.status": "OPEN"}) > 0
    assert await InventoryRepository(db).reservation_mismatches() == []


async def test_seeded_history_follows_the_rules(mongo: Mongo) -> None:
    # Given the demo data as of a fixed day
    as_of = datetime(2026, 11, 1, tzinfo=timezone.utc)
    await seed_demo(mongo, SeedSize(locations=12, skus=40, customers=30, orders=300), seed=3, as_of=as_of.date())
    db = mongo.db
    orders = [order_from_doc(doc) async for doc in db.orders.find()]
    shipments: dict[str, list[Shipment]] = {order.id: [] for order in orders}
    async for doc in db.shipments.find().sort([("created_at", 1), ("_id", 1)]):
        shipments[doc["order_id"]].append(shipment_from_doc(doc))  # a shipment of an unknown order: KeyError
    products = {doc["_id"]: product_from_doc(doc) async for doc in db.products.find()}
    locations = {doc["_id"]: location_from_doc(doc) async for doc in db.locations.find()}
    statuses = Counter(order.status for order in orders)

    # Then inventory.reserved is the sum of OPEN allocations
    assert await InventoryRepository(db).reservation_mismatches() == []
    # And the history has orders at every stage, open ones included
    assert {
        OrderStatus.DELIVERED, OrderStatus.PICKED_UP, OrderStatus.SHIPPED, OrderStatus.CANCELLED,
        OrderStatus.ALLOCATED, OrderStatus.IN_FULFILLMENT, OrderStatus.PARTIALLY_SHIPPED,
    } <= statuses.keys(), statuses
    for order in orders:
        mine = shipments[order.id]
        why = (order.external_id, order.status, [(s.location_id, s.status) for s in mine])
        # Every order stands where its allocations and shipments put it, and nothing is left to sync
        assert rolled_up_status(order, mine) is order.status, why
        if order.status in ALLOCATION_STATES:
            assert status_from_allocations(order) is order.status, why
        assert plan_sync(order, mine, products=products, locations=locations, now=as_of, new_id=new_id) == SyncPlan(), why
        assert order.status in OPEN_STATUSES or not order.open_allocations, why
        assert order.status is OrderStatus.CANCELLED or mine, why
        if order.status in (OrderStatus.SHIPPED, OrderStatus.PARTIALLY_SHIPPED, OrderStatus.DELIVERED):
            assert any(s.status in SHIPPED_STATES for s in mine), why
        by_id = {a.id: a for a in order.allocations}
        for shipment in mine:
            # Every shipment belongs to its order at its location: its lines are that order's allocations there
            assert (shipment.customer_id, shipment.channel_id) == (order.customer_id, order.channel_id), why
            assert {by_id[line.allocation_id].location_id for line in shipment.lines} <= {shipment.location_id}, why
            consumed = shipment.status in CONSUMED_STATES
            for line in shipment.lines:
                allocation = by_id[line.allocation_id]
                expected = AllocationStatus.FULFILLED if consumed else AllocationStatus.RELEASED if shipment.status is ShipmentStatus.CANCELLED else AllocationStatus.OPEN
                assert (allocation.status, allocation.quantity) == (expected, line.quantity), why
                assert (line.picked_quantity is not None) == (shipment.status not in (ShipmentStatus.PENDING, ShipmentStatus.PICKING, ShipmentStatus.CANCELLED)), why
            # Handed to a carrier: labelled, tracked, and its status is what its scans say
            if shipment.status in SHIPPED_STATES:
                assert shipment.label is not None and shipment.packages and shipment.tracking, why
                assert tracked_status(shipment.tracking)[0] is shipment.status, why
            else:
                assert shipment.label is None and not shipment.tracking, why
            # Nothing happened after `as_of`
            assert shipment.updated_at <= as_of and all(e.received_at <= as_of for e in shipment.tracking), why
        assert order.created_at <= order.updated_at <= as_of, why


async def test_seeded_labels_are_numbered_so_tracking_numbers_never_repeat(mongo: Mongo) -> None:
    # Given a seeded history with shipped parcels (20,000 orders once collided on a hashed UPS reference)
    await seed_demo(mongo, SeedSize(locations=12, skus=40, customers=30, orders=300), seed=3, as_of=date(2026, 11, 1))
    numbers = [doc["tracking_number"] async for doc in mongo.db.shipments.find({"tracking_number": {"$type": "string"}})]
    assert len(numbers) > 50
    # Then each label carries the next serial of one counter shared by the carriers: 1, 2, 3 ...
    reference = {"1Z": lambda n: n[-8:-1], "94": lambda n: n[5:-1], "7": lambda n: n[1:-1]}
    serials = sorted(int(next(cut(n) for prefix, cut in reference.items() if n.startswith(prefix))) for n in numbers)
    assert serials == list(range(1, len(numbers) + 1))
