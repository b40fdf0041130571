"""Every index, declared once. Created idempotently at startup (same spec → no-op)."""

from __future__ import annotations

from pymongo import ASCENDING, DESCENDING, GEOSPHERE, IndexModel
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import CollectionInvalid, OperationFailure

INDEXES: dict[str, list[IndexModel]] = {
    "channels": [],
    "locations": [
        IndexModel([("point", GEOSPHERE)], name="point_2dsphere"),
        IndexModel([("kind", ASCENDING), ("name", ASCENDING)], name="kind_name"),
        # Locations whose inventory copies (point, kind, active) still need a refresh: usually none.
        IndexModel([("copies_pending", ASCENDING)], name="copies_pending", partialFilterExpression={"copies_pending": True}),
    ],
    "products": [
        IndexModel([("name", ASCENDING)], name="name"),
        # products(filter): SKU and name-word prefixes; a barcode (GTIN-14 form, unique across products;
        # sparse: most products may have none); category, handling and status, each in SKU order.
        IndexModel([("search_terms", ASCENDING), ("_id", ASCENDING)], name="search_terms"),
        IndexModel([("gtin14", ASCENDING)], name="gtin14", unique=True, sparse=True),
        IndexModel([("category", ASCENDING), ("_id", ASCENDING)], name="category"),
        IndexModel([("handling", ASCENDING), ("_id", ASCENDING)], name="handling"),
        IndexModel([("active", ASCENDING), ("_id", ASCENDING)], name="active"),
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
        # Tombstones of merged customers only: a merge re-points earlier tombstones to the survivor.
        IndexModel([("merged_into", ASCENDING)], name="merged_into", partialFilterExpression={"merged_into": {"$type": "string"}}),
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
        # The dashboard's stock-out count reads only this small index.
        IndexModel([("location_id", ASCENDING)], name="stock_outs", partialFilterExpression={"available": {"$lte": 0}}),
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
    "return_policies": [],  # _id = "global" or a channel id
    "returns": [
        # Idempotency (a client key per order) and the order's n-th return: concurrent requests collide here.
        IndexModel([("order_id", ASCENDING), ("client_key", ASCENDING)], name="order_client_key", unique=True),
        IndexModel([("order_id", ASCENDING), ("sequence", ASCENDING)], name="order_sequence", unique=True),
        IndexModel([("created_at", DESCENDING), ("_id", DESCENDING)], name="created"),
        IndexModel([("customer_id", ASCENDING), ("created_at", DESCENDING), ("_id", DESCENDING)], name="customer_created"),
        IndexModel([("channel_id", ASCENDING), ("created_at", DESCENDING), ("_id", DESCENDING)], name="channel_created"),
        IndexModel([("location_id", ASCENDING), ("created_at", DESCENDING), ("_id", DESCENDING)], name="location_created"),
        IndexModel([("status", ASCENDING), ("created_at", DESCENDING), ("_id", DESCENDING)], name="status_created"),
        IndexModel([("reasons", ASCENDING), ("created_at", DESCENDING), ("_id", DESCENDING)], name="reason_created"),
        IndexModel([("tracking_number", ASCENDING)], name="tracking_number", unique=True,
                   partialFilterExpression={"tracking_number": {"$type": "string"}}),
    ],
    "events": [
        IndexModel([("seq", ASCENDING)], name="seq", unique=True, partialFilterExpression={"seq": {"$type": "number"}}),
        IndexModel([("order_id", ASCENDING), ("_id", ASCENDING)], name="order_timeline",
                   partialFilterExpression={"order_id": {"$type": "string"}}),
        # A level's movement log (StockLevelChanged events), newest first.
        IndexModel([("sku", ASCENDING), ("location_id", ASCENDING), ("_id", ASCENDING)], name="stock_movements",
                   partialFilterExpression={"sku": {"$type": "string"}}),
        # The sequencer's degraded-mode scan; writers insert seq null, so this index holds only the unstamped.
        IndexModel([("seq", ASCENDING), ("_id", ASCENDING)], name="unstamped",
                   partialFilterExpression={"seq": {"$type": "null"}}),
        # Replays of one order's, customer's or location's events after a cursor.
        IndexModel([("order_id", ASCENDING), ("seq", ASCENDING)], name="order_seq",
                   partialFilterExpression={"seq": {"$type": "number"}, "order_id": {"$type": "string"}}),
        IndexModel([("customer_id", ASCENDING), ("seq", ASCENDING)], name="customer_seq",
                   partialFilterExpression={"seq": {"$type": "number"}, "customer_id": {"$type": "string"}}),
        IndexModel([("location_id", ASCENDING), ("seq", ASCENDING)], name="location_seq",
                   partialFilterExpression={"seq": {"$type": "number"}, "location_id": {"$type": "string"}}),
        # The TTL index on `at` (retention) is managed by ensure_event_retention, not here: its
        # expireAfterSeconds changes with configuration, which create_indexes would refuse.
    ],
    # Replay protection for signed webhooks: a nonce is kept only while its timestamp is acceptable.
    "webhook_nonces": [
        IndexModel([("expires_at", ASCENDING)], name="expires_at_ttl", expireAfterSeconds=0),
    ],
    "leases": [],
    "relay_state": [],
    "refunds": [
        IndexModel([("order_id", ASCENDING), ("created_at", ASCENDING), ("_id", ASCENDING)], name="order"),
        # One refund per return: a second one (a double click, a racing clerk) collides here too.
        IndexModel([("return_id", ASCENDING)], name="return", unique=True,
                   partialFilterExpression={"return_id": {"$type": "string"}}),
        IndexModel([("created_at", DESCENDING), ("_id", DESCENDING)], name="created"),
        # PENDING refunds the scheduler completes (a crash between the provider and the record).
        IndexModel([("created_at", ASCENDING)], name="pending", partialFilterExpression={"status": "PENDING"}),
    ],
    "exchanges": [
        IndexModel([("return_id", ASCENDING)], name="return", unique=True),  # one exchange per return
        IndexModel([("replacement_order_id", ASCENDING)], name="replacement_order",
                   partialFilterExpression={"replacement_order_id": {"$type": "string"}}),
        # Exchanges waiting for their return to arrive (EXCHANGE_ON_RECEIPT).
        IndexModel([("status", ASCENDING), ("created_at", ASCENDING)], name="status_created"),
    ],
    "cases": [
        # Idempotency: a client key per customer.
        IndexModel([("customer_id", ASCENDING), ("client_key", ASCENDING)], name="customer_client_key", unique=True),
        IndexModel([("created_at", DESCENDING), ("_id", DESCENDING)], name="created"),
        IndexModel([("customer_id", ASCENDING), ("created_at", DESCENDING), ("_id", DESCENDING)], name="customer_created"),
        IndexModel([("order_ids", ASCENDING), ("created_at", DESCENDING), ("_id", DESCENDING)], name="order_created"),
        IndexModel([("channel_id", ASCENDING), ("created_at", DESCENDING), ("_id", DESCENDING)], name="channel_created"),
        IndexModel([("location_id", ASCENDING), ("created_at", DESCENDING), ("_id", DESCENDING)], name="location_created"),
        IndexModel([("status", ASCENDING), ("created_at", DESCENDING), ("_id", DESCENDING)], name="status_created"),
        IndexModel([("assignee", ASCENDING), ("created_at", DESCENDING), ("_id", DESCENDING)], name="assignee_created"),
        # Queues, most urgent first; claimNextCase walks the unassigned part of it.
        IndexModel([("priority_rank", DESCENDING), ("next_due", ASCENDING), ("_id", ASCENDING)], name="most_urgent"),
        IndexModel([("assignee", ASCENDING), ("status", ASCENDING), ("priority_rank", DESCENDING), ("next_due", ASCENDING), ("_id", ASCENDING)],
                   name="queue"),
        # The scheduler's breach scans: running targets by due time.
        IndexModel([("sla.first_response_due", ASCENDING)], name="first_response_due"),
        IndexModel([("sla.resolution_due", ASCENDING)], name="resolution_due"),
        IndexModel([("sla.first_response_breached_at", ASCENDING)], name="first_response_breached",
                   partialFilterExpression={"sla.first_response_breached_at": {"$type": "date"}}),
        IndexModel([("sla.resolution_breached_at", ASCENDING)], name="resolution_breached",
                   partialFilterExpression={"sla.resolution_breached_at": {"$type": "date"}}),
    ],
    "case_sla_policies": [],
    "suppliers": [],
    # One document per (supplier, SKU); at most one preferred supplier per SKU.
    "supplier_items": [
        IndexModel([("sku", ASCENDING), ("supplier_code", ASCENDING)], name="sku_supplier"),
        IndexModel([("sku", ASCENDING)], name="preferred", unique=True, partialFilterExpression={"preferred": True}),
    ],
    "purchase_orders": [
        IndexModel([("created_at", DESCENDING), ("_id", DESCENDING)], name="created"),
        IndexModel([("status", ASCENDING), ("created_at", DESCENDING), ("_id", DESCENDING)], name="status_created"),
        IndexModel([("location_id", ASCENDING), ("created_at", DESCENDING), ("_id", DESCENDING)], name="location_created"),
        # Open POs of a SKU (incoming by PO, promise dates): earliest expected first.
        IndexModel([("open_skus", ASCENDING), ("expected_at", ASCENDING)], name="open_skus",
                   partialFilterExpression={"open_skus": {"$type": "string"}}),
        # The one open replenishment draft per (supplier, location) that crossings add lines to.
        IndexModel([("draft_key", ASCENDING)], name="draft_key", unique=True,
                   partialFilterExpression={"draft_key": {"$type": "string"}}),
        # A crossing's line exists once across all POs (a second is refused by the database too).
        IndexModel([("crossing_ids", ASCENDING)], name="crossing", unique=True,
                   partialFilterExpression={"crossing_ids": {"$type": "string"}}),
    ],
    # Reorder-point crossings: written with the stock change that crossed, consumed once (replenishment).
    "reorder_crossings": [
        IndexModel([("at", ASCENDING)], name="pending", partialFilterExpression={"outcome": "PENDING"}),
    ],
    "replenishment_policies": [],
    # Shared client budgets (app/repositories/rate_limits.py): a bucket goes once it has drained.
    "rate_limit_buckets": [
        IndexModel([("expires_at", ASCENDING)], name="expires_at_ttl", expireAfterSeconds=0),
    ],
    # Outbound webhooks (app/repositories/webhooks.py).
    "webhook_endpoints": [
        IndexModel([("created_at", DESCENDING), ("_id", DESCENDING)], name="created"),
        IndexModel([("status", ASCENDING), ("_id", ASCENDING)], name="status"),
    ],
    "webhook_deliveries": [
        # One delivery per endpoint and event: a range scanned twice enqueues nothing twice.
        IndexModel([("endpoint_id", ASCENDING), ("event_id", ASCENDING)], name="endpoint_event", unique=True),
        # The worker's heads per aggregate: an endpoint's open deliveries in seq order.
        IndexModel([("endpoint_id", ASCENDING), ("status", ASCENDING), ("seq", ASCENDING)], name="endpoint_status_seq"),
        IndexModel([("created_at", DESCENDING), ("_id", DESCENDING)], name="created"),
        IndexModel([("endpoint_id", ASCENDING), ("created_at", DESCENDING), ("_id", DESCENDING)], name="endpoint_created"),
        IndexModel([("status", ASCENDING), ("created_at", DESCENDING), ("_id", DESCENDING)], name="status_created"),
    ],
}

DEFAULT_EVENT_RETENTION_DAYS = 30
_NAMESPACE_EXISTS = 48
_DAY = 86_400


async def ensure_indexes(db: AsyncDatabase, *, event_retention_days: int = DEFAULT_EVENT_RETENTION_DAYS) -> None:
    existing = set(await db.list_collection_names())
    for name, models in INDEXES.items():
        if name not in existing:
            # Collections must exist before a transaction writes to them (MongoDB < 7 cannot create them inside one).
            try:
                await db.create_collection(name)
            except CollectionInvalid:
                pass  # another instance created it first
            except OperationFailure as exc:
                if exc.code != _NAMESPACE_EXISTS:
                    raise  # else another instance (a sibling worker) created it between the list and here
        if models:
            await db[name].create_indexes(models)
    await ensure_event_retention(db, event_retention_days)


async def ensure_event_retention(db: AsyncDatabase, days: int) -> None:
    """The event log keeps `days` of history: a TTL index on `at`, changed in place with collMod."""
    if days < 1:
        raise ValueError("event retention must be at least one day")
    seconds = days * _DAY
    existing = {index["name"]: index async for index in await db["events"].list_indexes()}
    current = existing.get("at")
    if current is None:
        await db["events"].create_index([("at", ASCENDING)], name="at", expireAfterSeconds=seconds)
    elif current.get("expireAfterSeconds") != seconds:
        # Also turns the foundation's plain `at` index into a TTL index (MongoDB >= 5.1).
        await db.command({"collMod": "events", "index": {"name": "at", "expireAfterSeconds": seconds}})
