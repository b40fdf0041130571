"""Builds every service from one Mongo handle: the composition root calls this once per process."""

from __future__ import annotations

import contextlib
import secrets
from collections.abc import Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass

from app.domain.carriers import CarrierRegistry
from app.domain.errors import ServiceUnavailable
from app.domain.payment_providers import PaymentProviders
from app.domain.rate_cards import built_in_carriers
from app.domain.refunds import DEFAULT_APPEASEMENT_LIMITS, AppeasementLimits
from app.domain.webhooks import WebhookOptions

from app.repositories.api_keys import ApiKeyRepository
from app.repositories.cases import CaseRepository
from app.repositories.channels import ChannelRepository
from app.repositories.customers import CustomerRepository
from app.repositories.dashboard import DashboardRepository
from app.repositories.database import Mongo, deadline, unavailable_error
from app.repositories.events import EventRepository
from app.repositories.instances import InstanceRegistry
from app.repositories.inventory import InventoryRepository
from app.repositories.locations import LocationRepository
from app.repositories.orders import OrderRepository
from app.repositories.products import ProductRepository
from app.repositories.purchase_orders import PurchaseOrderRepository
from app.repositories.replenishment import CrossingRepository, ReplenishmentPolicyRepository
from app.repositories.suppliers import SupplierRepository
from app.repositories.exchanges import ExchangeRepository
from app.repositories.refunds import RefundRepository
from app.repositories.return_policies import ReturnPolicyRepository
from app.repositories.returns import ReturnRepository
from app.repositories.routing import RoutingPolicyRepository
from app.repositories.sequencer import RelayStateRepository
from app.repositories.shipments import ShipmentRepository
from app.repositories.signatures import WebhookNonceRepository
from app.repositories.sequencer import LeaseRepository
from app.repositories.webhooks import WebhookDeliveryRepository, WebhookEndpointRepository
from app.services.auth import AuthService
from app.services.backorders import BackorderService
from app.services.jwt_tokens import JwtConfig
from app.services.case_actions import CaseActions
from app.services.case_queries import CaseQueryService
from app.services.case_sla import CaseSla
from app.services.cases import CaseService
from app.services.catalog import CatalogService
from app.services.channels import ChannelService
from app.services.contention import KeyedLocks
from app.services.customers import CustomerService
from app.services.dashboard import DashboardService
from app.services.events import EventService
from app.services.documents import DocumentService
from app.services.fulfilment import FulfilmentService
from app.services.fulfilment_unit import FulfilmentRepos
from app.services.geocoding import Geocoder, geocoder
from app.services.instances import InstanceWatch
from app.services.locations import LocationService
from app.services.inventory import InventoryQueryService
from app.services.inventory_changes import InventoryChangeService
from app.services.order_capture import OrderCaptureService
from app.services.order_edits import OrderEditService
from app.services.order_lifecycle import OrderLifecycleService
from app.services.order_routing import OrderRouting
from app.services.orders import OrderQueryService
from app.services.reservations import OrderWriter
from app.services.exchanges import ExchangeService
from app.services.refunds import RefundService
from app.services.return_labels import ReturnLabels
from app.services.return_policies import ReturnPolicyService
from app.services.return_queries import ReturnQueryService
from app.services.return_receiving import ReturnReceiving
from app.services.return_tracking import ReturnTracking
from app.services.returns import ReturnService
from app.services.routing import RoutingService
from app.services.scheduler import Scheduler
from app.services.sequencer import LEASE_SECONDS, OnSequenced, Sequencer, build_sequencer, instance_id
from app.services.picking import PickingService
from app.services.products import ProductService
from app.services.purchase_order_receiving import PurchaseOrderReceiving
from app.services.purchase_orders import PurchaseOrderService
from app.services.replenishment import ReplenishmentService
from app.services.suppliers import SupplierService
from app.services.shipments import ShipmentQueryService
from app.services.shipping import ShippingService
from app.services.short_picks import ShortPickHandler
from app.services.signatures import SignatureService
from app.services.imports import ImportService
from app.services.stock_import import StockImporter
from app.services.customer_import import CustomerImporter
from app.services.location_import import LocationImporter
from app.services.product_import import ProductImporter
from app.services.webhook_delivery import WebhookWorker
from app.services.webhooks import WebhookService


