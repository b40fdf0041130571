"""Every index, declared once. Created idempotently at startup (same spec → no-op)."""

from __future__ import annotations

from pymongo import ASCENDING, DESCENDING, GEOSPHERE, IndexModel
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import CollectionInvalid

INDEXES: dict[str, list[IndexModel]] = {
    "channels": [],
    "locations": [
        IndexModel([("point", GEOSPHERE)], name="point_2dsphere"),
        IndexModel([("kind", ASCENDING), ("name", ASCENDING)], name="kind_name"),
    ],
    "products": [
        IndexModel([("name", ASCENDING)], name="name"),
    ],
    "customers": [
        IndexModel([("email", ASCENDING)], name="email", unique=True, partialFilterExpression={"email": {"$type": "string"}}),
        IndexModel([("phone", ASCENDING)], name="phone", partialFilterExpression={"phone": {"$type": "string"}}),
        IndexModel(
            [("identities.channel_id", ASCENDING), ("identities.external_id", ASCENDING)],
            name="channel_identity",
        ),
        IndexModel([("search_terms", ASCENDING), ("_id", ASCENDING)], name="search_terms"),
        IndexModel([("last_name", ASCENDING), ("first_name", ASCENDING), ("_id", ASCENDING)], name="name"),
    ],
    # One document per email / phone / channel identity of a customer created by capture: `_id` is the
    # key, so concurrent first orders of one new person cannot create two customers.
    "customer_keys": [],
    "orders": [
        IndexModel([("channel_id", ASCENDING), ("external_id", ASCENDING)], name="channel_external_id", unique=True),
        IndexModel([("created_at", DESCENDING), ("_id", DESCENDING)], name="created"),
        IndexModel([("customer_id", ASCENDING), ("created_at", DESCENDING), ("_id", DESCENDING)], name="customer_created"),
        IndexModel([("status", ASCENDING), ("created_at", DESCENDING), ("_id", DESCENDING)], name="status_created"),
        IndexModel([("channel_id", ASCENDING), ("created_at", DESCENDING), ("_id", DESCENDING)], name="channel_created"),
        IndexModel([("location_ids", ASCENDING), ("created_at", DESCENDING), ("_id", DESCENDING)], name="location_created"),
        # Backorders waiting for a SKU, oldest first (the field exists only while something waits).
        IndexModel(
            [("backordered_skus", ASCENDING), ("created_at", ASCENDING), ("_id", ASCENDING)],
            name="backorders",
            partialFilterExpression={"backordered_skus": {"$exists": True}},
        ),
        # The scheduler's due scan: scheduled orders by release time.
        IndexModel([("release_at", ASCENDING)], name="scheduled_release", partialFilterExpression={"status": "SCHEDULED"}),
    ],
    "inventory": [
        IndexModel([("sku", ASCENDING), ("location_id", ASCENDING)], name="sku_location", unique=True),
        IndexModel([("location_id", ASCENDING), ("sku", ASCENDING)], name="location_sku"),
        # storeAvailability: one SKU, stores with stock, nearest first.
        IndexModel([("sku", ASCENDING), ("point", GEOSPHERE)], name="sku_point_2dsphere"),
    ],
    "shipments": [
        IndexModel([("order_id", ASCENDING), ("created_at", ASCENDING), ("_id", ASCENDING)], name="order"),
        IndexModel([("location_id", ASCENDING), ("status", ASCENDING), ("held", ASCENDING), ("promised_date", ASCENDING),
                    ("created_at", ASCENDING)], name="pickable"),
        IndexModel([("created_at", DESCENDING), ("_id", DESCENDING)], name="created"),
        IndexModel([("location_id", ASCENDING), ("created_at", DESCENDING), ("_id", DESCENDING)], name="location_created"),
        IndexModel([("customer_id", ASCENDING), ("created_at", DESCENDING), ("_id", DESCENDING)], name="customer_created"),
        IndexModel([("tracking_number", ASCENDING)], name="tracking_number", unique=True,
                   partialFilterExpression={"tracking_number": {"$type": "string"}}),
    ],
    "routing_policies": [],  # _id = "global" or a channel id
    "events": [
        IndexModel([("seq", ASCENDING)], name="seq", unique=True, partialFilterExpression={"seq": {"$type": "number"}}),
        IndexModel([("order_id", ASCENDING), ("_id", ASCENDING)], name="order_timeline",
                   partialFilterExpression={"order_id": {"$type": "string"}}),
        IndexModel([("at", ASCENDING)], name="at"),
        # A level's movement log (StockLevelChanged events), newest first.
        IndexModel([("sku", ASCENDING), ("location_id", ASCENDING), ("_id", ASCENDING)], name="stock_movements",
                   partialFilterExpression={"sku": {"$type": "string"}}),
    ],
    # Replay protection for signed webhooks: a nonce is kept only while its timestamp is acceptable.
    "webhook_nonces": [
        IndexModel([("expires_at", ASCENDING)], name="expires_at_ttl", expireAfterSeconds=0),
    ],
}


async def ensure_indexes(db: AsyncDatabase) -> None:
    existing = set(await db.list_collection_names())
    for name, models in INDEXES.items():
        if name not in existing:
            # Collections must exist before a transaction writes to them (MongoDB < 7 cannot create them inside one).
            try:
                await db.create_collection(name)
            except CollectionInvalid:
                pass  # another instance created it first
        if models:
            await db[name].create_indexes(models)
