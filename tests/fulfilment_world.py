"""A small fulfilment world: a DC, stores, products with handling flags, stock whose `reserved` matches
the open allocations of the orders written (the invariant holds from the first moment), and helpers
to call the carrier webhook with a real signature."""

from __future__ import annotations

import json
import time
from collections import defaultdict
from datetime import date, datetime, timedelta, timezone
from typing import Any

import httpx

from app.domain.geo import GeoPoint
from app.domain.ids import new_id
from app.domain.inventory import BinLocation, InventoryLevel
from app.domain.locations import Address, Capabilities, Location, LocationKind, Zone
from app.domain.money import Money
from app.domain.orders import Allocation, Delivery, DeliveryMethod, Order, OrderLine, OrderStatus, order_totals
from app.domain.products import Dimensions, HandlingFlag, Product
from app.domain.signatures import sign
from app.repositories.database import Mongo
from app.services.container import Services
from app.settings import DEV_WEBHOOK_SECRET
from tests.factories import World, customer

COLUMBUS = GeoPoint(39.9612, -82.9988)
BOSTON = GeoPoint(42.3601, -71.0589)
NEW_YORK = GeoPoint(40.7128, -74.0060)
SEATTLE = GeoPoint(47.6062, -122.3321)

DC = Location(
    id="DC-OH-COL",
    name="Columbus Distribution Center",
    kind=LocationKind.DISTRIBUTION_CENTER,
    address=Address(line1="4100 Logistics Pkwy", city="Columbus", region="OH", postal_code="43215", name="OMS Columbus DC"),
    point=COLUMBUS,
    capabilities=Capabilities(ships=True, offers_pickup=False, accepts_returns=True),
    zones=(Zone("A", "Fast movers", 1), Zone("B", "Bulk", 2), Zone("C", "Cage", 3)),
    priority=10,
)
BOS = Location(
    id="ST-MA-BOS-01",
    name="Boston Store #1",
    kind=LocationKind.STORE,
    address=Address(line1="100 Boylston St", city="Boston", region="MA", postal_code="02116"),
    point=BOSTON,
    capabilities=Capabilities(ships=True, offers_pickup=True, accepts_returns=True),
    zones=(Zone("FLOOR", "Sales floor", 1), Zone("BACK", "Back room", 2)),
    priority=5,
)
NYC = Location(
    id="ST-NY-NYC-01",
    name="New York Store #1",
    kind=LocationKind.STORE,
    address=Address(line1="350 5th Ave", city="New York", region="NY", postal_code="10118"),
    point=NEW_YORK,
    capabilities=Capabilities(ships=True, offers_pickup=True, accepts_returns=True),
    zones=(Zone("FLOOR", "Sales floor", 1), Zone("BACK", "Back room", 2)),
    priority=5,
)

SHOPPER_ADDRESS = Address(line1="77 Mass Ave", city="Cambridge", region="MA", postal_code="02139", name="Ada Lovelace")
SHOPPER_POINT = GeoPoint(42.3601, -71.0942)


def product(sku: str, name: str, grams: int = 500, dims: tuple[float, float, float] = (20, 15, 10),
            handling: tuple[HandlingFlag, ...] = (), price: int = 2500) -> Product:
    return Product(sku=sku, name=name, price=Money(price), weight_grams=grams, dimensions=Dimensions(*dims), handling=frozenset(handling))


PRODUCTS = (
    product("SKU-KETTLE", "Ceramic Pour-Over Kettle", 1100, (30, 20, 20), (HandlingFlag.FRAGILE,)),
    product("SKU-SHOE", "Trail Running Shoe", 650, (32, 22, 13)),
    product("SKU-POWER", "Lithium Power Bank", 350, (15, 8, 3), (HandlingFlag.HAZMAT,)),
    product("SKU-BREW", "Organic Cold Brew Pack", 1800, (30, 20, 15), (HandlingFlag.COLD_CHAIN,)),
)
BINS = {
    ("SKU-KETTLE", DC.id): BinLocation("C", "02", "1", "05"),
    ("SKU-SHOE", DC.id): BinLocation("A", "10", "2", "01"),
    ("SKU-POWER", DC.id): BinLocation("A", "2", "1", "07"),
    ("SKU-BREW", DC.id): BinLocation("B", "01", "3", "02"),
}