@dataclass(frozen=True, slots=True)
class Services:
    mongo: Mongo
    auth: AuthService
    catalog: CatalogService
    locations: LocationService
    products: ProductService
    channels: ChannelService
    customers: CustomerService
    orders: OrderQueryService
    inventory: InventoryQueryService
    events: EventService
    dashboard: DashboardService
    routing: RoutingService
    inventory_changes: InventoryChangeService
    order_capture: OrderCaptureService
    order_lifecycle: OrderLifecycleService
    order_edits: OrderEditService
    backorders: BackorderService
    scheduler: Scheduler
    shipments: ShipmentQueryService
    fulfilment: FulfilmentService
    picking: PickingService
    shipping: ShippingService
    documents: DocumentService
    signatures: SignatureService
    return_policies: ReturnPolicyService
    returns: ReturnService
    return_receiving: ReturnReceiving
    return_queries: ReturnQueryService
    refunds: RefundService
    exchanges: ExchangeService
    # Bulk import (`oms import`, POST /imports/{kind}): one importer per ImportKind.
    imports: ImportService
    geocoder: Geocoder
    # Customer service cases (app/services/cases.py and case_*.py).
    cases: CaseService
    case_queries: CaseQueryService
    case_sla: CaseSla
    # Replenishment (issue 15): suppliers, purchase orders, receiving against them, reorder-point crossings.
    suppliers: SupplierService
    purchase_orders: PurchaseOrderService
    purchase_order_receiving: PurchaseOrderReceiving
    replenishment: ReplenishmentService
    # Outbound webhooks: endpoints and deliveries (ADMIN), and the options the delivery worker runs with.
    webhooks: WebhookService
    webhook_options: WebhookOptions

    async def ready(self, *, wait_seconds: float = 1.0) -> bool:
        """Whether the primary answers within `wait_seconds`, so a hung database makes /readyz fail fast."""
        return await self.mongo.ready(wait_seconds=wait_seconds)

    def database_deadline(self, seconds: float) -> AbstractContextManager[None]:
        """Every database call inside ends within `seconds` (repositories/database.py `deadline`);
        for transports that bound work the HTTP middleware does not see (WebSocket handshakes)."""
        return deadline(seconds) if seconds > 0 else contextlib.nullcontext()

    async def live(self) -> bool:
        """Whether this process can still serve once the database answers: False only when its
        database client is stuck (Mongo.responsive); an unreachable database is not a reason to
        restart the process, a wedged client is."""
        return await self.mongo.responsive()

    def sequencer(
        self, *, on_sequenced: OnSequenced, follow: bool, lease_seconds: float = LEASE_SECONDS, fanout_group: str | None = None
    ) -> Sequencer:
        """The process's sequencer candidate (services/sequencer.py); the real-time layer runs it."""
        return build_sequencer(
            self.mongo, on_sequenced=on_sequenced, follow=follow, lease_seconds=lease_seconds, fanout_group=fanout_group
        )

    def webhook_worker(self, *, owner: str | None = None, options: WebhookOptions | None = None) -> WebhookWorker:
        """This process's candidate for the one webhook delivery worker (services/webhook_delivery.py)."""
        db = self.mongo.db
        return WebhookWorker(
            mongo=self.mongo,
            endpoints=WebhookEndpointRepository(db),
            deliveries=WebhookDeliveryRepository(db),
            events=EventRepository(db),
            relay_state=RelayStateRepository(db),
            leases=LeaseRepository(db),
            options=options or self.webhook_options,
            owner=owner or instance_id(),
        )

    def instance_watch(self, *, owner: str | None = None, lease_seconds: float = 1.5) -> InstanceWatch:
        """This process's beat, and the reaper of dead processes' open transactions (services/instances.py)."""
        return InstanceWatch(
            self.mongo, InstanceRegistry(self.mongo.db), owner=owner or instance_id(), lease_seconds=lease_seconds
        )


def database_unavailable(exc: BaseException) -> ServiceUnavailable | None:
    """SERVICE_UNAVAILABLE for a failure that means the database could not be reached in time, else
    None. For the transports, which see the driver's errors but may not import the driver."""
    return unavailable_error(exc)


