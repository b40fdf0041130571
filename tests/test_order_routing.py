"""routingPreview plans what captureOrder would, writes nothing; the explanation is stored on the order."""

from __future__ import annotations

import pytest

from app.services.container import Services
from tests.conftest import GraphQLClient
from tests.factories import World
from tests.order_helpers import CAPTURE, capture_input, counts, network, pickup, reserved

pytestmark = pytest.mark.usefixtures("reservations_consistent")

PREVIEW = """
query($input: CaptureOrderInput!) {
  routingPreview(input: $input) {
    fullyAllocated
    allocations { lineId sku locationCode quantity }
    backorders { lineId sku quantity }
    pickup { canFill alternatives { locationCode } }
    explanation { summary candidates { locationCode outcome } }
  }
}
"""
ROUTING = """
query($id: ID!) {
  order(id: $id) {
    routing {
      summary policySource deliveryMethod
      candidates { locationCode outcome exclusions totalScore scores { criterion raw score } }
      decisions { step locationCode reason }
      lines { lineId sku quantity backordered split allocated { key quantity } }
    }
  }
}
"""


async def test_preview_plans_what_capture_then_does_and_writes_nothing(world: World, gql: GraphQLClient) -> None:
    await network(world)
    given = capture_input("W-PRE", lines=[{"sku": "SKU-1", "quantity": 7}, {"sku": "SKU-3", "quantity": 2}])
    preview = (await gql.data(PREVIEW, {"input": given}))["routingPreview"]
    assert await counts(world) == {"orders": 0, "customers": 0, "events": 0, "customer_keys": 0}
    assert await reserved(world) == {}

    order = (await gql.data(CAPTURE, {"input": given}))["captureOrder"]["order"]
    captured = sorted((a["lineId"], a["sku"], a["locationCode"], a["quantity"]) for a in order["allocations"])
    assert sorted((a["lineId"], a["sku"], a["locationCode"], a["quantity"]) for a in preview["allocations"]) == captured
    assert preview["fullyAllocated"] is True and preview["backorders"] == []


async def test_the_explanation_is_stored_on_the_order(world: World, gql: GraphQLClient, services: Services) -> None:
    await network(world)
    order = (await gql.data(CAPTURE, {"input": capture_input("W-EX", lines=[{"sku": "SKU-1", "quantity": 2}, {"sku": "SKU-HOT", "quantity": 12}])}))
    placed = order["captureOrder"]["order"]
    routing = (await gql.data(ROUTING, {"id": placed["id"]}))["order"]["routing"]
    assert routing["summary"]
    assert routing["deliveryMethod"] == "SHIP"
    chosen = {c["locationCode"] for c in routing["candidates"] if c["outcome"] == "CHOSEN"}
    assert chosen == {a["locationCode"] for a in placed["allocations"]}
    by_line = {line["lineId"]: line for line in routing["lines"]}
    assert by_line["2"]["backordered"] == 2 and by_line["2"]["quantity"] == 12
    stored = await services.mongo.db["orders"].find_one({"external_id": "W-EX"})
    assert stored["routing"]["v"] >= 1  # the versioned dict from explanation_to_dict


async def test_pickup_preview_says_whether_the_store_can_fill_and_where_else(world: World, gql: GraphQLClient) -> None:
    await network(world)
    given = capture_input("W-PP", lines=[{"sku": "SKU-2", "quantity": 3}], delivery=pickup("ST-BOS"))
    preview = (await gql.data(PREVIEW, {"input": given}))["routingPreview"]
    assert preview["pickup"] == {"canFill": False, "alternatives": [{"locationCode": "ST-CAM"}]}
    refused = (await gql.data(CAPTURE, {"input": given}))["captureOrder"]
    assert refused["__typename"] == "PickupUnavailableError"


async def test_preview_refuses_bad_input_with_typed_errors(world: World, gql: GraphQLClient) -> None:
    await network(world)
    body = await gql(PREVIEW, {"input": capture_input("W-BAD", lines=[{"sku": "NOPE", "quantity": 1}])})
    assert body["errors"][0]["extensions"]["code"] == "UNKNOWN_SKU"
    assert body["errors"][0]["extensions"]["field"] == ["lines", "0", "sku"]
