"""A small world for replenishment tests: the order network, two suppliers with catalogues, policies."""

from __future__ import annotations

from app.domain.principals import SYSTEM
from app.domain.inventory import StockPolicy
from app.domain.suppliers import Supplier, SupplierItem
from app.services.container import Services
from tests.factories import World
from tests.order_helpers import capture_input, capture_request, network

ACME = Supplier(
    code="ACME", name="Acme Wholesale", contact_email="orders@acme.example", contact_phone=None,
    lead_time_days=5, order_cutoff="23:59", min_order_value_cents=0, currency="USD",
)
GLOBEX = Supplier(
    code="GLOBEX", name="Globex Supply", contact_email=None, contact_phone="+1 555 0100",
    lead_time_days=12, order_cutoff="12:00", min_order_value_cents=0, currency="USD",
)


async def replenishment_world(world: World, services: Services) -> None:
    """network() plus: ACME sells SKU-1 (packs of 6, MOQ 12, preferred) and SKU-HOT (packs of 5);
    GLOBEX sells SKU-1 too (not preferred) and SKU-3."""
    await network(world)
    await services.suppliers.save(SYSTEM, ACME)
    await services.suppliers.save(SYSTEM, GLOBEX)
    for item in (
        SupplierItem("ACME", "SKU-1", "A-100", 450, 6, 12, True),
        SupplierItem("ACME", "SKU-HOT", "A-HOT", 5000, 5, 5, True),
        SupplierItem("GLOBEX", "SKU-1", "G-1", 430, 1, 1, False),
        SupplierItem("GLOBEX", "SKU-3", "G-3", 150, 10, 10, True),
    ):
        await services.suppliers.save_item(SYSTEM, item)


async def set_reorder_point(services: Services, sku: str, location_id: str, point: int, quantity: int) -> None:
    await services.inventory_changes.set_policy(SYSTEM, sku, location_id, StockPolicy(reorder_point=point, reorder_quantity=quantity))


async def sell(services: Services, external_id: str, sku: str, quantity: int) -> str:
    given = capture_input(external_id, lines=[{"sku": sku, "quantity": quantity}])
    return (await services.order_capture.capture(SYSTEM, capture_request(given))).order.id