def build_services(
    mongo: Mongo,
    *,
    allow_anonymous_admin: bool = False,
    jwt: JwtConfig | None = None,
    api_key_cache_seconds: float = 10.0,
    webhook_tolerance_seconds: int = 300,
    scheduler_interval_seconds: float = 5.0,
    signing_key: str | None = None,
    carriers: CarrierRegistry | None = None,
    webhook_secrets: Mapping[str, Sequence[str]] | None = None,
    payment_providers: PaymentProviders | None = None,
    appeasement_limits: AppeasementLimits = DEFAULT_APPEASEMENT_LIMITS,
    webhook_options: WebhookOptions | None = None,
) -> Services:
    """`carriers`: the carrier registry (built-in rate cards by default; a real API replaces one by code).
    `payment_providers`: refund and charge adapters by provider code (the built-in recorder by default)."""
    db = mongo.db
    events = EventRepository(db)
    orders = OrderRepository(db)
    inventory = InventoryRepository(db)
    locations = LocationRepository(db)
    products = ProductRepository(db)
    channels = ChannelRepository(db)
    customers = CustomerRepository(db)
    routing_service = RoutingService(
        mongo=mongo,
        policies=RoutingPolicyRepository(db),
        channels=channels,
        locations=locations,
        inventory=inventory,
        events=events,
    )
    routing = OrderRouting(routing=routing_service, products=products, inventory=inventory, locations=locations)
    signatures = SignatureService(nonces=WebhookNonceRepository(db), tolerance_seconds=webhook_tolerance_seconds)
    repos = FulfilmentRepos(
        mongo=mongo,
        orders=orders,
        shipments=ShipmentRepository(db),
        products=products,
        locations=locations,
        inventory=inventory,
        channels=channels,
        events=events,
    )
    fulfilment = FulfilmentService(repos=repos, short_picks=ShortPickHandler(repos=repos, routing=routing_service))
    picking = PickingService(shipments=repos.shipments, inventory=inventory, locations=locations)
    # Every order write syncs the order's shipments in the same transaction (the fulfilment contract).
    writer = OrderWriter(orders=orders, inventory=inventory, events=events, fulfilment=fulfilment)
    queue = KeyedLocks()  # one per process: captures of the same SKU queue here instead of colliding in MongoDB
    backorders = BackorderService(mongo=mongo, orders=orders, routing=routing, writer=writer)
    lifecycle = OrderLifecycleService(mongo=mongo, orders=orders, writer=writer, backorders=backorders)
    carrier_registry = carriers or CarrierRegistry(built_in_carriers())
    inventory_changes = InventoryChangeService(
        mongo=mongo,
        inventory=inventory,
        locations=locations,
        products=products,
        events=events,
        backorders=backorders,
        queue=queue,
    )
    returns = ReturnRepository(db)
    return_policies = ReturnPolicyService(
        mongo=mongo, policies=ReturnPolicyRepository(db), channels=channels, locations=locations, events=events
    )
    return_receiving = ReturnReceiving(
        mongo=mongo,
        returns=returns,
        locations=locations,
        policies=return_policies,
        inventory_changes=inventory_changes,
        events=events,
        queue=queue,
    )
    order_capture = OrderCaptureService(
        mongo=mongo,
        orders=orders,
        customers=customers,
        channels=channels,
        products=products,
        locations=locations,
        routing=routing,
        writer=writer,
        queue=queue,
        geocoder=geocoder(),
    )
    return_service = ReturnService(
        mongo=mongo,
        returns=returns,
        orders=orders,
        shipments=repos.shipments,
        policies=return_policies,
        labels=ReturnLabels(carriers=carrier_registry, locations=locations, products=products, channels=channels),
        receiving=return_receiving,
        events=events,
        queue=queue,
        refunds=RefundRepository(db),
    )
    providers = payment_providers or PaymentProviders()
    exchanges = ExchangeRepository(db)
    refund_records = RefundRepository(db)
    refunds = RefundService(
        mongo=mongo,
        refunds=refund_records,
        orders=orders,
        returns=returns,
        exchanges=exchanges,
        return_service=return_service,
        policies=return_policies,
        events=events,
        providers=providers,
        limits=appeasement_limits,
    )
    exchange_service = ExchangeService(
        mongo=mongo,
        exchanges=exchanges,
        returns=returns,
        orders=orders,
        products=products,
        policies=return_policies,
        capture=order_capture,
        lifecycle=lifecycle,
        refunds=refunds,
        events=events,
        providers=providers,
    )
    return_receiving.after_receipt = exchange_service.place_for_return
    return_service.on_ended = exchange_service.end_with_return
    case_records = CaseRepository(db)
    case_sla = CaseSla(mongo=mongo, cases=case_records, events=events)
    case_actions = CaseActions(cases=case_records, sla=case_sla)
    lifecycle.case_actions = case_actions
    return_service.case_actions = case_actions
    refunds.case_actions = case_actions
    event_service = EventService(events=events, orders=orders, locations=locations, relay_state=RelayStateRepository(db))
    location_service = LocationService(
        mongo=mongo, locations=locations, inventory=inventory, events=events, geocoder=geocoder()
    )
    product_service = ProductService(mongo=mongo, products=products, events=events)
    supplier_records = SupplierRepository(db)
    po_records = PurchaseOrderRepository(db)
    replenishment_policies = ReplenishmentPolicyRepository(db)
    purchase_orders = PurchaseOrderService(
        mongo=mongo, purchase_orders=po_records, suppliers=supplier_records, inventory=inventory, locations=locations, events=events
    )
    customer_service = CustomerService(
        customers=customers,
        mongo=mongo,
        channels=channels,
        orders=orders,
        shipments=repos.shipments,
        api_keys=ApiKeyRepository(db),
        events=events,
    )
    order_edits = OrderEditService(
        mongo=mongo,
        orders=orders,
        products=products,
        channels=channels,
        locations=locations,
        routing=routing,
        writer=writer,
        backorders=backorders,
        geocoder=geocoder(),
    )
    order_edits.case_actions = case_actions
    case_service = CaseService(
        mongo=mongo,
        cases=case_records,
        sla=case_sla,
        customers=customers,
        orders=orders,
        shipments=repos.shipments,
        returns=returns,
        events=events,
        queue=queue,
    )
    return Services(
        mongo=mongo,
        auth=AuthService(
            api_keys=ApiKeyRepository(db),
            locations=locations,
            channels=channels,
            customers=customers,
            allow_anonymous_admin=allow_anonymous_admin,
            jwt=jwt,
            key_cache_seconds=api_key_cache_seconds,
        ),
        signatures=signatures,
        catalog=CatalogService(channels=channels, locations=locations, products=products),
        locations=location_service,
        products=product_service,
        channels=ChannelService(mongo=mongo, channels=channels, events=events),
        customers=customer_service,
        orders=OrderQueryService(orders=orders, events=events),
        inventory=InventoryQueryService(inventory=inventory, events=events),
        routing=routing_service,
        inventory_changes=inventory_changes,
        order_capture=order_capture,
        order_lifecycle=lifecycle,
        order_edits=order_edits,
        backorders=backorders,
        shipments=ShipmentQueryService(shipments=repos.shipments),
        fulfilment=fulfilment,
        picking=picking,
        shipping=ShippingService(
            repos=repos,
            carriers=carrier_registry,
            signatures=signatures,
            webhook_secrets=webhook_secrets or {},
            returns=ReturnTracking(returns=returns, receiving=return_receiving),
        ),
        documents=DocumentService(
            signing_key=signing_key or secrets.token_urlsafe(32),
            shipments=repos.shipments,
            orders=orders,
            locations=locations,
            picking=picking,
            returns=returns,
            purchase_orders=po_records,
            suppliers=supplier_records,
        ),
        scheduler=Scheduler(
            orders=orders,
            lifecycle=lifecycle,
            backorders=backorders,
            refunds=refunds,
            refund_records=refund_records,
            case_sla=case_sla,
            case_records=case_records,
            cases=case_service,
            interval_seconds=scheduler_interval_seconds,
        ),
        events=event_service,
        dashboard=DashboardService(dashboard=DashboardRepository(db), events=events),
        return_policies=return_policies,
        returns=return_service,
        return_receiving=return_receiving,
        return_queries=ReturnQueryService(returns=returns, events=event_service),
        refunds=refunds,
        exchanges=exchange_service,
        imports=ImportService(
            [
                StockImporter(
                    mongo=mongo,
                    inventory=inventory,
                    products=products,
                    locations=locations,
                    orders=orders,
                    events=events,
                    backorders=backorders,
                    queue=queue,
                ),
                ProductImporter(products=product_service),
                LocationImporter(locations=location_service),
                CustomerImporter(customers=customer_service),
            ]
        ),
        geocoder=geocoder(),
        cases=case_service,
        case_queries=CaseQueryService(cases=case_records),
        case_sla=case_sla,
        suppliers=SupplierService(mongo=mongo, suppliers=supplier_records, products=products, events=events),
        purchase_orders=purchase_orders,
        purchase_order_receiving=PurchaseOrderReceiving(
            mongo=mongo,
            purchase_orders=po_records,
            service=purchase_orders,
            policies=replenishment_policies,
            locations=locations,
            inventory_changes=inventory_changes,
            queue=queue,
        ),
        replenishment=ReplenishmentService(
            mongo=mongo,
            crossings=CrossingRepository(db),
            policies=replenishment_policies,
            suppliers=supplier_records,
            purchase_orders=po_records,
            po_service=purchase_orders,
            inventory=inventory,
            locations=locations,
            inventory_changes=inventory_changes,
            events=events,
            leases=LeaseRepository(db),
            owner=instance_id(),
        ),
        webhooks=WebhookService(
            mongo=mongo,
            endpoints=WebhookEndpointRepository(db),
            deliveries=WebhookDeliveryRepository(db),
            events=events,
            relay_state=RelayStateRepository(db),
            options=webhook_options or WebhookOptions(),
        ),
        webhook_options=webhook_options or WebhookOptions(),
    )
