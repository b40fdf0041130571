"""captureOrder's payments: stored and shown on the order, validated, and part of idempotency."""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, replace

import pytest

from app.domain.order_capture import input_hash, normalized
from app.domain.payments import PaymentMethod, PaymentRequest
from tests.conftest import GraphQLClient
from tests.factories import World
from tests.order_helpers import ERRORS, capture_input, capture_request, counts, network

pytestmark = pytest.mark.usefixtures("reservations_consistent")

CAPTURE = f"""
mutation($input: CaptureOrderInput!) {{
  captureOrder(input: $input) {{
    __typename
    ... on CaptureOrderPayload {{
      replayed
      order {{
        id totals {{ total {{ cents }} }}
        payments {{ provider method reference amount {{ cents currency }} refunded {{ cents }} }}
        refundSummary {{ paid {{ cents }} refunded {{ cents }} exchangeCredit {{ cents }} refundable {{ cents }} refundCount }}
      }}
    }}
    {ERRORS}
  }}
}}
"""


def card(amount: int, reference: str = "ch_1", **extra: object) -> dict[str, object]:
    return {"provider": "stripe", "method": "CARD", "reference": reference, "amountCents": amount, **extra}


async def test_payments_are_stored_and_shown_on_the_order(world: World, gql: GraphQLClient) -> None:
    await network(world)
    given = capture_input("P-1", shippingCents=500, taxCents=100, payments=[card(2000), {**card(600, "gc_9"), "method": "GIFT_CARD", "provider": "giftcards"}])
    result = (await gql.data(CAPTURE, {"input": given}))["captureOrder"]
    assert result["__typename"] == "CaptureOrderPayload", result
    order = result["order"]
    assert order["totals"]["total"]["cents"] == 2 * 1000 + 500 + 100
    assert order["payments"] == [
        {"provider": "stripe", "method": "CARD", "reference": "ch_1", "amount": {"cents": 2000, "currency": "USD"}, "refunded": {"cents": 0}},
        {"provider": "giftcards", "method": "GIFT_CARD", "reference": "gc_9", "amount": {"cents": 600, "currency": "USD"}, "refunded": {"cents": 0}},
    ]
    assert order["refundSummary"] == {
        "paid": {"cents": 2600}, "refunded": {"cents": 0}, "exchangeCredit": {"cents": 0}, "refundable": {"cents": 2600}, "refundCount": 0,
    }
    stored = await world.mongo.db["orders"].find_one({"external_id": "P-1"})
    assert [(p["provider"], p["amount_cents"]) for p in stored["payments"]] == [("stripe", 2000), ("giftcards", 600)]


async def test_an_order_without_payments_counts_its_total_as_paid(world: World, gql: GraphQLClient) -> None:
    await network(world)
    order = (await gql.data(CAPTURE, {"input": capture_input("P-2")}))["captureOrder"]["order"]
    assert order["payments"] == []
    assert order["refundSummary"]["paid"] == {"cents": 2000}


@pytest.mark.parametrize(
    ("payments", "field", "fragment"),
    [
        ([card(0)], ["payments", "0", "amountCents"], "more than 0"),
        ([card(100, currency="EUR")], ["payments", "0", "currency"], "order's currency"),
        ([card(1500), card(600, "ch_2")], ["payments"], "more than the order total"),
        ([card(100), card(200)], ["payments", "1", "reference"], "already on another payment"),
        ([card(100, reference=" ")], ["payments", "0", "reference"], "is required"),
        ([{**card(100), "method": "EXCHANGE_CREDIT"}], ["payments", "0", "method"], "exchanges"),
    ],
)
async def test_bad_payments_are_refused_and_nothing_is_written(
    world: World, gql: GraphQLClient, payments: list[dict[str, object]], field: list[str], fragment: str
) -> None:
    await network(world)
    before = await counts(world)
    result = (await gql.data(CAPTURE, {"input": capture_input("P-BAD", payments=payments)}))["captureOrder"]
    assert result["__typename"] == "InvalidInputError", result
    issue = next(i for i in result["issues"] if i["field"] == field)
    assert fragment in issue["message"]
    assert await counts(world) == before


async def test_a_replay_with_other_payments_is_a_duplicate_external_id(world: World, gql: GraphQLClient) -> None:
    await network(world)
    given = capture_input("P-3", payments=[card(1500), card(500, "ch_2")])
    first = (await gql.data(CAPTURE, {"input": given}))["captureOrder"]
    before = await counts(world)
    # The same payments in another order are the same content.
    same = (await gql.data(CAPTURE, {"input": given | {"payments": [card(500, "ch_2"), card(1500)]}}))["captureOrder"]
    assert same["replayed"] is True and same["order"]["id"] == first["order"]["id"]
    for other in ([card(1500)], [card(1500), card(400, "ch_2")], None):
        changed = (await gql.data(CAPTURE, {"input": given | {"payments": other}}))["captureOrder"]
        assert (changed["__typename"], changed["code"]) == ("ConflictError", "DUPLICATE_EXTERNAL_ID"), (other, changed)
    assert await counts(world) == before


def test_the_input_hash_is_the_canonical_json_of_the_whole_request() -> None:
    """Replays of orders stored earlier compare against hashes made from dataclasses.asdict."""
    given = capture_input(
        "P-ALL",
        customer={"email": "Ada@Example.com ", "phone": "+1 617 555 0100", "firstName": "Ada", "channelCustomerId": "c-9"},
        lines=[{"sku": "SKU-2", "quantity": 1}, {"sku": " SKU-1", "quantity": 3, "unitPriceCents": 250}],
        requestedDeliveryDate="2031-02-03",
        notes=" leave at the door ",
    )
    request = replace(
        capture_request(given),
        payments=(PaymentRequest("stripe", PaymentMethod.CARD, "ch_2", 500), PaymentRequest("adyen", PaymentMethod.CARD, "ch_1", 250)),
    )
    doc = asdict(normalized(request))
    doc["lines"] = sorted(doc["lines"], key=lambda line: line["sku"])
    doc["requested_date"] = "2031-02-03"
    doc["payments"] = sorted(doc["payments"], key=lambda p: (p["provider"], p["reference"], p["amount_cents"]))
    before = hashlib.sha256(json.dumps(doc, sort_keys=True, separators=(",", ":"), default=str).encode()).hexdigest()
    assert input_hash(request) == before
    assert input_hash(replace(request, notes="another note")) != before


def test_orders_captured_without_payments_hash_as_they_did_before_payments_existed() -> None:
    """Stored hashes of older orders must still match their replays."""
    request = capture_request(capture_input("P-OLD"))
    doc = asdict(normalized(request))
    del doc["payments"]
    doc["lines"] = sorted(doc["lines"], key=lambda line: line["sku"])
    doc["requested_date"] = None
    before = hashlib.sha256(json.dumps(doc, sort_keys=True, separators=(",", ":"), default=str).encode()).hexdigest()
    assert input_hash(request) == before
