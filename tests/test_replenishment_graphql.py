"""Replenishment over GraphQL: suppliers, a crossing's draft PO, submit, receive, backorders filled with
promise dates before, incoming by PO, the PO document, and purchaseOrderUpdated."""

from __future__ import annotations

import asyncio

import pytest

from app.domain.principals import SYSTEM, Role
from app.services.container import Services
from tests.authz_table import gid
from tests.conftest import GraphQLClient
from tests.factories import World
from tests.order_helpers import capture_input, capture_request
from tests.replenishment_world import replenishment_world, set_reorder_point

pytestmark = pytest.mark.usefixtures("reservations_consistent", "incoming_consistent")

ERRORS = "... on Error { __typename code message field } ... on InvalidInputError { issues { code field message } }"
PO = "id number status source supplierCode locationCode totalCents openQuantity expectedAt version lines { id sku quantity received damaged openQuantity crossingId }"
PURCHASE_ORDERS = f"query($f: PurchaseOrderFilterInput) {{ purchaseOrders(filter: $f, first: 10) {{ edges {{ node {{ {PO} }} }} }} }}"
SUBMIT = f"mutation($i: SubmitPurchaseOrderInput!) {{ submitPurchaseOrder(input: $i) {{ __typename ... on PurchaseOrderPayload {{ purchaseOrder {{ {PO} }} }} {ERRORS} }} }}"
RECEIVE = (
    "mutation($i: ReceivePurchaseOrderInput!) { receivePurchaseOrder(input: $i) { __typename "
    f"... on ReceivePurchaseOrderPayload {{ purchaseOrder {{ {PO} }} backordersFilled {{ externalId status }} }} {ERRORS} }} }}"
)
ORDER = "query($id: ID!) { order(id: $id) { lines { sku backorderedQuantity promiseDate } } }"
LEVEL = (
    'query { inventory(sku: "SKU-HOT") { openPurchaseOrders { number } levels { locationCode incoming '
    "incomingPurchaseOrders { quantity expectedAt purchaseOrder { number } } } } }"
)


async def _wait_for_draft(gql: GraphQLClient) -> dict:
    """The worker runs in the app's lifespan: wait for the crossing's PO line to appear."""
    for _ in range(600):
        edges = (await gql.data(PURCHASE_ORDERS, {"f": {"statuses": ["DRAFT"]}}))["purchaseOrders"]["edges"]
        if edges:
            return edges[0]["node"]
        await asyncio.sleep(0.05)
    raise AssertionError("no draft purchase order appeared")


async def test_sell_down_see_the_draft_submit_receive_and_watch_the_backorder_fill(
    world: World, services: Services, gql: GraphQLClient
) -> None:
    await replenishment_world(world, services)
    await set_reorder_point(services, "SKU-HOT", "DC-CHI", 2, 8)
    # 10 at DC-CHI: a 9-unit order crosses the reorder point, a 4-unit one is backordered for 3.
    first = (await services.order_capture.capture(SYSTEM, capture_request(capture_input("W-1", lines=[{"sku": "SKU-HOT", "quantity": 9}])))).order
    waiting = (await services.order_capture.capture(SYSTEM, capture_request(capture_input("W-2", lines=[{"sku": "SKU-HOT", "quantity": 4}])))).order
    assert first.status.value == "ALLOCATED" and waiting.status.value == "PARTIALLY_ALLOCATED"
    draft = await _wait_for_draft(gql)
    assert (draft["source"], draft["supplierCode"], draft["locationCode"]) == ("REPLENISHMENT", "ACME", "DC-CHI")
    assert [(line["sku"], line["quantity"]) for line in draft["lines"]] == [("SKU-HOT", 10)] and draft["lines"][0]["crossingId"]
    order_gid = gid("Order", waiting.id)
    line = (await gql.data(ORDER, {"id": order_gid}))["order"]["lines"][0]
    assert line == {"sku": "SKU-HOT", "backorderedQuantity": 3, "promiseDate": None}  # nothing on order yet

    submitted = (await gql.data(SUBMIT, {"i": {"purchaseOrderId": draft["id"], "expectedVersion": draft["version"]}}))["submitPurchaseOrder"]
    po = submitted["purchaseOrder"]
    assert po["status"] == "SUBMITTED" and po["openQuantity"] == 10 and po["expectedAt"]
    line = (await gql.data(ORDER, {"id": order_gid}))["order"]["lines"][0]
    assert line["promiseDate"] == po["expectedAt"]
    inventory = (await gql.data(LEVEL))["inventory"]
    assert inventory["openPurchaseOrders"] == [{"number": po["number"]}]
    dc = next(level for level in inventory["levels"] if level["locationCode"] == "DC-CHI")
    assert dc["incoming"] == 10 and dc["incomingPurchaseOrders"] == [
        {"quantity": 10, "expectedAt": po["expectedAt"], "purchaseOrder": {"number": po["number"]}}
    ]

    # The supplier confirms a later date: the promise date follows.
    reschedule = (
        "mutation($i: ReschedulePurchaseOrderInput!) { reschedulePurchaseOrder(input: $i) { __typename "
        f"... on PurchaseOrderPayload {{ purchaseOrder {{ expectedAt }} }} {ERRORS} }} }}"
    )
    later = "2099-03-01T00:00:00+00:00"
    moved = (await gql.data(reschedule, {"i": {"purchaseOrderId": po["id"], "expectedAt": later, "reason": "supplier confirmation"}}))
    assert moved["reschedulePurchaseOrder"]["purchaseOrder"]["expectedAt"] == later
    assert (await gql.data(ORDER, {"id": order_gid}))["order"]["lines"][0]["promiseDate"] == later

    stale = (await gql.data(SUBMIT, {"i": {"purchaseOrderId": draft["id"]}}))["submitPurchaseOrder"]
    assert stale["__typename"] == "ConflictError" and stale["code"] == "ILLEGAL_TRANSITION"

    received = (await gql.data(RECEIVE, {"i": {"purchaseOrderId": po["id"], "lines": [{"lineId": "1", "received": 8, "damaged": 2}]}}))
    payload = received["receivePurchaseOrder"]
    assert payload["purchaseOrder"]["status"] == "RECEIVED"
    assert payload["backordersFilled"] == [{"externalId": "W-2", "status": "ALLOCATED"}]
    dc = next(level for level in (await gql.data(LEVEL))["inventory"]["levels"] if level["locationCode"] == "DC-CHI")
    assert dc["incoming"] == 0 and dc["incomingPurchaseOrders"] == []


