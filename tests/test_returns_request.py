"""requestReturn: per-line rules and typed refusals, idempotency, IN_STORE at a counter, approval, policy."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from datetime import timedelta
from typing import Any

import pytest

from app.domain.carriers import is_valid_tracking_number
from app.domain.clock import utcnow
from app.domain.ids import new_id
from app.domain.orders import Allocation, AllocationStatus, OrderStatus
from app.domain.principals import SYSTEM, Role
from app.domain.returns import (
    ReturnLineRequest,
    ReturnMethod,
    ReturnQuantityExceeded,
    ReturnReason,
    ReturnRequest,
)
from app.domain.shipments import ShipmentStatus
from app.services.container import Services
from tests.conftest import GraphQLClient
from tests.factories import World, customer
from tests.factories import order as plain_order
from tests.fulfilment_world import BOS, DC, NYC, FulfilmentWorld
from tests.returns_world import ERRORS, GET, RECEIVE, REQUEST, decision, delivered_order, gid, line, request_input

pytestmark = pytest.mark.usefixtures("reservations_consistent")

SET_POLICY = f"""
mutation($input: SetReturnPolicyInput!) {{
  setReturnPolicy(input: $input) {{
    __typename ... on SetReturnPolicyPayload {{ policy {{ scope source inherited windowDays returnsCentre approvalRequired version }} }}
    {ERRORS}
  }}
}}
"""
POLICY = "query($c: String) { returnPolicy(channel: $c) { scope source inherited windowDays inspectionReasons returnShippingPaidBy version } }"


@pytest.fixture
async def fw(world: World, services: Services) -> FulfilmentWorld:
    w = FulfilmentWorld(world, services)
    await w.setup()
    return w


async def token(services: Services, role: Role, **scope: Any) -> str:
    return (await services.auth.create_api_key(name=f"returns-{role}", role=role, **scope))[1]


async def counts(fw: FulfilmentWorld) -> tuple[int, int]:
    return await fw.mongo.db.returns.count_documents({}), await fw.mongo.db.events.count_documents({"aggregate_type": "Return"})


async def test_a_mail_return_is_routed_to_the_nearest_store_that_takes_returns_with_a_label(fw: FulfilmentWorld, gql: GraphQLClient) -> None:
    order = await delivered_order(fw, [("SKU-SHOE", 2, DC.id), ("SKU-KETTLE", 1, DC.id)])

    body = await gql.data(REQUEST, request_input(order, [line("1", 1, "SIZE_FIT", note="too small")]))

    result = body["requestReturn"]
    assert result["__typename"] == "RequestReturnPayload", result
    ret = result["return"]
    assert ret["status"] == "AUTHORIZED" and ret["method"] == "MAIL" and not result["replayed"]
    assert ret["number"] == f"R-{order.external_id}-1"
    # The shopper is in Cambridge, MA: the Boston store is nearest; the explanation says so and lists the others.
    routing = ret["routing"]
    assert routing["rule"] == "NEAREST_RETURN_LOCATION" and routing["locationCode"] == BOS.id == ret["locationCode"]
    assert BOS.id in routing["summary"] and "nearest" in routing["summary"]
    assert [c["locationCode"] for c in routing["candidates"]] == [BOS.id, NYC.id, DC.id]
    assert [c["outcome"] for c in routing["candidates"]] == ["CHOSEN", "FARTHER", "FARTHER"]
    assert ret["label"]["carrier"] in ("ups", "usps", "fedex") and ret["labelPaidBy"] == "RETAILER"
    assert is_valid_tracking_number(ret["label"]["carrier"], ret["trackingNumber"])
    assert ret["labelUrl"].startswith("/documents/returns/")
    assert ret["lines"] == [
        {"id": "1", "orderLineId": "1", "sku": "SKU-SHOE", "quantity": 1, "reason": "SIZE_FIT", "note": "too small",
         "unitPrice": {"cents": 2500}, "receivedQuantity": None, "shortfall": 0, "disposition": None, "dispositionNote": None}
    ]
    events = await fw.events(aggregate_type="Return")
    assert [(e["type"], e["payload"]["status"]) for e in events] == [("ReturnRequested", "REQUESTED"), ("ReturnStatusChanged", "AUTHORIZED")]
    assert all(e["order_id"] == order.id and e["customer_id"] == order.customer_id and e["channel_id"] == "web" for e in events)
    assert events[1]["location_id"] == BOS.id and events[1]["payload"]["trackingNumber"] == ret["trackingNumber"]


async def test_the_channel_policy_can_send_mail_returns_to_a_returns_centre(fw: FulfilmentWorld, gql: GraphQLClient) -> None:
    changed = await gql.data(SET_POLICY, {"input": {"channel": "web", "policy": {"returnsCentre": DC.id}, "reason": "consolidate"}})
    assert changed["setReturnPolicy"]["policy"]["returnsCentre"] == DC.id
    order = await delivered_order(fw, [("SKU-SHOE", 1, BOS.id)])

    ret = (await gql.data(REQUEST, request_input(order, [line("1", 1)])))["requestReturn"]["return"]

    assert ret["locationCode"] == DC.id and ret["routing"]["rule"] == "RETURNS_CENTRE"
    assert "returns centre" in ret["routing"]["summary"]
    assert ret["routing"]["candidates"][0] == {"locationCode": DC.id, "distanceKm": ret["routing"]["distanceKm"], "outcome": "CHOSEN"}
    assert {c["outcome"] for c in ret["routing"]["candidates"][1:]} == {"NOT_CENTRE"}


async def test_a_replay_returns_the_same_return_and_other_content_under_the_key_is_refused(fw: FulfilmentWorld, gql: GraphQLClient) -> None:
    order = await delivered_order(fw, [("SKU-SHOE", 2, DC.id)])
    variables = request_input(order, [line("1", 1)], key="rma-7")
    first = (await gql.data(REQUEST, variables))["requestReturn"]
    before = await counts(fw)

    again = (await gql.data(REQUEST, variables))["requestReturn"]
    other = (await gql.data(REQUEST, request_input(order, [line("1", 2)], key="rma-7")))["requestReturn"]

    assert again["replayed"] and again["return"]["id"] == first["return"]["id"]
    assert again["return"]["trackingNumber"] == first["return"]["trackingNumber"]
    assert other["__typename"] == "ConflictError" and other["code"] == "DUPLICATE_CLIENT_KEY" and other["field"] == ["clientKey"]
    assert await counts(fw) == before


@pytest.mark.parametrize(
    ("case", "code"),
    [
        ("not_delivered", "NOT_DELIVERED"),
        ("outside_window", "RETURN_WINDOW_CLOSED"),
        ("more_than_delivered", "RETURN_QUANTITY_EXCEEDED"),
        ("already_returned", "RETURN_QUANTITY_EXCEEDED"),
        ("unknown_line", "INVALID_INPUT"),
    ],
)
async def test_per_line_rules_refuse_with_typed_errors_and_write_nothing(
    fw: FulfilmentWorld, gql: GraphQLClient, case: str, code: str
) -> None:
    status = ShipmentStatus.IN_TRANSIT if case == "not_delivered" else None
    order = await delivered_order(fw, [("SKU-SHOE", 2, DC.id)], days_ago=40 if case == "outside_window" else 2, status=status)
    if case == "already_returned":
        await gql.data(REQUEST, request_input(order, [line("1", 1)]))
    before = await counts(fw)
    wanted = {"more_than_delivered": 3, "already_returned": 2}.get(case, 1)

    result = (await gql.data(REQUEST, request_input(order, [line("9" if case == "unknown_line" else "1", wanted)])))["requestReturn"]

    assert result["code"] == code, result
    assert result["field"] == (["lines", "0", "orderLineId"] if case == "unknown_line" else ["lines", "0", "quantity"])
    assert await counts(fw) == before


async def test_bad_input_lists_every_issue_and_writes_nothing(fw: FulfilmentWorld, gql: GraphQLClient) -> None:
    order = await delivered_order(fw, [("SKU-SHOE", 2, DC.id)])
    bad = request_input(order, [line("1", 0), line("1", 1, note="x" * 501)], key=" ")
    bad["input"]["lines"][0]["disposition"] = "RESTOCK"  # only at a store counter

    result = (await gql.data(REQUEST, bad))["requestReturn"]

    assert result["__typename"] == "InvalidInputError"
    assert {tuple(i["field"]) for i in result["issues"]} == {
        ("clientKey",), ("lines", "0", "quantity"), ("lines", "0", "disposition"), ("lines", "1", "orderLineId"), ("lines", "1", "note"),
    }
    assert await counts(fw) == (0, 0)


async def test_roles_customers_only_their_own_orders_channels_only_theirs_warehouses_never(
    fw: FulfilmentWorld, gql: GraphQLClient, services: Services
) -> None:
    ada, bob = customer("Ada", "Own", email="ada.own@example.com"), customer("Bob", "Other", email="bob.other@example.com")
    await fw.world.add_customers(ada, bob)
    mine = await delivered_order(fw, [("SKU-SHOE", 2, DC.id)], customer_id=ada.id)
    bobs = await delivered_order(fw, [("SKU-SHOE", 2, DC.id)], customer_id=bob.id, channel_id="amazon")
    as_ada = gql.as_(await token(services, Role.CUSTOMER, customer_id=ada.id))
    as_web = gql.as_(await token(services, Role.CHANNEL, channel_id="web"))
    as_dc = gql.as_(await token(services, Role.WAREHOUSE, location_ids=frozenset({DC.id})))

    assert (await as_ada.data(REQUEST, request_input(mine, [line("1", 1)])))["requestReturn"]["return"]["status"] == "AUTHORIZED"
    assert (await as_ada.data(REQUEST, request_input(bobs, [line("1", 1)])))["requestReturn"]["code"] == "NOT_FOUND"
    assert (await as_web.data(REQUEST, request_input(bobs, [line("1", 1)])))["requestReturn"]["code"] == "NOT_FOUND"
    assert (await as_web.data(REQUEST, request_input(mine, [line("1", 1)])))["requestReturn"]["__typename"] == "RequestReturnPayload"
    assert (await as_dc.data(REQUEST, request_input(mine, [line("1", 0)])))["requestReturn"]["code"] == "FORBIDDEN"
    assert await fw.mongo.db.returns.count_documents({"order_id": bobs.id}) == 0


async def test_two_concurrent_requests_cannot_take_the_same_units(fw: FulfilmentWorld, services: Services) -> None:
    order = await delivered_order(fw, [("SKU-SHOE", 2, DC.id)])

    def asking(key: str) -> ReturnRequest:
        return ReturnRequest(order.id, key, ReturnMethod.MAIL, (ReturnLineRequest("1", 2, ReturnReason.SIZE_FIT),))

    results = await asyncio.gather(*(services.returns.request(SYSTEM, asking(k)) for k in ("a", "b", "c")), return_exceptions=True)

    won = [r for r in results if not isinstance(r, BaseException)]
    lost = [r for r in results if isinstance(r, BaseException)]
    assert len(won) == 1 and len(lost) == 2 and all(isinstance(e, ReturnQuantityExceeded) for e in lost), results
    assert await fw.mongo.db.returns.count_documents({"order_id": order.id}) == 1


async def test_bought_online_returned_at_a_store_counter_is_received_and_restocked_at_once(
    fw: FulfilmentWorld, gql: GraphQLClient, services: Services
) -> None:
    order = await delivered_order(fw, [("SKU-SHOE", 2, DC.id)])
    shelf = (await fw.level("SKU-SHOE", BOS.id))["on_hand"]
    clerk = gql.as_(await token(services, Role.STORE_STAFF, location_ids=frozenset({BOS.id})))

    ret = (await clerk.data(REQUEST, request_input(order, [line("1", 2, "SIZE_FIT")], method="IN_STORE")))["requestReturn"]["return"]

    assert ret["status"] == "INSPECTED" and ret["locationCode"] == BOS.id and ret["routing"]["rule"] == "IN_STORE"
    assert ret["label"] is None and ret["lines"][0]["receivedQuantity"] == 2 and ret["lines"][0]["disposition"] == "RESTOCK"
    assert (await fw.level("SKU-SHOE", BOS.id))["on_hand"] == shelf + 2
    types = [(e["type"], e["payload"].get("to") or e["payload"].get("status")) for e in await fw.events(aggregate_type="Return")]
    assert types == [
        ("ReturnRequested", "REQUESTED"), ("ReturnStatusChanged", "AUTHORIZED"), ("ReturnStatusChanged", "RECEIVED"),
        ("ReturnReceived", "RECEIVED"), ("ReturnStatusChanged", "INSPECTED"),
    ]
    [movement] = await fw.events(type="StockLevelChanged", sku="SKU-SHOE", location_id=BOS.id)
    assert movement["payload"]["cause"] == "RETURN" and movement["payload"]["onHandDelta"] == 2
    assert movement["payload"]["returnNumber"] == ret["number"] and movement["order_id"] == order.id


async def test_at_the_counter_a_line_that_needs_inspection_waits_for_receive_return(
    fw: FulfilmentWorld, gql: GraphQLClient, services: Services
) -> None:
    order = await delivered_order(fw, [("SKU-KETTLE", 1, DC.id)])
    clerk = gql.as_(await token(services, Role.STORE_STAFF, location_ids=frozenset({BOS.id})))
    shelf = (await fw.level("SKU-KETTLE", BOS.id))["on_hand"]

    ret = (await clerk.data(REQUEST, request_input(order, [line("1", 1, "DAMAGED")], method="IN_STORE")))["requestReturn"]["return"]
    assert ret["status"] == "RECEIVED" and ret["lines"][0]["disposition"] is None
    missing = (await clerk.data(RECEIVE, {"input": {"returnId": ret["id"], "lines": [{"returnLineId": "1", "quantity": 1}]}}))["receiveReturn"]
    assert missing["code"] == "INVALID_INPUT" and missing["issues"][0]["field"] == ["lines", "0", "disposition"]
    done = (await clerk.data(RECEIVE, {"input": {"returnId": ret["id"], "lines": [
        {"returnLineId": "1", "quantity": 1, "disposition": "DAMAGED", "note": "cracked spout"}]}}))["receiveReturn"]

    assert done["return"]["status"] == "INSPECTED" and done["return"]["lines"][0]["dispositionNote"] == "cracked spout"
    assert (await fw.level("SKU-KETTLE", BOS.id))["on_hand"] == shelf
    [movement] = await fw.events(type="StockLevelChanged", sku="SKU-KETTLE", location_id=BOS.id)
    assert movement["payload"]["cause"] == "RETURN" and movement["payload"]["onHandDelta"] == 0
    assert movement["payload"]["notSellable"] == 1 and movement["reason"] == "cracked spout"


async def test_a_shopper_announces_an_in_store_return_and_any_store_that_takes_returns_receives_it(
    fw: FulfilmentWorld, gql: GraphQLClient, services: Services
) -> None:
    ada = customer("Ada", "Walkin", email="ada.walkin@example.com")
    await fw.world.add_customers(ada)
    order = await delivered_order(fw, [("SKU-SHOE", 1, DC.id)], customer_id=ada.id)
    as_ada = gql.as_(await token(services, Role.CUSTOMER, customer_id=ada.id))
    ret = (await as_ada.data(REQUEST, request_input(order, [line("1", 1)], method="IN_STORE")))["requestReturn"]["return"]
    assert ret["status"] == "AUTHORIZED" and ret["locationCode"] is None and ret["routing"] is None
    clerk = gql.as_(await token(services, Role.STORE_STAFF, location_ids=frozenset({NYC.id})))

    done = (await clerk.data(RECEIVE, {"input": {"returnId": ret["id"], "lines": [{"returnLineId": "1", "quantity": 1}]}}))["receiveReturn"]

    assert done["return"]["status"] == "INSPECTED" and done["return"]["locationCode"] == NYC.id
    assert done["return"]["routing"]["rule"] == "IN_STORE"
    assert (await as_ada.data(GET, {"id": ret["id"]}))["return"]["status"] == "INSPECTED"


async def test_with_approval_required_shopper_returns_wait_for_customer_service(
    fw: FulfilmentWorld, gql: GraphQLClient, services: Services
) -> None:
    await gql.data(SET_POLICY, {"input": {"channel": "web", "policy": {"approvalRequired": True}}})
    ada = customer("Ada", "Approval", email="ada.approval@example.com")
    await fw.world.add_customers(ada)
    order = await delivered_order(fw, [("SKU-SHOE", 2, DC.id)], customer_id=ada.id)
    as_ada = gql.as_(await token(services, Role.CUSTOMER, customer_id=ada.id))
    csr = gql.as_(await token(services, Role.CSR))
    first = (await as_ada.data(REQUEST, request_input(order, [line("1", 1)])))["requestReturn"]["return"]
    second = (await as_ada.data(REQUEST, request_input(order, [line("1", 1)])))["requestReturn"]["return"]
    assert first["status"] == second["status"] == "REQUESTED" and first["label"] is None

    own = (await as_ada.data(decision("authorizeReturn", "AuthorizeReturnInput"), {"input": {"returnId": first["id"]}}))["authorizeReturn"]
    approved = (await csr.data(decision("authorizeReturn", "AuthorizeReturnInput"), {"input": {"returnId": first["id"]}}))["authorizeReturn"]
    rejected = (await csr.data(decision("rejectReturn", "RejectReturnInput"), {"input": {"returnId": second["id"], "reason": "worn"}}))["rejectReturn"]
    again = (await csr.data(decision("rejectReturn", "RejectReturnInput"), {"input": {"returnId": second["id"], "reason": "worn"}}))["rejectReturn"]

    assert own["code"] == "FORBIDDEN"
    assert approved["return"]["status"] == "AUTHORIZED" and approved["return"]["trackingNumber"]
    assert approved["return"]["routing"]["locationCode"] == BOS.id
    assert rejected["return"]["status"] == "REJECTED" and rejected["return"]["statusReason"] == "worn"
    assert again["code"] == "ILLEGAL_TRANSITION"
    # A rejected return gives its units back: the line can be asked for again.
    assert (await as_ada.data(REQUEST, request_input(order, [line("1", 1)])))["requestReturn"]["return"]["status"] == "REQUESTED"


async def test_a_cancelled_return_voids_nothing_twice_and_frees_its_units(fw: FulfilmentWorld, gql: GraphQLClient) -> None:
    order = await delivered_order(fw, [("SKU-SHOE", 1, DC.id)])
    ret = (await gql.data(REQUEST, request_input(order, [line("1", 1)])))["requestReturn"]["return"]

    cancelled = (await gql.data(decision("cancelReturn", "CancelReturnInput"), {"input": {"returnId": ret["id"], "reason": "kept it"}}))["cancelReturn"]
    twice = (await gql.data(decision("cancelReturn", "CancelReturnInput"), {"input": {"returnId": ret["id"]}}))["cancelReturn"]

    assert cancelled["return"]["status"] == "CANCELLED" and twice["code"] == "ILLEGAL_TRANSITION"
    assert (await gql.data(REQUEST, request_input(order, [line("1", 1)])))["requestReturn"]["return"]["number"] == f"R-{order.external_id}-2"


async def test_a_picked_up_order_returned_by_mail_leaves_from_its_pickup_store(fw: FulfilmentWorld, gql: GraphQLClient) -> None:
    order = await delivered_order(fw, [("SKU-SHOE", 1, NYC.id)], pickup_at=NYC.id)

    ret = (await gql.data(REQUEST, request_input(order, [line("1", 1)])))["requestReturn"]["return"]

    assert ret["status"] == "AUTHORIZED" and ret["locationCode"] == NYC.id
    assert "where the order was picked up" in ret["routing"]["summary"]


async def test_set_return_policy_is_validated_audited_and_inherited(fw: FulfilmentWorld, gql: GraphQLClient, services: Services) -> None:
    bad = await gql.data(SET_POLICY, {"input": {"channel": "web", "policy": {"windowDays": -1, "restockingFeeBasisPoints": 20000, "returnsCentre": "NOPE"}}})
    assert {tuple(i["field"]) for i in bad["setReturnPolicy"]["issues"]} == {
        ("policy", "windowDays"), ("policy", "restockingFeeBasisPoints"), ("policy", "returnsCentre"),
    }
    assert await fw.mongo.db.return_policies.count_documents({}) == 0
    assert (await gql.data(SET_POLICY, {"input": {"channel": "nope", "policy": {}}}))["setReturnPolicy"]["code"] == "NOT_FOUND"
    csr = gql.as_(await token(services, Role.CSR))
    assert (await csr.data(SET_POLICY, {"input": {"policy": {"windowDays": 60}}}))["setReturnPolicy"]["code"] == "FORBIDDEN"

    glob = (await gql.data(SET_POLICY, {"input": {"policy": {"windowDays": 60}, "reason": "holidays"}}))["setReturnPolicy"]["policy"]

    assert glob == {"scope": "global", "source": "global", "inherited": False, "windowDays": 60, "returnsCentre": None,
                    "approvalRequired": False, "version": 1}
    read = (await csr.data(POLICY, {"c": "amazon"}))["returnPolicy"]
    assert read["inherited"] and read["source"] == "global" and read["windowDays"] == 60
    assert read["inspectionReasons"] == ["DAMAGED", "NOT_AS_DESCRIBED", "WRONG_ITEM"] and read["returnShippingPaidBy"] == "RETAILER"
    [audit] = await fw.events(type="ReturnPolicyChanged")
    assert audit["aggregate_id"] == "global" and audit["reason"] == "holidays" and audit["payload"]["after"]["window_days"] == 60
    # A 60-day window now lets a 40-day-old delivery come back.
    order = await delivered_order(fw, [("SKU-SHOE", 1, DC.id)], days_ago=40)
    assert (await gql.data(REQUEST, request_input(order, [line("1", 1)])))["requestReturn"]["return"]["status"] == "AUTHORIZED"


async def test_history_without_shipments_counts_a_delivered_orders_fulfilled_units(fw: FulfilmentWorld, gql: GraphQLClient) -> None:
    """Orders imported from another system carry no shipments: a DELIVERED one's fulfilled units came back home."""
    shopper = customer("Ada", "History", email="ada.history@example.com")
    await fw.world.add_customers(shopper)
    base = plain_order(shopper.id, lines=[("SKU-SHOE", 2, 2500)], created_at=utcnow() - timedelta(days=5))
    fulfilled = (Allocation(id="1-1", line_id="1", sku="SKU-SHOE", location_id=DC.id, quantity=2, status=AllocationStatus.FULFILLED),)
    delivered = replace(base, status=OrderStatus.DELIVERED, allocations=fulfilled, updated_at=utcnow() - timedelta(days=3))
    shipped = replace(delivered, id=new_id(), external_id=f"H-{new_id()}", status=OrderStatus.SHIPPED)
    await fw.world.add_orders(delivered, shipped)

    ok = (await gql.data(REQUEST, request_input(delivered, [line("1", 2)])))["requestReturn"]
    refused = (await gql.data(REQUEST, request_input(shipped, [line("1", 1)])))["requestReturn"]

    assert ok["return"]["status"] == "AUTHORIZED" and ok["return"]["lines"][0]["unitPrice"] == {"cents": 2500}
    assert refused["code"] == "NOT_DELIVERED"



async def test_customer_service_can_book_an_in_store_return_at_a_named_store(fw: FulfilmentWorld, gql: GraphQLClient, services: Services) -> None:
    order = await delivered_order(fw, [("SKU-SHOE", 1, DC.id)])
    csr = gql.as_(await token(services, Role.CSR))

    ret = (await csr.data(REQUEST, request_input(order, [line("1", 1)], method="IN_STORE", location=NYC.id)))["requestReturn"]["return"]
    elsewhere = gql.as_(await token(services, Role.STORE_STAFF, location_ids=frozenset({BOS.id})))
    wrong_store = (await elsewhere.data(RECEIVE, {"input": {"returnId": ret["id"], "lines": [{"returnLineId": "1", "quantity": 1}]}}))

    assert ret["status"] == "AUTHORIZED" and ret["locationCode"] == NYC.id
    assert ret["routing"]["summary"] == f"The shopper will bring it to {NYC.id} ({NYC.name})."
    assert wrong_store["receiveReturn"]["code"] == "NOT_FOUND"
