"""The replenishment rows of the authorization table (tests/authz_table.py explains rows and outcomes).

Targets are made per caller through the services (`Seed.returns.services`): supplier ACME selling
SKU-1 and SKU-2, and a fresh purchase order in the state a row needs at ST-A (the STORE_STAFF
caller's store), ST-B (nobody's) or DC-A (the WAREHOUSE caller's).
"""

from __future__ import annotations

from typing import Any

from app.domain.principals import SYSTEM
from app.domain.purchase_orders import LineRequest, PurchaseOrder
from app.domain.suppliers import Supplier, SupplierItem
from app.services.container import Services
from tests.authz_table import ALLOW, HIDE, Row, Seed, SubscriptionRow, gid, mutation

ACME = Supplier("ACME", "Acme Wholesale", "orders@acme.example", None, 3, "23:59", 0, "USD")
GROUP = "replenishment"


async def _services(seed: Seed) -> Services:
    services: Services = seed.returns.services
    if not await services.mongo.db["suppliers"].find_one({"_id": "ACME"}):
        await services.suppliers.save(SYSTEM, ACME)
        for sku in ("SKU-1", "SKU-2"):
            await services.suppliers.save_item(SYSTEM, SupplierItem("ACME", sku, f"A-{sku}", 300, 1, 1, True))
    return services


async def _po(seed: Seed, location: str, *, submitted: bool) -> PurchaseOrder:
    services = await _services(seed)
    po = await services.purchase_orders.create(SYSTEM, "ACME", location, [LineRequest("SKU-1", 4)])
    return await services.purchase_orders.submit(SYSTEM, po.id) if submitted else po


def _target(location: str, *, submitted: bool, **extra: Any) -> Any:
    async def build(seed: Seed) -> dict[str, Any]:
        po = await _po(seed, location, submitted=submitted)
        return {"input": {"purchaseOrderId": gid("PurchaseOrder", po.id), **extra}}

    return build


def _receive(location: str) -> Any:
    return _target(location, submitted=True, lines=[{"lineId": "1", "received": 4}])


async def _suppliers(seed: Seed) -> dict[str, Any]:
    await _services(seed)
    return {}


async def _listed(seed: Seed) -> dict[str, Any]:
    await _po(seed, "ST-A", submitted=False)
    return {}


async def _other_location(seed: Seed) -> dict[str, Any]:
    return {"id": gid("PurchaseOrder", (await _po(seed, "ST-B", submitted=False)).id)}


async def _supplier_item(seed: Seed) -> dict[str, Any]:
    await _services(seed)
    return {"input": {"supplier": "ACME", "sku": "SKU-2", "supplierSku": "A-2", "unitCostCents": 310, "packSize": 2}}


async def _create(seed: Seed) -> dict[str, Any]:
    await _services(seed)
    return {"input": {"supplier": "ACME", "location": "DC-A", "lines": [{"sku": "SKU-1", "quantity": 3}]}}


ADMIN_ONLY = {"ADMIN": ALLOW}
_NOBODY_ELSE = {"CSR": HIDE, "STORE_STAFF": HIDE, "WAREHOUSE": HIDE, "CHANNEL": HIDE, "CUSTOMER": HIDE}

REPLENISHMENT_ROWS: list[Row] = [
    Row("suppliers", GROUP, "{ suppliers { code } }", ADMIN_ONLY, variables=_suppliers),
    Row(
        "purchase_orders", GROUP, "{ purchaseOrders(first: 5) { edges { node { number locationCode } } } }",
        {"ADMIN": ALLOW, "STORE_STAFF": ALLOW, "WAREHOUSE": HIDE}, variables=_listed,
        check=lambda value, seed, caller: caller == "ADMIN"
        or {edge["node"]["locationCode"] for edge in value["edges"]} == {"ST-A"},
    ),
    Row(
        "purchase_order_other_location", GROUP, "query($id: ID!) { purchaseOrder(id: $id) { number } }",
        {"ADMIN": ALLOW, **_NOBODY_ELSE}, variables=_other_location,
    ),
    Row("replenishment_policy", GROUP, '{ replenishmentPolicy(location: "ST-A") { mode } }', {"ADMIN": ALLOW, "STORE_STAFF": ALLOW}),
    Row("save_supplier", GROUP, mutation("saveSupplier", "SaveSupplierInput"), ADMIN_ONLY,
        variables=lambda s: {"input": {"code": "INITECH", "name": "Initech", "leadTimeDays": 4}}),
    Row("set_supplier_item", GROUP, mutation("setSupplierItem", "SetSupplierItemInput"), ADMIN_ONLY, variables=_supplier_item),
    Row("create_purchase_order", GROUP, mutation("createPurchaseOrder", "CreatePurchaseOrderInput"), ADMIN_ONLY, variables=_create),
    Row("submit_purchase_order", GROUP, mutation("submitPurchaseOrder", "SubmitPurchaseOrderInput"), ADMIN_ONLY,
        variables=_target("DC-A", submitted=False)),
    Row("cancel_purchase_order", GROUP, mutation("cancelPurchaseOrder", "CancelPurchaseOrderInput"), ADMIN_ONLY,
        variables=_target("DC-A", submitted=True, reason="authz")),
    Row("reschedule_purchase_order", GROUP, mutation("reschedulePurchaseOrder", "ReschedulePurchaseOrderInput"), ADMIN_ONLY,
        variables=_target("DC-A", submitted=True, expectedAt="2099-01-31T00:00:00+00:00")),
    Row("receive_purchase_order_at_store", GROUP, mutation("receivePurchaseOrder", "ReceivePurchaseOrderInput"),
        {"ADMIN": ALLOW, "STORE_STAFF": ALLOW}, variables=_receive("ST-A")),
    Row("receive_purchase_order_at_warehouse", GROUP, mutation("receivePurchaseOrder", "ReceivePurchaseOrderInput"),
        {"ADMIN": ALLOW, "WAREHOUSE": ALLOW}, variables=_receive("DC-A")),
    Row("set_replenishment_policy", GROUP, mutation("setReplenishmentPolicy", "SetReplenishmentPolicyInput"), ADMIN_ONLY,
        variables=lambda s: {"input": {"location": "ST-A", "mode": "AUTO_SUBMIT"}}),
]

REPLENISHMENT_SUBSCRIPTION_ROWS: list[SubscriptionRow] = [
    SubscriptionRow(
        "purchase_order_updated", "subscriptions: replenishment", "subscription { purchaseOrderUpdated { cursor } }",
        {"ADMIN": ALLOW, "STORE_STAFF": ALLOW, "WAREHOUSE": ALLOW},
    ),
    SubscriptionRow(
        "purchase_order_updated_other_location", "subscriptions: replenishment",
        'subscription { purchaseOrderUpdated(location: "ST-B") { cursor } }', {"ADMIN": ALLOW},
    ),
]