async def test_receiving_is_for_staff_of_the_receiving_location(world: World, services: Services, gql: GraphQLClient) -> None:
    await replenishment_world(world, services)
    from app.domain.purchase_orders import LineRequest

    po = await services.purchase_orders.create(SYSTEM, "ACME", "DC-CHI", [LineRequest("SKU-HOT", 5)])
    po = await services.purchase_orders.submit(SYSTEM, po.id)
    _, elsewhere = await services.auth.create_api_key(name="bos", role=Role.STORE_STAFF, location_ids=frozenset({"ST-BOS"}))
    _, dock = await services.auth.create_api_key(name="chi", role=Role.WAREHOUSE, location_ids=frozenset({"DC-CHI"}))
    po_gid = gid("PurchaseOrder", po.id)
    variables = {"i": {"purchaseOrderId": po_gid, "lines": [{"lineId": "1", "received": 5}]}}
    denied = (await gql.as_(elsewhere).data(RECEIVE, variables))["receivePurchaseOrder"]
    assert denied["__typename"] == "PermissionDeniedError"
    assert (await gql.as_(elsewhere).data(PURCHASE_ORDERS))["purchaseOrders"]["edges"] == []
    assert len((await gql.as_(dock).data(PURCHASE_ORDERS))["purchaseOrders"]["edges"]) == 1
    over = (await gql.as_(dock).data(RECEIVE, {"i": {"purchaseOrderId": po_gid, "lines": [{"lineId": "1", "received": 6}]}}))
    assert over["receivePurchaseOrder"]["__typename"] == "InvalidInputError"
    done = (await gql.as_(dock).data(RECEIVE, variables))["receivePurchaseOrder"]
    assert done["purchaseOrder"]["status"] == "RECEIVED"


async def test_the_purchase_order_pdf_carries_its_number(world: World, services: Services, gql: GraphQLClient) -> None:
    await replenishment_world(world, services)
    from app.domain.purchase_orders import LineRequest

    po = await services.purchase_orders.create(SYSTEM, "GLOBEX", "ST-BOS", [LineRequest("SKU-3", 10)], note="Dock 2")
    po_gid = gid("PurchaseOrder", po.id)
    url = (await gql.data("query($id: ID!) { purchaseOrder(id: $id) { documentUrl } }", {"id": po_gid}))["purchaseOrder"]["documentUrl"]
    response = await gql.http.get(url)
    assert response.status_code == 200 and response.headers["content-type"] == "application/pdf"
    assert response.content.startswith(b"%PDF") and len(response.content) > 1500
    assert (await gql.http.get(url.replace("token=", "token=x"))).status_code in (401, 403, 404)
