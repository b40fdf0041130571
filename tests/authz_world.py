"""The seeded world and the callers of every role that the authorization, injection and fuzz tests share."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest

from app.domain.locations import LocationKind
from app.domain.principals import Role
from app.repositories.database import Mongo
from app.services.container import Services
from tests.authz_table import Seed, people, seed_orders
from tests.factories import BOSTON, CAMBRIDGE, PROVIDENCE, World, level, location, product
from tests.realtime import append, order_event


@dataclass
class Callers:
    tokens: dict[str, str | None]


@pytest.fixture
async def seed(world: World, mongo: Mongo) -> Seed:
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

    return Seed(ada=ada.id, bob=bob.id, a1=a1, b1=b1, add_order=add_order)


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


