"""Deterministic demo data: channels, locations at real city coordinates, products, stock,
customers known on several channels, and their order history with its shipments (played through
the rules by demo_history.py). Bulk writes throughout; meant for an empty database (`oms seed`
refuses any other, see `database_contents`)."""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone

from app.domain.carriers import ShippingPolicy
from app.domain.channels import BackorderPolicy, Channel, ChannelKind
from app.domain.cities import CITIES, city_code, COLORS, DC_CITIES, FIRST_NAMES, LAST_NAMES, PRODUCT_WORDS, STREETS
from app.domain.customers import ChannelIdentity, Customer
from app.domain.geo import GeoPoint
from app.domain.inventory import BinLocation, InventoryLevel
from app.domain.locations import Address, Capabilities, Location, LocationKind, Zone
from app.domain.money import Money
from app.domain.orders import (
    Delivery,
    DeliveryMethod,
    Order,
    OrderLine,
    OrderStatus,
    order_totals,
)
from app.domain.products import Dimensions, HandlingFlag, Product
from app.domain.suppliers import Supplier, SupplierItem
from app.repositories.channels import ChannelRepository
from app.repositories.customers import CustomerRepository
from app.repositories.database import Mongo
from app.repositories.demo_seed import DatabaseContents
from app.repositories.inventory import InventoryRepository
from app.repositories.locations import LocationRepository
from app.repositories.orders import OrderRepository
from app.repositories.products import ProductRepository
from app.repositories.shipments import ShipmentRepository
from app.repositories.suppliers import SupplierRepository
from app.services.demo_history import HOLDS_STOCK, History, OrderDraft

Progress = Callable[[str, int, int], None]

CHANNELS = (
    Channel("web", "Web shop", ChannelKind.WEB),
    Channel("app", "Mobile app", ChannelKind.MOBILE_APP),
    Channel("pos", "Store POS", ChannelKind.STORE_POS),
    # Marketplaces penalize sellers for late shipments, so they refuse rather than backorder.
    # ... and ship whatever arrives by the promised date at the lowest cost.
    Channel("amazon", "Amazon", ChannelKind.MARKETPLACE, backorder_policy=BackorderPolicy.REFUSE,
            shipping_policy=ShippingPolicy.CHEAPEST_ON_TIME),
    Channel("ebay", "eBay", ChannelKind.MARKETPLACE, backorder_policy=BackorderPolicy.REFUSE,
            shipping_policy=ShippingPolicy.CHEAPEST_ON_TIME),
    Channel("phone", "Call center", ChannelKind.PHONE),
    Channel("catalog", "Catalog / mail order", ChannelKind.CATALOG),
    Channel("social", "Social shop", ChannelKind.SOCIAL),
)

_BATCH = 5_000


@dataclass(frozen=True, slots=True)
class SeedSize:
    locations: int = 24
    skus: int = 200
    customers: int = 200
    orders: int = 600


@dataclass(frozen=True, slots=True)
class SeedReport:
    channels: int
    locations: int
    products: int
    inventory_levels: int
    customers: int
    orders: int
    shipments: int


def _id(rng: random.Random) -> str:
    return f"{rng.getrandbits(96):024x}"


def _near(rng: random.Random, lat: float, lng: float, km: float) -> GeoPoint:
    # ~111 km per degree of latitude; good enough for scattering stores around a city centre.
    return GeoPoint(round(lat + rng.uniform(-km, km) / 111.0, 6), round(lng + rng.uniform(-km, km) / 85.0, 6))


def _address(rng: random.Random, city: tuple[str, str, str, float, float], name: str | None = None) -> Address:
    return Address(
        name=name,
        line1=f"{rng.randint(1, 9999)} {rng.choice(STREETS)}",
        city=city[0],
        region=city[1],
        postal_code=city[2],
        country="US",
    )


