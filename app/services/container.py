"""Builds every service from one Mongo handle: the composition root calls this once per process."""

from __future__ import annotations

from dataclasses import dataclass

from app.repositories.api_keys import ApiKeyRepository
from app.repositories.channels import ChannelRepository
from app.repositories.customers import CustomerRepository
from app.repositories.database import Mongo
from app.repositories.events import EventRepository
from app.repositories.inventory import InventoryRepository
from app.repositories.locations import LocationRepository
from app.repositories.orders import OrderRepository
from app.repositories.products import ProductRepository
from app.repositories.signatures import WebhookNonceRepository
from app.services.auth import AuthService
from app.services.jwt_tokens import JwtConfig
from app.services.catalog import CatalogService
from app.services.customers import CustomerService
from app.services.inventory import InventoryQueryService
from app.services.orders import OrderQueryService
from app.services.signatures import SignatureService


@dataclass(frozen=True, slots=True)
class Services:
    mongo: Mongo
    auth: AuthService
    catalog: CatalogService
    customers: CustomerService
    orders: OrderQueryService
    inventory: InventoryQueryService
    signatures: SignatureService

    async def ready(self) -> bool:
        return await self.mongo.ping()


def build_services(
    mongo: Mongo,
    *,
    allow_anonymous_admin: bool = False,
    jwt: JwtConfig | None = None,
    api_key_cache_seconds: float = 10.0,
    webhook_tolerance_seconds: int = 300,
) -> Services:
    db = mongo.db
    events = EventRepository(db)
    return Services(
        mongo=mongo,
        auth=AuthService(
            api_keys=ApiKeyRepository(db),
            allow_anonymous_admin=allow_anonymous_admin,
            jwt=jwt,
            key_cache_seconds=api_key_cache_seconds,
        ),
        catalog=CatalogService(
            channels=ChannelRepository(db), locations=LocationRepository(db), products=ProductRepository(db)
        ),
        customers=CustomerService(customers=CustomerRepository(db)),
        orders=OrderQueryService(orders=OrderRepository(db), events=events),
        inventory=InventoryQueryService(inventory=InventoryRepository(db)),
        signatures=SignatureService(nonces=WebhookNonceRepository(db), tolerance_seconds=webhook_tolerance_seconds),
    )
