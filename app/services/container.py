"""Builds every service from one Mongo handle: the composition root calls this once per process."""

from __future__ import annotations

from dataclasses import dataclass

from app.repositories.api_keys import ApiKeyRepository
from app.repositories.channels import ChannelRepository
from app.repositories.customers import CustomerRepository
from app.repositories.dashboard import DashboardRepository
from app.repositories.database import Mongo
from app.repositories.events import EventRepository
from app.repositories.inventory import InventoryRepository
from app.repositories.locations import LocationRepository
from app.repositories.orders import OrderRepository
from app.repositories.products import ProductRepository
from app.repositories.sequencer import RelayStateRepository
from app.services.auth import AuthService
from app.services.catalog import CatalogService
from app.services.customers import CustomerService
from app.services.dashboard import DashboardService
from app.services.events import EventService
from app.services.inventory import InventoryQueryService
from app.services.orders import OrderQueryService
from app.services.sequencer import OnSequenced, Sequencer, build_sequencer


@dataclass(frozen=True, slots=True)
class Services:
    mongo: Mongo
    auth: AuthService
    catalog: CatalogService
    customers: CustomerService
    orders: OrderQueryService
    inventory: InventoryQueryService
    events: EventService
    dashboard: DashboardService

    async def ready(self) -> bool:
        return await self.mongo.ping()

    def sequencer(self, *, on_sequenced: OnSequenced, follow: bool, lease_seconds: float = 10.0) -> Sequencer:
        """The process's sequencer candidate (services/sequencer.py); the real-time layer runs it."""
        return build_sequencer(self.mongo, on_sequenced=on_sequenced, follow=follow, lease_seconds=lease_seconds)


def build_services(mongo: Mongo, *, allow_anonymous_admin: bool = False) -> Services:
    db = mongo.db
    events = EventRepository(db)
    return Services(
        mongo=mongo,
        auth=AuthService(api_keys=ApiKeyRepository(db), allow_anonymous_admin=allow_anonymous_admin),
        catalog=CatalogService(
            channels=ChannelRepository(db), locations=LocationRepository(db), products=ProductRepository(db)
        ),
        customers=CustomerService(customers=CustomerRepository(db)),
        orders=OrderQueryService(orders=OrderRepository(db), events=events),
        inventory=InventoryQueryService(inventory=InventoryRepository(db)),
        events=EventService(
            events=events,
            orders=OrderRepository(db),
            locations=LocationRepository(db),
            relay_state=RelayStateRepository(db),
        ),
        dashboard=DashboardService(dashboard=DashboardRepository(db), events=events),
    )