def build_locations(rng: random.Random, count: int) -> list[Location]:
    dc_count = min(len(DC_CITIES), max(1, count // 15))
    drop_ship = 1 if count >= 10 else 0
    by_name = {c[0]: c for c in CITIES}
    locations: list[Location] = []
    for i in range(dc_count):
        city = by_name[DC_CITIES[i]]
        locations.append(
            Location(
                id=f"DC-{city[1]}-{city_code(city[0])}",
                name=f"{city[0]} Distribution Center",
                kind=LocationKind.DISTRIBUTION_CENTER,
                address=_address(rng, city),
                point=_near(rng, city[3], city[4], 20),
                capabilities=Capabilities(ships=True, offers_pickup=False, accepts_returns=True),
                zones=tuple(Zone(code, f"Zone {code}", n) for n, code in enumerate("ABCDEF", start=1)),
                handling_cost_cents=150,
                priority=10,
            )
        )
    if drop_ship:
        city = by_name["Memphis"]
        locations.append(
            Location(
                id="DS-ACME",
                name="Acme Supply (drop-ship)",
                kind=LocationKind.DROP_SHIP,
                address=_address(rng, city),
                point=_near(rng, city[3], city[4], 5),
                capabilities=Capabilities(ships=True, offers_pickup=False, accepts_returns=False),
                zones=(Zone("A", "Warehouse", 1),),
                handling_cost_cents=400,
                priority=0,
            )
        )
    per_city: dict[str, int] = {}
    store_count = count - len(locations)
    for i in range(store_count):
        city = CITIES[i % len(CITIES)]
        key = f"{city[1]}-{city_code(city[0])}"
        per_city[key] = per_city.get(key, 0) + 1
        number = per_city[key]
        locations.append(
            Location(
                id=f"ST-{key}-{number:02d}",
                name=f"{city[0]} Store #{number}",
                kind=LocationKind.STORE,
                address=_address(rng, city),
                point=_near(rng, city[3], city[4], 12 if number > 1 else 3),
                capabilities=Capabilities(ships=rng.random() < 0.6, offers_pickup=True, accepts_returns=True),
                zones=(Zone("FLOOR", "Sales floor", 1), Zone("BACK", "Back room", 2)),
                handling_cost_cents=300,
                priority=5,
            )
        )
    return locations


def build_products(rng: random.Random, count: int) -> list[Product]:
    products = []
    for i in range(count):
        adjective, noun, grams, dims, flags = PRODUCT_WORDS[i % len(PRODUCT_WORDS)]
        color = COLORS[(i // len(PRODUCT_WORDS)) % len(COLORS)]
        products.append(
            Product(
                sku=f"SKU-{i + 1:05d}",
                name=f"{adjective} {noun}, {color}",
                price=Money(rng.randrange(5, 250) * 100 - 1),  # 4.99 … 248.99
                weight_grams=int(grams * rng.uniform(0.9, 1.1)),
                dimensions=Dimensions(*(float(d) for d in dims)),
                handling=frozenset(HandlingFlag(f) for f in flags),
                category=noun.split()[-1],
            )
        )
    return products


def _bin(rng: random.Random, location: Location, index: int) -> BinLocation:
    zone = location.zones[index % len(location.zones)].code if location.zones else "A"
    return BinLocation(zone=zone, aisle=f"{rng.randint(1, 20):02d}", shelf=f"{rng.randint(1, 6)}", bin=f"{rng.randint(1, 40):02d}")


def build_inventory(rng: random.Random, location: Location, products: list[Product]) -> list[InventoryLevel]:
    levels = []
    for index, product in enumerate(products):
        if location.kind is LocationKind.STORE:
            if rng.random() > 0.6:
                continue  # stores carry a range, not the whole catalog
            on_hand, safety, reorder = rng.choice((0, 0, 1, 2, 3, 5, 8, 12, 20)), 0, 2
        elif location.kind is LocationKind.DROP_SHIP:
            if rng.random() > 0.3:
                continue
            on_hand, safety, reorder = rng.randint(20, 200), 0, 10
        else:
            on_hand, safety, reorder = rng.randint(0, 400), rng.choice((0, 2, 5)), 25
        levels.append(
            InventoryLevel(
                sku=product.sku,
                location_id=location.id,
                on_hand=on_hand,
                reserved=0,
                safety_stock=safety,
                reorder_point=reorder,
                reorder_quantity=reorder * 4,
                bin=_bin(rng, location, index),
            )
        )
    return levels


# The demo's suppliers: (code, name, lead time days, order cut-off UTC, minimum order value cents).
DEMO_SUPPLIERS = (
    ("NORTHWIND", "Northwind Traders", 4, "16:00", 25_000),
    ("ACME", "Acme Wholesale", 7, "23:59", 0),
    ("GLOBEX", "Globex Supply Co.", 12, "12:00", 50_000),
    ("INITECH", "Initech Imports", 21, "23:59", 100_000),
)


def build_suppliers(rng: random.Random, products: list[Product]) -> tuple[list[Supplier], list[SupplierItem]]:
    """Four suppliers; every product in one or two catalogues (the first one preferred), bought at
    45-65 % of its price in packs of 1, 4, 6 or 12 with a minimum order of one or two packs."""
    suppliers = [
        Supplier(code=code, name=name, contact_email=f"orders@{code.lower()}.example", contact_phone=None,
                 lead_time_days=lead, order_cutoff=cutoff, min_order_value_cents=minimum, currency="USD")
        for code, name, lead, cutoff, minimum in DEMO_SUPPLIERS
    ]
    items: list[SupplierItem] = []
    for product in products:
        chosen = rng.sample(suppliers, rng.choice((1, 1, 2)))
        for rank, supplier in enumerate(chosen):
            pack = rng.choice((1, 4, 6, 12))
            items.append(
                SupplierItem(
                    supplier_code=supplier.code,
                    sku=product.sku,
                    supplier_sku=f"{supplier.code[:3]}-{product.sku[4:]}",
                    unit_cost_cents=max(1, product.price.cents * rng.randint(45, 65) // 100),
                    pack_size=pack,
                    min_order_quantity=pack * rng.choice((1, 2)),
                    preferred=rank == 0,
                )
            )
    return suppliers, items


def build_customers(rng: random.Random, count: int, created_before: datetime) -> list[Customer]:
    customers = []
    for i in range(count):
        first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
        city = rng.choice(CITIES)
        identities = []
        if rng.random() < 0.35:
            identities.append(ChannelIdentity("amazon", f"A{rng.getrandbits(40):X}"))
        if rng.random() < 0.15:
            identities.append(ChannelIdentity("ebay", f"{first.lower()}_{last.lower()}{rng.randint(1, 999)}"))
        if rng.random() < 0.5:
            identities.append(ChannelIdentity("pos", f"LOYALTY-{rng.randint(100000, 999999)}"))
        customers.append(
            Customer(
                id=_id(rng),
                first_name=first,
                last_name=last,
                email=f"{first.lower()}.{last.lower()}.{i + 1}@example.com",
                phone=f"+1{rng.randint(200, 989)}555{rng.randint(1000, 9999)}",
                created_at=created_before - timedelta(days=rng.randint(200, 1500)),
                addresses=(_address(rng, city, name=f"{first} {last}"),),
                identities=tuple(identities),
            )
        )
    return customers


# How far each order is meant to get (the status it ends with is what the rules make of it, see
# demo_history.py): mostly closed history, and some orders still open, holding stock.
_HISTORY_STATUSES = (
    (OrderStatus.DELIVERED, 62),
    (OrderStatus.PICKED_UP, 9),
    (OrderStatus.SHIPPED, 7),
    (OrderStatus.CANCELLED, 7),
    (OrderStatus.ALLOCATED, 6),
    (OrderStatus.IN_FULFILLMENT, 4),
    (OrderStatus.PARTIALLY_SHIPPED, 3),
    (OrderStatus.READY_FOR_PICKUP, 2),
)
# Hours before `as_of` an order was placed, by how far it is meant to get: old enough to have got
# there, recent enough to still be open.
_PLACED_HOURS_AGO = {
    OrderStatus.ALLOCATED: (1, 20),
    OrderStatus.IN_FULFILLMENT: (12, 36),
    OrderStatus.READY_FOR_PICKUP: (12, 36),
    OrderStatus.SHIPPED: (36, 120),
    OrderStatus.PARTIALLY_SHIPPED: (36, 120),
}
_CLOSED_HOURS_AGO = (20 * 24, 365 * 24)
# At a pick-up store the shopper's order is either still being prepared or ready, or collected.
_AT_THE_STORE = {
    OrderStatus.DELIVERED: OrderStatus.PICKED_UP,
    OrderStatus.SHIPPED: OrderStatus.READY_FOR_PICKUP,
    OrderStatus.PARTIALLY_SHIPPED: OrderStatus.READY_FOR_PICKUP,
}


def build_order_drafts(
    rng: random.Random,
    count: int,
    customers: list[Customer],
    products: list[Product],
    locations: list[Location],
    as_of: datetime,
) -> list[OrderDraft]:
    """Orders as placed, each with how far it is meant to get and where it was filled from."""
    shippers = [loc for loc in locations if loc.capabilities.ships]
    stores = [loc for loc in locations if loc.capabilities.offers_pickup]
    statuses, weights = zip(*_HISTORY_STATUSES)
    channel_ids = [c.id for c in CHANNELS]
    channel_weights = (40, 25, 12, 10, 4, 5, 2, 2)
    drafts = []
    for i in range(count):
        customer = customers[i % len(customers)] if i < len(customers) else rng.choice(customers)
        channel_id = rng.choices(channel_ids, channel_weights)[0]
        target = rng.choices(statuses, weights)[0]
        pickup = bool(stores) and (target in (OrderStatus.PICKED_UP, OrderStatus.READY_FOR_PICKUP) or channel_id == "pos")
        if pickup:
            target = _AT_THE_STORE.get(target, target)
        elif target is OrderStatus.PICKED_UP:
            target = OrderStatus.DELIVERED
        elif target is OrderStatus.READY_FOR_PICKUP:
            target = OrderStatus.ALLOCATED
        low, high = _PLACED_HOURS_AGO.get(target, _CLOSED_HOURS_AGO)
        created = as_of - timedelta(minutes=rng.randint(low * 60, high * 60))
        sizes = (2, 2, 3, 4) if target is OrderStatus.PARTIALLY_SHIPPED else (1, 1, 2, 3, 4)  # it ships in parts
        picked = rng.sample(products, k=min(len(products), rng.choice(sizes)))
        lines = tuple(
            OrderLine(id=str(n), sku=p.sku, name=p.name, quantity=rng.choice((1, 1, 1, 2, 3)), unit_price=p.price)
            for n, p in enumerate(picked, start=1)
        )
        if pickup:
            store = rng.choice(stores)
            delivery = Delivery(method=DeliveryMethod.PICKUP_IN_STORE, pickup_location_id=store.id)
            source = store
        else:
            address = customer.addresses[0] if customer.addresses else None
            city = next((c for c in CITIES if address and c[0] == address.city), rng.choice(CITIES))
            delivery = Delivery(method=DeliveryMethod.SHIP, address=address, point=_near(rng, city[3], city[4], 8))
            source = rng.choice(shippers)
        shipping = Money(0 if delivery.method is DeliveryMethod.PICKUP_IN_STORE else rng.choice((0, 599, 899)))
        order = Order(
            id=_id(rng),
            channel_id=channel_id,
            external_id=f"{channel_id.upper()}-{100000 + i}",
            customer_id=customer.id,
            status=OrderStatus.CREATED,
            lines=lines,
            delivery=delivery,
            totals=order_totals(lines, shipping, tax_rate_bp=rng.choice((0, 625, 800))),
            created_at=created,
            updated_at=created,
        )
        drafts.append(OrderDraft(order=order, target=target, source_id=source.id))
    return drafts


async def seed_demo(
    mongo: Mongo, size: SeedSize, *, seed: int = 42, as_of: date | None = None, progress: Progress | None = None
) -> SeedReport:
    """For an empty database (`oms seed` checks with `database_contents`). Upserts by id, so running
    it again with the same seed and day leaves the same data; stock is rewritten and then reserved
    for the seeded open orders, so another's open orders would be left unreserved."""
    rng = random.Random(seed)
    anchor = datetime.combine(as_of or datetime.now(timezone.utc).date(), time.min, tzinfo=timezone.utc)
    report = progress or (lambda stage, done, total: None)
    db = mongo.db

    await ChannelRepository(db).upsert_many(list(CHANNELS))
    locations = build_locations(rng, size.locations)
    await LocationRepository(db).upsert_many(locations)
    products = build_products(rng, size.skus)
    product_repo = ProductRepository(db)
    for start in range(0, len(products), _BATCH):
        await product_repo.upsert_many(products[start : start + _BATCH])
        report("products", min(start + _BATCH, len(products)), len(products))

    inventory_repo = InventoryRepository(db)
    write_levels = inventory_repo.insert_many if await inventory_repo.is_empty() else inventory_repo.upsert_many
    level_count = 0
    for n, location in enumerate(locations, start=1):
        levels = build_inventory(rng, location, products)
        for start in range(0, len(levels), _BATCH):
            await write_levels([(lvl, location) for lvl in levels[start : start + _BATCH]])
        level_count += len(levels)
        report("inventory", n, len(locations))

    customers = build_customers(rng, size.customers, anchor)
    customer_repo = CustomerRepository(db)
    for start in range(0, len(customers), _BATCH):
        await customer_repo.upsert_many(customers[start : start + _BATCH])
        report("customers", min(start + _BATCH, len(customers)), len(customers))

    drafts = build_order_drafts(rng, size.orders, customers, products, locations, anchor) if customers else []
    # Open orders are routed against the stock just written, and reserve what they are given.
    open_skus = sorted({line.sku for d in drafts if d.target in HOLDS_STOCK for line in d.order.lines})
    history = History(
        random.Random(rng.getrandbits(64)),
        as_of=anchor,
        locations=locations,
        products={p.sku: p for p in products},
        channels={c.id: c for c in CHANNELS},
        stock=await inventory_repo.routing_stock(open_skus) if open_skus else [],
    )
    order_repo, shipment_repo = OrderRepository(db), ShipmentRepository(db)
    shipment_count = 0
    for start in range(0, len(drafts), _BATCH):
        played = [await history.play(draft) for draft in drafts[start : start + _BATCH]]
        await order_repo.upsert_many([order for order, _ in played])
        shipments = [s for _, made in played for s in made]
        await shipment_repo.upsert_many(shipments)
        shipment_count += len(shipments)
        report("orders", min(start + _BATCH, len(drafts)), len(drafts))
    if not await inventory_repo.reserve_many(dict(history.reserved), at=anchor):
        raise RuntimeError("seeded orders reserve more than the seeded stock has available")
    # Suppliers come last, from their own generator, so they change none of the data above.
    suppliers, items = build_suppliers(random.Random(f"{seed}-suppliers"), products)
    await SupplierRepository(db).upsert_many(suppliers, items)

    return SeedReport(
        channels=len(CHANNELS),
        locations=len(locations),
        products=len(products),
        inventory_levels=level_count,
        customers=len(customers),
        orders=len(drafts),
        shipments=shipment_count,
    )


async def database_contents(mongo: Mongo) -> dict[str, int]:
    """Documents per collection that holds data (orders, stock, API keys, events, ...); empty
    when seeding could overwrite nothing. Running processes' own state does not count."""
    return await DatabaseContents(mongo.db).counts()


async def reset_database(mongo: Mongo) -> None:
    """Deletes every document of every collection that holds data, keeping collections, indexes
    and running processes' own state (so event cursors keep counting up)."""
    contents = DatabaseContents(mongo.db)
    await contents.delete_all(sorted(await contents.counts()))
