"""`oms seed`: deterministic demo data of configurable size, with cross-channel customer histories."""

from __future__ import annotations

import hashlib
import json
from datetime import date

from app.repositories.database import Mongo, connect
from app.repositories.indexes import ensure_indexes
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
    assert await db.inventory.count_documents({"reserved": {"$ne": 0}}) == 0
    assert await db.orders.count_documents({"allocations.status": "OPEN"}) == 0
