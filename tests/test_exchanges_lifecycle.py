"""An EXCHANGE_ON_RECEIPT exchange follows its return: it ends when the return is cancelled (in the
same transaction, holding no credit), and it is placed by whatever makes the return RECEIVED (the
carrier's delivery scan as much as receiveReturn), exactly once however often the hook runs."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest

from app.domain.principals import SYSTEM
from app.services.container import Services
from tests.conftest import GraphQLClient
from tests.factories import level
from tests.fulfilment_world import DC, FulfilmentWorld, hours_from_now, post_tracking, product, tracking_event
from tests.refunds_world import fw, order_money, paid_order, set_policy  # noqa: F401
from tests.returns_world import GET, RECEIVE, REQUEST, decision, line, request_input
from tests.test_exchanges import RETURN_EXCHANGE, add_sizes, ask

pytestmark = pytest.mark.usefixtures("reservations_consistent")


async def pending_exchange(fw: FulfilmentWorld, gql: GraphQLClient, sku: str = "SKU-SHOE-11", **kw: Any) -> tuple[Any, dict[str, Any]]:
    """A MAIL return (AUTHORIZED, with a label) whose exchange waits for the goods."""
    order = await paid_order(fw, [("SKU-SHOE", 1, DC.id)], **kw)
    ret = (await gql.data(REQUEST, request_input(order, [line("1", 1, "SIZE_FIT")])))["requestReturn"]["return"]
    assert ret["status"] == "AUTHORIZED" and ret["trackingNumber"], ret
    exchange = (await ask(gql, ret["id"], [{"returnLineId": "1", "sku": sku}]))["exchange"]
    assert exchange["status"] == "PENDING", exchange
    return order, ret


async def replacements(fw: FulfilmentWorld) -> list[dict[str, Any]]:
    return [o async for o in fw.mongo.db.orders.find({"exchange_for_return_id": {"$exists": True}})]


async def test_cancelling_the_return_cancels_its_pending_exchange_in_the_same_transaction(
    fw: FulfilmentWorld, gql: GraphQLClient
) -> None:
    await add_sizes(fw)
    order, ret = await pending_exchange(fw, gql)
    money_before = await order_money(gql, order)

    cancelled = (await gql.data(decision("cancelReturn", "CancelReturnInput"), {"input": {"returnId": ret["id"], "reason": "kept it"}}))
    assert cancelled["cancelReturn"]["return"]["status"] == "CANCELLED", cancelled

    shown = (await gql.data(RETURN_EXCHANGE, {"id": ret["id"]}))["return"]["exchange"]
    assert shown["status"] == "CANCELLED" and shown["replacementOrder"] is None
    [ended] = await fw.events(type="ExchangeCancelled")
    [change] = [e for e in await fw.events(type="ReturnStatusChanged") if e["payload"]["to"] == "CANCELLED"]
    assert ended["at"] == change["at"] and ended["reason"] == "kept it"  # written by the cancellation's transaction
    assert ended["payload"]["exchangeStatus"] == "CANCELLED" and ended["payload"]["returnStatus"] == "CANCELLED"
    # It held no credit and ordered nothing: the ceilings are the order's paid amount again.
    money = await order_money(gql, order)
    assert money["refundSummary"] == money_before["refundSummary"]
    assert money["refundSummary"]["exchangeCredit"] == {"cents": 0}
    assert money["refundSummary"]["refundable"] == money["refundSummary"]["paid"]
    assert await replacements(fw) == []
    assert (await fw.level("SKU-SHOE-11", DC.id))["reserved"] == 0


async def test_the_carriers_delivery_scan_places_the_pending_exchange_once(
    fw: FulfilmentWorld, gql: GraphQLClient, http: httpx.AsyncClient
) -> None:
    await add_sizes(fw)
    _, ret = await pending_exchange(fw, gql)
    number, carrier = ret["trackingNumber"], ret["label"]["carrier"]

    await post_tracking(http, carrier, [tracking_event("x-1", number, "DELIVERED", hours_from_now(-1))])
    at_dock = (await gql.data(GET, {"id": ret["id"]}))["return"]
    placed = (await gql.data(RETURN_EXCHANGE, {"id": ret["id"]}))["return"]["exchange"]

    assert at_dock["status"] == "RECEIVED"
    assert placed["status"] == "PLACED" and placed["replacementOrder"]["status"] == "ALLOCATED"
    assert (await fw.level("SKU-SHOE-11", DC.id))["reserved"] == 1

    # The same scan again, and the store's receipt afterwards, order nothing more.
    await post_tracking(http, carrier, [tracking_event("x-1", number, "DELIVERED", hours_from_now(-1))])
    received = await gql.data(RECEIVE, {"input": {"returnId": ret["id"], "lines": [{"returnLineId": "1", "quantity": 1}]}})
    assert received["receiveReturn"]["return"]["status"] == "INSPECTED", received
    assert len(await replacements(fw)) == 1
    assert [e["type"] for e in await fw.events(aggregate_type="Exchange")] == ["ExchangeRequested", "ExchangePlaced"]
    assert (await fw.level("SKU-SHOE-11", DC.id))["reserved"] == 1


async def test_the_receipt_hook_run_many_times_at_once_places_one_replacement(
    fw: FulfilmentWorld, gql: GraphQLClient, http: httpx.AsyncClient, services: Services
) -> None:
    # amazon takes no backorders: with nothing in stock the dock's placement fails and the exchange waits.
    await fw.world.add_products(product("SKU-RARE", "Rare boot", 100, price=2500))
    await set_policy(gql, channel="amazon", exchangeMode="EXCHANGE_ON_RECEIPT")
    _, ret = await pending_exchange(fw, gql, sku="SKU-RARE", channel_id="amazon")
    await post_tracking(http, ret["label"]["carrier"], [tracking_event("y-1", ret["trackingNumber"], "DELIVERED", hours_from_now(-1))])
    still = (await gql.data(RETURN_EXCHANGE, {"id": ret["id"]}))["return"]
    assert (still["status"], still["exchange"]["status"]) == ("RECEIVED", "PENDING")

    await fw.world.add_stock(level("SKU-RARE", DC.id, 5))
    return_id = (await fw.mongo.db.returns.find_one({"number": ret["number"]}))["_id"]
    await asyncio.gather(*[services.return_receiving.arrived(SYSTEM, return_id) for _ in range(4)])

    placed = (await gql.data(RETURN_EXCHANGE, {"id": ret["id"]}))["return"]["exchange"]
    assert placed["status"] == "PLACED"
    live = [o for o in await replacements(fw) if o["status"] != "CANCELLED"]
    assert len(live) == 1
    assert (await fw.level("SKU-RARE", DC.id))["reserved"] == 1
    assert [e["type"] for e in await fw.events(type="ExchangePlaced")] == ["ExchangePlaced"]


async def placed_exchange(fw: FulfilmentWorld, gql: GraphQLClient) -> tuple[Any, dict[str, Any], dict[str, Any]]:
    """An EXCHANGE_ON_REQUEST exchange: the replacement is ordered (and reserved) before the goods come back."""
    await add_sizes(fw)
    await set_policy(gql, exchangeMode="EXCHANGE_ON_REQUEST")
    order = await paid_order(fw, [("SKU-SHOE", 1, DC.id)])
    ret = (await gql.data(REQUEST, request_input(order, [line("1", 1, "SIZE_FIT")])))["requestReturn"]["return"]
    exchange = (await ask(gql, ret["id"], [{"returnLineId": "1", "sku": "SKU-SHOE-11"}]))["exchange"]
    assert exchange["status"] == "PLACED" and (await fw.level("SKU-SHOE-11", DC.id))["reserved"] == 1
    return order, ret, exchange


async def test_withdrawing_a_return_cancels_its_placed_replacement_and_gives_the_credit_back(fw: FulfilmentWorld, gql: GraphQLClient) -> None:
    order, ret, _ = await placed_exchange(fw, gql)
    assert (await order_money(gql, order))["refundSummary"]["exchangeCredit"] == {"cents": 2500}

    cancelled = await gql.data(decision("cancelReturn", "CancelReturnInput"), {"input": {"returnId": ret["id"], "reason": "kept the first pair"}})
    assert cancelled["cancelReturn"]["return"]["status"] == "CANCELLED", cancelled

    [replacement] = await replacements(fw)
    assert replacement["status"] == "CANCELLED"
    assert (await fw.level("SKU-SHOE-11", DC.id))["reserved"] == 0  # its stock is free again
    shown = (await gql.data(RETURN_EXCHANGE, {"id": ret["id"]}))["return"]["exchange"]
    assert shown["status"] == "CANCELLED"
    money = (await order_money(gql, order))["refundSummary"]
    assert money["exchangeCredit"] == {"cents": 0} and money["refundable"] == money["paid"]
    credit = await fw.mongo.db.refunds.find_one({"kind": "EXCHANGE_CREDIT"})
    assert credit["status"] == "REVERSED"
    [order_cancelled] = await fw.events(type="OrderCancelled")
    assert order_cancelled["aggregate_id"] == replacement["_id"] and order_cancelled["reason"] == f"return {ret['number']} withdrawn"
    [reversed_credit] = await fw.events(type="ExchangeCreditReversed")
    assert reversed_credit["order_id"] == order.id and reversed_credit["payload"]["kind"] == "EXCHANGE_CREDIT"
    assert len(await fw.events(type="ExchangeCancelled")) == 1


async def test_a_return_whose_replacement_has_shipped_cannot_be_withdrawn(fw: FulfilmentWorld, gql: GraphQLClient) -> None:
    order, ret, exchange = await placed_exchange(fw, gql)
    [replacement] = await replacements(fw)
    await fw.mongo.db.orders.update_one({"_id": replacement["_id"]}, {"$set": {"status": "SHIPPED"}, "$inc": {"version": 1}})
    events_before = await fw.mongo.db.events.count_documents({})

    refused = (await gql.data(decision("cancelReturn", "CancelReturnInput"), {"input": {"returnId": ret["id"], "reason": "kept it"}}))["cancelReturn"]

    assert refused["__typename"] != "CancelReturnPayload" and refused["code"] == "ILLEGAL_TRANSITION", refused
    assert "receive it instead" in refused["message"]
    assert (await gql.data(RETURN_EXCHANGE, {"id": ret["id"]}))["return"]["exchange"]["status"] == exchange["status"] == "PLACED"
    assert (await fw.mongo.db.returns.find_one({}))["status"] == "AUTHORIZED"
    assert (await fw.mongo.db.orders.find_one({"_id": replacement["_id"]}))["status"] == "SHIPPED"
    assert (await fw.mongo.db.refunds.find_one({"kind": "EXCHANGE_CREDIT"}))["status"] == "ISSUED"
    assert await fw.mongo.db.events.count_documents({}) == events_before
