"""The seeded world and the callers of every role that the authorization, injection and fuzz tests share."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

import pytest

from app.domain.clock import utcnow
from app.domain.ids import new_id
from app.domain.locations import LocationKind
from app.domain.orders import Allocation, Delivery, DeliveryMethod, OrderStatus
from app.domain.principals import SYSTEM, Role
from app.domain.shipments import FulfilmentMethod, Shipment, ShipmentStatus
from app.repositories.database import Mongo, Session
from app.services.container import Services
from app.services.fulfilment import PackageInput, PickedLine
from tests.authz_returns import ReturnsSeed
from tests.authz_table import Seed, people, seed_orders
from tests.factories import BOSTON, CAMBRIDGE, PROVIDENCE, World, level, location, order, product
from tests.realtime import append, order_event


@dataclass
class Callers:
    tokens: dict[str, str | None]


@pytest.fixture
async def seed(world: World, mongo: Mongo, services: Services) -> Seed:
    await world.add_locations(
        location("ST-A", BOSTON), location("ST-B", CAMBRIDGE), location("DC-A", PROVIDENCE, LocationKind.DISTRIBUTION_CENTER)
    )
    await world.add_products(product("SKU-1"), product("SKU-2"))
    await world.add_stock(
        level("SKU-1", "ST-A", 10, reserved=1), level("SKU-1", "ST-B", 10, reserved=1),
        level("SKU-1", "DC-A", 50), level("SKU-2", "DC-A", 20),
    )
    ada, bob = people()
    await world.add_customers(ada, bob)
    a1, b1 = seed_orders(ada.id, bob.id)
    await world.add_orders(a1, b1)
    await append(mongo, order_event(a1, "OrderCaptured"), order_event(b1, "OrderCaptured"))

    async def add_order(made: Any) -> None:
        await world.add_orders(made)

    made: dict[str, Shipment] = {}

    async def shipments() -> dict[str, Shipment]:
        if not made:
            for seeded in (a1, b1):
                [shipment] = await mongo.transaction(lambda session, o=seeded: services.fulfilment.sync_shipments(o, session=session))
                made[seeded.external_id] = shipment
        return made

    async def place(location_id: str, **kw: Any) -> Shipment:
        return await _place(world, mongo, services, ada.id, location_id, **kw)

    returns = ReturnsSeed(world=world, mongo=mongo, services=services, ada=ada.id, bob=bob.id)

    async def add_customer(made: Any) -> None:
        await world.add_customers(made)

    return Seed(
        ada=ada.id,
        bob=bob.id,
        a1=a1,
        b1=b1,
        add_order=add_order,
        shipments=shipments,
        place=place,
        returns=returns,
        add_customer=add_customer,
    )


_STAGES = (ShipmentStatus.PENDING, ShipmentStatus.PICKING, ShipmentStatus.PICKED, ShipmentStatus.PACKED)


async def _place(
    world: World, mongo: Mongo, services: Services, customer_id: str, location_id: str, *,
    pickup_at: str | None = None, stage: ShipmentStatus = ShipmentStatus.PENDING, also_at: tuple[str, ...] = (),
) -> Shipment:
    """An order written with its reservations and shipments in one transaction (as fulfilment's own
    tests do), then worked by the system through the real services up to `stage`."""
    at = (location_id, *also_at)
    made = replace(
        order(customer_id, status=OrderStatus.ALLOCATED, lines=[("SKU-1", len(at), 1000)]),
        allocations=tuple(Allocation(id=new_id(), line_id="1", sku="SKU-1", location_id=loc, quantity=1) for loc in at),
    )
    if pickup_at:
        made = replace(made, delivery=Delivery(method=DeliveryMethod.PICKUP_IN_STORE, pickup_location_id=pickup_at))

    async def work(session: Session) -> list[Shipment]:
        await world.orders.insert_many([made], session=session)
        for allocation in made.allocations:
            moved = await world.inventory.move("SKU-1", allocation.location_id, reserved=1, require_available=True, at=utcnow(), session=session)
            assert moved is not None, f"no SKU-1 left at {allocation.location_id} for the authz test"
        return await services.fulfilment.sync_shipments(made, session=session)

    shipment = next(s for s in await mongo.transaction(work) if s.location_id == location_id)
    target = _STAGES.index(ShipmentStatus.PACKED if stage is ShipmentStatus.READY_FOR_PICKUP else stage)
    if target >= 1:
        [shipment] = await services.fulfilment.start_picking(SYSTEM, [shipment.id])
    if target >= 2:
        picked = [PickedLine(line.allocation_id, line.quantity) for line in shipment.lines]
        shipment = await services.fulfilment.confirm_pick(SYSTEM, shipment.id, picked)
    if target >= 3:
        boxes = [] if shipment.method is FulfilmentMethod.PICKUP else [PackageInput(500, 20, 15, 10)]
        shipment = await services.fulfilment.pack(SYSTEM, shipment.id, boxes)
    assert shipment.status is stage, (shipment.status, stage)
    return shipment


@pytest.fixture
async def callers(services: Services, seed: Seed) -> Callers:
    async def key(role: Role, **scope: Any) -> str:
        return (await services.auth.create_api_key(name=f"authz-{role}", role=role, **scope))[1]

    return Callers(
        tokens={
            "ADMIN": await key(Role.ADMIN),
            "CSR": await key(Role.CSR),
            "STORE_STAFF": await key(Role.STORE_STAFF, location_ids=frozenset({"ST-A"})),
            "WAREHOUSE": await key(Role.WAREHOUSE, location_ids=frozenset({"DC-A"})),
            "CHANNEL": await key(Role.CHANNEL, channel_id="web"),
            "CUSTOMER": await key(Role.CUSTOMER, customer_id=seed.ada),
            "ANONYMOUS": None,
        }
    )


