"""purchaseOrderUpdated: purchase orders' events live, resumable after a cursor without gaps or
duplicates, scoped to the caller's locations."""

from __future__ import annotations

import pytest

from app.domain.principals import SYSTEM, Role
from app.domain.purchase_orders import LineRequest
from app.services.container import Services
from app.settings import Settings
from tests.authz_table import gid
from tests.factories import World
from tests.realtime import GraphQLWs, realtime_settings, serve
from tests.replenishment_world import replenishment_world

pytestmark = pytest.mark.usefixtures("incoming_consistent")

UPDATED = """
subscription($po: ID, $location: String, $after: String) {
  purchaseOrderUpdated(purchaseOrderId: $po, location: $location, after: $after) { cursor status purchaseOrderId event { type } }
}
"""


async def test_purchase_order_updated_resumes_after_a_cursor_and_is_scoped(
    world: World, services: Services, settings: Settings, admin_token: str
) -> None:
    await replenishment_world(world, services)
    _, elsewhere = await services.auth.create_api_key(name="bos", role=Role.STORE_STAFF, location_ids=frozenset({"ST-BOS"}))
    async with serve(realtime_settings(settings)) as server:
        async with GraphQLWs.connect(server.ws_url, admin_token) as client:
            await client.subscribe(UPDATED, {"location": "DC-CHI"})
            await server.subscribed(1)
            po = await services.purchase_orders.create(SYSTEM, "ACME", "DC-CHI", [LineRequest("SKU-HOT", 5)])
            await services.purchase_orders.create(SYSTEM, "GLOBEX", "ST-BOS", [LineRequest("SKU-3", 5)])  # another location
            await services.purchase_orders.submit(SYSTEM, po.id)
            seen = await client.take("purchaseOrderUpdated", 2)
            await client.nothing_more(0.3)
        assert [(s["event"]["type"], s["status"]) for s in seen] == [("PurchaseOrderCreated", "DRAFT"), ("PurchaseOrderSubmitted", "SUBMITTED")]
        assert {s["purchaseOrderId"] for s in seen} == {gid("PurchaseOrder", po.id)}
        await services.purchase_orders.cancel(SYSTEM, po.id, "not needed")  # while nobody listens
        async with GraphQLWs.connect(server.ws_url, admin_token) as client:
            await client.subscribe(UPDATED, {"po": gid("PurchaseOrder", po.id), "after": seen[-1]["cursor"]})
            missed = await client.take("purchaseOrderUpdated", 1)
            await client.nothing_more(0.3)
        assert [(m["event"]["type"], m["status"]) for m in missed] == [("PurchaseOrderCancelled", "CANCELLED")]
        assert int(missed[0]["cursor"]) > int(seen[-1]["cursor"])
        async with GraphQLWs.connect(server.ws_url, elsewhere) as client:
            await client.subscribe(UPDATED, {"location": "DC-CHI"})
            refused = await client.error()
        assert refused["extensions"]["code"] == "FORBIDDEN"
