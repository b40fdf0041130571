"""Small hand-made worlds for tests, written through the repositories (no mocks)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from app.domain.channels import BackorderPolicy, Channel, ChannelKind
from app.domain.customers import ChannelIdentity, Customer
from app.domain.geo import GeoPoint
from app.domain.ids import new_id
from app.domain.inventory import BinLocation, InventoryLevel
from app.domain.locations import Address, Capabilities, Location, LocationKind, Zone
from app.domain.money import Money
from app.domain.orders import Delivery, DeliveryMethod, Order, OrderLine, OrderStatus, order_totals
from app.domain.products import Dimensions, HandlingFlag, Product
from app.repositories.channels import ChannelRepository
from app.repositories.customers import CustomerRepository
from app.repositories.database import Mongo
from app.repositories.inventory import InventoryRepository
from app.repositories.locations import LocationRepository
from app.repositories.orders import OrderRepository
from app.repositories.products import ProductRepository

BOSTON = GeoPoint(42.3601, -71.0589)
CAMBRIDGE = GeoPoint(42.3736, -71.1097)
PROVIDENCE = GeoPoint(41.8240, -71.4128)
NEW_YORK = GeoPoint(40.7128, -74.0060)
CHICAGO = GeoPoint(41.8781, -87.6298)

T0 = datetime(2026, 1, 15, 12, 0, tzinfo=timezone.utc)


def address(city: str = "Boston", postal_code: str = "02108", name: str | None = None) -> Address:
    return Address(line1="1 Main St", city=city, postal_code=postal_code, region="MA", name=name)


def channel(id: str = "web", kind: ChannelKind = ChannelKind.WEB, **kw: object) -> Channel:  # noqa: A002
    return Channel(id=id, name=id.title(), kind=kind, **kw)  # type: ignore[arg-type]


def location(
    id: str,  # noqa: A002
    point: GeoPoint,
    kind: LocationKind = LocationKind.STORE,
    *,
    ships: bool = True,
    offers_pickup: bool | None = None,
    accepts_returns: bool = True,
    handling_cost_cents: int = 0,
    priority: int = 0,
) -> Location:
    return Location(
        id=id,
        name=id,
        kind=kind,
        address=address(),
        point=point,
        capabilities=Capabilities(
            ships=ships,
            offers_pickup=(kind is LocationKind.STORE) if offers_pickup is None else offers_pickup,
            accepts_returns=accepts_returns,
        ),
        zones=(Zone("A", "Zone A", 1), Zone("B", "Zone B", 2)),
        handling_cost_cents=handling_cost_cents,
        priority=priority,
    )


def product(sku: str, price_cents: int = 1000, weight_grams: int = 500, handling: frozenset[HandlingFlag] = frozenset()) -> Product:
    return Product(
        sku=sku,
        name=f"Product {sku}",
        price=Money(price_cents),
        weight_grams=weight_grams,
        dimensions=Dimensions(20, 15, 10),
        handling=handling,
    )


def level(sku: str, location_id: str, on_hand: int, *, reserved: int = 0, safety_stock: int = 0, **kw: int) -> InventoryLevel:
    return InventoryLevel(
        sku=sku,
        location_id=location_id,
        on_hand=on_hand,
        reserved=reserved,
        safety_stock=safety_stock,
        bin=BinLocation("A", "01", "1", "01"),
        **kw,
    )


def customer(first: str = "Ada", last: str = "Lovelace", email: str | None = None, **kw: object) -> Customer:
    return Customer(
        id=new_id(),
        first_name=first,
        last_name=last,
        email=email or f"{first.lower()}.{last.lower()}@example.com",
        phone=kw.pop("phone", None),  # type: ignore[arg-type]
        created_at=T0 - timedelta(days=30),
        addresses=(address(name=f"{first} {last}"),),
        identities=tuple(kw.pop("identities", ())),  # type: ignore[arg-type]
    )


def order(
    customer_id: str,
    *,
    channel_id: str = "web",
    external_id: str | None = None,
    status: OrderStatus = OrderStatus.DELIVERED,
    created_at: datetime = T0,
    lines: list[tuple[str, int, int]] | None = None,
) -> Order:
    """lines: (sku, quantity, unit price cents)."""
    order_lines = tuple(
        OrderLine(id=str(n), sku=sku, name=sku, quantity=qty, unit_price=Money(price))
        for n, (sku, qty, price) in enumerate(lines or [("SKU-1", 1, 1000)], start=1)
    )
    return Order(
        id=new_id(),
        channel_id=channel_id,
        external_id=external_id or new_id(),
        customer_id=customer_id,
        status=status,
        lines=order_lines,
        delivery=Delivery(method=DeliveryMethod.SHIP, address=address(), point=BOSTON),
        totals=order_totals(order_lines, Money(500)),
        created_at=created_at,
        updated_at=created_at,
    )


class World:
    """Writes a small world into a test database."""

    def __init__(self, mongo: Mongo):
        self.mongo = mongo
        db = mongo.db
        self.channels = ChannelRepository(db)
        self.locations = LocationRepository(db)
        self.products = ProductRepository(db)
        self.inventory = InventoryRepository(db)
        self.customers = CustomerRepository(db)
        self.orders = OrderRepository(db)
        self._locations: dict[str, Location] = {}

    async def add_channels(self, *channels: Channel) -> None:
        await self.channels.upsert_many(list(channels) or [channel("web"), channel("amazon", ChannelKind.MARKETPLACE, backorder_policy=BackorderPolicy.REFUSE)])

    async def add_locations(self, *locations: Location) -> None:
        await self.locations.upsert_many(list(locations))
        self._locations.update({loc.id: loc for loc in locations})

    async def add_products(self, *products: Product) -> None:
        await self.products.upsert_many(list(products))

    async def add_stock(self, *levels: InventoryLevel) -> None:
        await self.inventory.upsert_many([(lvl, self._locations[lvl.location_id]) for lvl in levels])

    async def add_customers(self, *customers: Customer) -> None:
        await self.customers.upsert_many(list(customers))

    async def add_orders(self, *orders: Order) -> None:
        await self.orders.insert_many(list(orders))

    async def placed_order(self) -> Order:
        """One order of a new customer: what most event and subscription tests watch."""
        shopper = customer()
        await self.add_customers(shopper)
        placed = order(shopper.id)
        await self.add_orders(placed)
        return placed