class FulfilmentWorld:
    """Locations, products and stock; orders written with allocations and matching reservations."""

    def __init__(self, world: World, services: Services):
        self.world = world
        self.services = services
        self.mongo: Mongo = world.mongo
        self.stock: dict[tuple[str, str], int] = {}

    async def setup(self, stock: dict[tuple[str, str], int] | None = None) -> None:
        await self.world.add_locations(DC, BOS, NYC)
        await self.world.add_products(*PRODUCTS)
        self.stock = stock or {
            ("SKU-KETTLE", DC.id): 10, ("SKU-SHOE", DC.id): 20, ("SKU-POWER", DC.id): 15, ("SKU-BREW", DC.id): 8,
            ("SKU-SHOE", BOS.id): 4, ("SKU-KETTLE", BOS.id): 2, ("SKU-KETTLE", NYC.id): 6, ("SKU-SHOE", NYC.id): 5,
        }
        await self.world.add_stock(
            *[
                InventoryLevel(sku=sku, location_id=loc, on_hand=qty, reserved=0, bin=BINS.get((sku, loc), BinLocation("BACK", "1", "1", "1")))
                for (sku, loc), qty in self.stock.items()
            ]
        )

    async def order(
        self,
        lines: list[tuple[str, int, str]],
        *,
        status: OrderStatus = OrderStatus.ALLOCATED,
        pickup_at: str | None = None,
        external_id: str | None = None,
        requested_date: date | None = None,
        release_at: datetime | None = None,
        channel_id: str = "web",
        customer_id: str | None = None,
        sync: bool = True,
    ) -> Order:
        """lines: (sku, quantity, location id). Reserves the stock it allocates, in one transaction."""
        if customer_id is None:
            shopper = customer("Ada", "Lovelace", email=f"ada.{new_id()}@example.com")
            await self.world.add_customers(shopper)
            customer_id = shopper.id
        order_lines = tuple(
            OrderLine(id=str(n), sku=sku, name=next(p.name for p in PRODUCTS if p.sku == sku), quantity=qty, unit_price=Money(2500))
            for n, (sku, qty, _) in enumerate(lines, start=1)
        )
        allocations = tuple(
            Allocation(id=f"{n}-1", line_id=str(n), sku=sku, location_id=loc, quantity=qty)
            for n, (sku, qty, loc) in enumerate(lines, start=1)
        )
        delivery = (
            Delivery(method=DeliveryMethod.PICKUP_IN_STORE, pickup_location_id=pickup_at, requested_date=requested_date)
            if pickup_at
            else Delivery(method=DeliveryMethod.SHIP, address=SHOPPER_ADDRESS, point=SHOPPER_POINT, requested_date=requested_date)
        )
        now = datetime.now(timezone.utc).replace(microsecond=0)
        order = Order(
            id=new_id(), channel_id=channel_id, external_id=external_id or f"W-{new_id()[-6:]}", customer_id=customer_id,
            status=status, lines=order_lines, delivery=delivery, totals=order_totals(order_lines, Money(0 if pickup_at else 599)),
            created_at=now, updated_at=now, allocations=allocations, release_at=release_at,
        )

        async def work(session: Any) -> None:
            await self.world.orders.insert_many([order], session=session)
            for allocation in allocations:
                moved = await self.world.inventory.move(
                    allocation.sku, allocation.location_id, reserved=allocation.quantity, require_available=True, at=now, session=session
                )
                assert moved is not None, f"not enough {allocation.sku} at {allocation.location_id} for the test order"
            if sync:
                await self.services.fulfilment.sync_shipments(order, session=session)

        await self.mongo.transaction(work)
        return order

    async def level(self, sku: str, location_id: str) -> dict[str, Any]:
        doc = await self.mongo.db["inventory"].find_one({"_id": f"{sku}@{location_id}"})
        assert doc is not None
        return doc

    async def order_doc(self, order_id: str) -> dict[str, Any]:
        doc = await self.mongo.db["orders"].find_one({"_id": order_id})
        assert doc is not None
        return doc

    async def assert_invariant(self) -> None:
        """inventory.reserved == sum of OPEN allocations, for every (sku, location)."""
        open_sum: dict[str, int] = defaultdict(int)
        async for order in self.mongo.db["orders"].find({}, {"allocations": 1}):
            for a in order.get("allocations", []):
                if a["status"] == "OPEN":
                    open_sum[f"{a['sku']}@{a['location_id']}"] += a["quantity"]
        async for level in self.mongo.db["inventory"].find({}):
            assert level["reserved"] == open_sum.get(level["_id"], 0), (level["_id"], level["reserved"], open_sum.get(level["_id"], 0))
            assert level["available"] == max(0, level["on_hand"] - level["reserved"] - level.get("safety_stock", 0)), level

    async def events(self, **query: Any) -> list[dict[str, Any]]:
        return [doc async for doc in self.mongo.db["events"].find(query).sort("_id", 1)]


async def post_tracking(
    http: httpx.AsyncClient, carrier: str, events: list[dict[str, Any]], *, secret: str = DEV_WEBHOOK_SECRET,
    timestamp: int | None = None, body: bytes | None = None, nonce: str | None = None,
) -> httpx.Response:
    raw = body if body is not None else json.dumps({"events": events}).encode()
    header = sign(secret, raw, timestamp=timestamp if timestamp is not None else int(time.time()), nonce=nonce)
    return await http.post(f"/webhooks/carriers/{carrier}", content=raw, headers={"X-OMS-Signature": header, "Content-Type": "application/json"})


def tracking_event(event_id: str, tracking_number: str, kind: str, at: datetime, **extra: Any) -> dict[str, Any]:
    return {"id": event_id, "trackingNumber": tracking_number, "type": kind, "occurredAt": at.isoformat(), **extra}


def hours_from_now(hours: float) -> datetime:
    return datetime.now(timezone.utc) + timedelta(hours=hours)
