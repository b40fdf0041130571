"""Builds every service from one Mongo handle: the composition root calls this once per process."""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from dataclasses import dataclass

from app.domain.carriers import CarrierRegistry
from app.domain.rate_cards import built_in_carriers
from app.repositories.api_keys import ApiKeyRepository
from app.repositories.channels import ChannelRepository
from app.repositories.customers import CustomerRepository
from app.repositories.database import Mongo
from app.repositories.events import EventRepository
from app.repositories.inventory import InventoryRepository
from app.repositories.locations import LocationRepository
from app.repositories.orders import OrderRepository
from app.repositories.products import ProductRepository
from app.repositories.shipments import ShipmentRepository
from app.repositories.webhook_receipts import WebhookReceiptRepository
from app.services.auth import AuthService
from app.services.catalog import CatalogService
from app.services.customers import CustomerService
from app.services.documents import DocumentService
from app.services.fulfilment import FulfilmentService
from app.services.fulfilment_unit import FulfilmentRepos
from app.services.inventory import InventoryQueryService
from app.services.orders import OrderQueryService
from app.services.picking import PickingService
from app.services.shipments import ShipmentQueryService
from app.services.shipping import ShippingService
from app.services.short_picks import ShortPickHandler


@dataclass(frozen=True, slots=True)
class Services:
    mongo: Mongo
    auth: AuthService
    catalog: CatalogService
    customers: CustomerService
    orders: OrderQueryService
    inventory: InventoryQueryService
    shipments: ShipmentQueryService
    fulfilment: FulfilmentService
    picking: PickingService
    shipping: ShippingService
    documents: DocumentService

    async def ready(self) -> bool:
        return await self.mongo.ping()


def build_services(
    mongo: Mongo,
    *,
    allow_anonymous_admin: bool = False,
    signing_key: str | None = None,
    carriers: CarrierRegistry | None = None,
    webhook_secrets: Mapping[str, str] | None = None,
) -> Services:
    """`carriers`: the carrier registry (built-in rate cards by default; a real API replaces one by code)."""
    db = mongo.db
    events = EventRepository(db)
    repos = FulfilmentRepos(
        mongo=mongo,
        orders=OrderRepository(db),
        shipments=ShipmentRepository(db),
        products=ProductRepository(db),
        locations=LocationRepository(db),
        inventory=InventoryRepository(db),
        channels=ChannelRepository(db),
        events=events,
    )
    picking = PickingService(shipments=repos.shipments, inventory=repos.inventory, locations=repos.locations)
    return Services(
        mongo=mongo,
        auth=AuthService(api_keys=ApiKeyRepository(db), allow_anonymous_admin=allow_anonymous_admin),
        catalog=CatalogService(channels=repos.channels, locations=repos.locations, products=repos.products),
        customers=CustomerService(customers=CustomerRepository(db)),
        orders=OrderQueryService(orders=repos.orders, events=events),
        inventory=InventoryQueryService(inventory=repos.inventory),
        shipments=ShipmentQueryService(shipments=repos.shipments),
        fulfilment=FulfilmentService(repos=repos, short_picks=ShortPickHandler(repos=repos)),
        picking=picking,
        shipping=ShippingService(
            repos=repos,
            carriers=carriers or CarrierRegistry(built_in_carriers()),
            receipts=WebhookReceiptRepository(db),
            webhook_secrets=webhook_secrets or {},
        ),
        documents=DocumentService(
            signing_key=signing_key or secrets.token_urlsafe(32),
            shipments=repos.shipments,
            orders=repos.orders,
            locations=repos.locations,
            picking=picking,
        ),
    )
