"""requestExchange: a replacement order on the same customer and channel, routed and reserved by the
normal capture path, at once or when the return arrives; linked both ways; the price difference
charged or refunded; refusals that write nothing."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from app.domain.principals import Role
from app.services.container import Services
from tests.conftest import GraphQLClient
from tests.factories import level
from tests.fulfilment_world import DC, FulfilmentWorld, product
from tests.refunds_world import PREVIEW, counter_return, fw, issue, order_money, paid_order, restock, set_policy, token  # noqa: F401
from tests.returns_world import ERRORS, RECEIVE, REQUEST, gid, line, request_input

pytestmark = pytest.mark.usefixtures("reservations_consistent")

EXCHANGE_FIELDS = """
  id status mode settlement difference { cents } credit { cents } creditApplied { cents } replacementTotal { cents }
  lines { returnLineId returnedSku sku quantity unitPrice { cents } credit { cents } }
  charge { provider paymentReference amount { cents } providerReference }
  return { number exchange { id } }
  originalOrder { externalId }
  replacementOrder {
    id externalId status channelCode customer { id } notes
    lines { sku quantity unitPrice { cents } allocatedQuantity }
    payments { provider method reference amount { cents } }
    exchangeFor { id return { number } }
  }
"""
EXCHANGE = f"""
mutation($input: RequestExchangeInput!) {{
  requestExchange(input: $input) {{ __typename ... on RequestExchangePayload {{ exchange {{ {EXCHANGE_FIELDS} }} }} {ERRORS} }}
}}
"""
RETURN_EXCHANGE = f"query($id: ID!) {{ return(id: $id) {{ status exchange {{ {EXCHANGE_FIELDS} }} }} }}"


async def add_sizes(fw: FulfilmentWorld) -> None:
    """Another size of the shoe (dearer) and a cheaper sock, stocked at the DC."""
    await fw.world.add_products(product("SKU-SHOE-11", "Trail Running Shoe, size 11", 650, price=3000), product("SKU-SOCK", "Trail Sock", 100, price=2000))
    await fw.world.add_stock(level("SKU-SHOE-11", DC.id, 5), level("SKU-SOCK", DC.id, 5))


async def ask(gql: GraphQLClient, return_id: str, lines: list[dict[str, Any]]) -> dict[str, Any]:
    return (await gql.data(EXCHANGE, {"input": {"returnId": return_id, "lines": lines}}))["requestExchange"]


async def nothing_written(fw: FulfilmentWorld) -> tuple[int, ...]:
    db = fw.mongo.db
    return (
        await db.exchanges.count_documents({}),
        await db.orders.count_documents({}),
        await db.refunds.count_documents({}),
        await db.events.count_documents({"aggregate_type": {"$in": ["Exchange", "Refund"]}}),
    )


async def test_on_request_the_replacement_is_ordered_reserved_and_linked_at_once_and_a_dearer_one_is_charged(
    fw: FulfilmentWorld, gql: GraphQLClient
) -> None:
    await add_sizes(fw)
    await set_policy(gql, exchangeMode="EXCHANGE_ON_REQUEST")
    order = await paid_order(fw, [("SKU-SHOE", 1, DC.id)])
    ret = (await gql.data(REQUEST, request_input(order, [line("1", 1, "SIZE_FIT")])))["requestReturn"]["return"]
    assert ret["status"] == "AUTHORIZED"

    result = await ask(gql, ret["id"], [{"returnLineId": "1", "sku": "SKU-SHOE-11"}])

    assert result["__typename"] == "RequestExchangePayload", result
    exchange = result["exchange"]
    assert (exchange["status"], exchange["mode"], exchange["settlement"]) == ("PLACED", "EXCHANGE_ON_REQUEST", "CHARGE")
    assert (exchange["credit"]["cents"], exchange["replacementTotal"]["cents"], exchange["difference"]["cents"]) == (2500, 3000, 500)
    replacement = exchange["replacementOrder"]
    assert replacement["externalId"] == f"EX-{ret['number']}" and replacement["channelCode"] == "web"
    assert replacement["customer"]["id"] == gid("Customer", order.customer_id)
    assert replacement["status"] == "ALLOCATED" and replacement["lines"] == [
        {"sku": "SKU-SHOE-11", "quantity": 1, "unitPrice": {"cents": 3000}, "allocatedQuantity": 1}
    ]
    assert (await fw.level("SKU-SHOE-11", DC.id))["reserved"] == 1  # reserved at once
    assert [(p["provider"], p["method"], p["amount"]["cents"]) for p in replacement["payments"]] == [
        ("EXCHANGE_CREDIT", "EXCHANGE_CREDIT", 2500), ("stripe", "CARD", 500),
    ]
    assert exchange["charge"]["provider"] == "stripe" and exchange["charge"]["paymentReference"] == "ch_1"
    # Linked both ways: return → exchange → replacement order → exchange → return.
    assert replacement["exchangeFor"]["return"]["number"] == ret["number"] and exchange["return"]["exchange"]["id"] == exchange["id"]
    money = await order_money(gql, order)
    assert money["refundSummary"]["exchangeCredit"] == {"cents": 2500} and money["refundSummary"]["refunded"] == {"cents": 0}
    types = [e["type"] for e in await fw.events(aggregate_type="Exchange")]
    assert types == ["ExchangeRequested", "ExchangePlaced"]
    [credit] = await fw.events(type="RefundIssued")
    assert credit["payload"]["kind"] == "EXCHANGE_CREDIT" and credit["order_id"] == order.id

    # The goods arrive; everything was exchanged, so there is nothing to refund.
    received = (await gql.data(RECEIVE, {"input": {"returnId": ret["id"], "lines": [{"returnLineId": "1", "quantity": 1}]}}))["receiveReturn"]
    assert received["return"]["status"] == "INSPECTED"
    shown = (await gql.data(PREVIEW, {"id": ret["id"]}))["refundPreview"]
    assert [(x["kind"], x["amount"]["cents"]) for x in shown["lines"]] == [("NOT_REFUNDED", 0)] and shown["total"]["cents"] == 0


async def test_on_receipt_the_replacement_waits_for_the_goods_and_a_cheaper_one_refunds_the_difference(
    fw: FulfilmentWorld, gql: GraphQLClient, services: Services
) -> None:
    await add_sizes(fw)
    order = await paid_order(fw, [("SKU-SHOE", 1, DC.id)])  # the default policy: EXCHANGE_ON_RECEIPT
    ret = (await gql.data(REQUEST, request_input(order, [line("1", 1, "SIZE_FIT")])))["requestReturn"]["return"]
    pending = (await ask(gql, ret["id"], [{"returnLineId": "1", "sku": "SKU-SOCK"}]))["exchange"]
    assert (pending["status"], pending["settlement"], pending["difference"]["cents"]) == ("PENDING", "REFUND", 500)
    assert pending["replacementOrder"] is None
    assert (await fw.level("SKU-SOCK", DC.id))["reserved"] == 0
    assert await fw.mongo.db.orders.count_documents({"exchange_for_return_id": {"$exists": True}}) == 0

    warehouse = gql.as_(await token(services, Role.WAREHOUSE, location_ids=frozenset({ret["locationCode"]})))
    received = (await warehouse.data(RECEIVE, {"input": {"returnId": ret["id"], "lines": [{"returnLineId": "1", "quantity": 1}]}}))
    assert received["receiveReturn"]["return"]["status"] == "INSPECTED"

    placed = (await gql.data(RETURN_EXCHANGE, {"id": ret["id"]}))["return"]["exchange"]
    assert placed["status"] == "PLACED" and placed["replacementOrder"]["status"] == "ALLOCATED"
    assert (await fw.level("SKU-SOCK", DC.id))["reserved"] == 1
    assert [(p["provider"], p["amount"]["cents"]) for p in placed["replacementOrder"]["payments"]] == [("EXCHANGE_CREDIT", 2000)]
    assert placed["charge"] is None

    shown = (await gql.data(PREVIEW, {"id": ret["id"]}))["refundPreview"]
    assert [(x["kind"], x["amount"]["cents"]) for x in shown["lines"]] == [("NOT_REFUNDED", 0), ("EXCHANGE_DIFFERENCE", 500)]
    refund = (await issue(gql, returnId=ret["id"]))["refund"]
    assert refund["amount"]["cents"] == 500
    money = await order_money(gql, order)
    assert money["refundSummary"]["exchangeCredit"] == {"cents": 2000} and money["refundSummary"]["refunded"] == {"cents": 500}


async def test_an_exchange_at_the_store_counter_is_placed_at_once(fw: FulfilmentWorld, gql: GraphQLClient) -> None:
    await add_sizes(fw)
    order = await paid_order(fw, [("SKU-SHOE", 2, DC.id)])
    ret = await counter_return(gql, order, [restock("1", 2)])
    exchange = (await ask(gql, ret["id"], [{"returnLineId": "1", "sku": "SKU-SHOE-11", "quantity": 1}]))["exchange"]
    assert exchange["status"] == "PLACED" and exchange["lines"][0]["quantity"] == 1
    # One unit exchanged, one refunded.
    shown = (await gql.data(PREVIEW, {"id": ret["id"]}))["refundPreview"]
    assert [(x["kind"], x["quantity"], x["amount"]["cents"]) for x in shown["lines"]] == [("NOT_REFUNDED", 1, 0), ("GOODS", 1, 2500)]


@pytest.mark.parametrize(
    ("lines", "code", "field"),
    [
        ([{"returnLineId": "9", "sku": "SKU-SHOE-11"}], "INVALID_INPUT", ["lines", "0", "returnLineId"]),
        ([{"returnLineId": "1", "sku": "SKU-NOPE"}], "UNKNOWN_SKU", ["lines", "0", "sku"]),
        ([{"returnLineId": "1", "sku": "SKU-SHOE-11", "quantity": 3}], "INVALID_INPUT", ["lines", "0", "quantity"]),
        ([], "INVALID_INPUT", ["lines"]),
    ],
)
async def test_bad_exchanges_are_refused_and_nothing_is_written(
    fw: FulfilmentWorld, gql: GraphQLClient, lines: list[dict[str, Any]], code: str, field: list[str]
) -> None:
    await add_sizes(fw)
    order = await paid_order(fw, [("SKU-SHOE", 2, DC.id)])
    ret = (await gql.data(REQUEST, request_input(order, [line("1", 2)])))["requestReturn"]["return"]
    before = await nothing_written(fw)
    refused = await ask(gql, ret["id"], lines)
    assert refused["__typename"] == "InvalidInputError", refused
    assert any(i["code"] == code and i["field"] == field for i in refused["issues"]), refused
    assert await nothing_written(fw) == before


async def test_one_exchange_per_return_and_none_for_a_refunded_return(fw: FulfilmentWorld, gql: GraphQLClient) -> None:
    await add_sizes(fw)
    order = await paid_order(fw, [("SKU-SHOE", 1, DC.id), ("SKU-KETTLE", 1, DC.id)])
    ret = await counter_return(gql, order, [restock("1", 1)])
    assert (await ask(gql, ret["id"], [{"returnLineId": "1", "sku": "SKU-SHOE-11"}]))["__typename"] == "RequestExchangePayload"
    before = await nothing_written(fw)
    again = await ask(gql, ret["id"], [{"returnLineId": "1", "sku": "SKU-SOCK"}])
    assert (again["__typename"], again["code"]) == ("ConflictError", "EXCHANGE_NOT_POSSIBLE")
    assert await nothing_written(fw) == before

    other = await counter_return(gql, order, [restock("2", 1)])
    assert (await issue(gql, returnId=other["id"]))["__typename"] == "IssueRefundPayload"
    late = await ask(gql, other["id"], [{"returnLineId": "1", "sku": "SKU-SOCK"}])
    assert (late["code"], late["field"]) == ("EXCHANGE_NOT_POSSIBLE", ["returnId"])


async def test_no_stock_on_a_channel_without_backorders_refuses_the_exchange_and_writes_nothing(
    fw: FulfilmentWorld, gql: GraphQLClient
) -> None:
    await fw.world.add_products(product("SKU-GONE", "Sold out", 100, price=2500))
    await set_policy(gql, channel="amazon", exchangeMode="EXCHANGE_ON_REQUEST")
    order = await paid_order(fw, [("SKU-SHOE", 1, DC.id)], channel_id="amazon")
    ret = await counter_return(gql, order, [restock("1", 1)])
    before = await nothing_written(fw)
    refused = await ask(gql, ret["id"], [{"returnLineId": "1", "sku": "SKU-GONE"}])
    assert (refused["__typename"], refused["code"]) == ("ConflictError", "INSUFFICIENT_STOCK")
    assert await nothing_written(fw) == before


async def test_concurrent_requests_make_one_exchange_and_one_replacement(fw: FulfilmentWorld, gql: GraphQLClient) -> None:
    await add_sizes(fw)
    order = await paid_order(fw, [("SKU-SHOE", 1, DC.id)])
    ret = await counter_return(gql, order, [restock("1", 1)])
    given = [{"returnLineId": "1", "sku": "SKU-SHOE-11"}]
    results = await asyncio.gather(*[ask(gql, ret["id"], given) for _ in range(3)])
    assert sum(r["__typename"] == "RequestExchangePayload" for r in results) == 1, results
    assert {r.get("code") for r in results if r["__typename"] != "RequestExchangePayload"} == {"EXCHANGE_NOT_POSSIBLE"}
    db = fw.mongo.db
    assert await db.exchanges.count_documents({}) == 1
    assert await db.orders.count_documents({"exchange_for_return_id": {"$exists": True}, "status": {"$ne": "CANCELLED"}}) == 1
    assert (await fw.level("SKU-SHOE-11", DC.id))["reserved"] == 1


async def test_the_customer_may_ask_for_an_exchange_of_their_own_return(fw: FulfilmentWorld, gql: GraphQLClient, services: Services) -> None:
    await add_sizes(fw)
    order = await paid_order(fw, [("SKU-SHOE", 1, DC.id)])
    shopper = gql.as_(await token(services, Role.CUSTOMER, customer_id=order.customer_id))
    ret = (await shopper.data(REQUEST, request_input(order, [line("1", 1, "SIZE_FIT")])))["requestReturn"]["return"]
    exchange = (await ask(shopper, ret["id"], [{"returnLineId": "1", "sku": "SKU-SHOE-11"}]))["exchange"]
    assert exchange["status"] == "PENDING"
    stranger = gql.as_(await token(services, Role.CUSTOMER, customer_id="000000000000000000000000"))
    assert (await ask(stranger, ret["id"], [{"returnLineId": "1", "sku": "SKU-SHOE-11"}]))["code"] == "NOT_FOUND"
