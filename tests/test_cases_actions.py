"""Order actions taken from a case (holdOrder, cancelOrder, editOrder with `caseId`), recorded on the case's
thread and in the order's timeline, linked both ways; and the 360° view: Customer.cases, openCaseCount,
lastContactAt, Order.cases."""

from __future__ import annotations

import pytest

from app.domain.cases import CaseStatus, CaseTopic
from app.domain.orders import OrderStatus
from app.domain.principals import Role
from app.services.container import Services
from tests.cases_world import CSR, ERRORS, GET, CaseWorld, case_world, gid
from tests.conftest import GraphQLClient
from tests.factories import World, order

pytestmark = pytest.mark.usefixtures("reservations_consistent")

HOLD = f"""mutation($input: HoldOrderInput!) {{ holdOrder(input: $input) {{
  __typename ... on HoldOrderPayload {{ order {{ status cases {{ number }} timeline {{ type payload }} }} }} {ERRORS} }} }}"""
CANCEL = f"""mutation($input: CancelOrderInput!) {{ cancelOrder(input: $input) {{
  __typename ... on CancelOrderPayload {{ order {{ status }} }} {ERRORS} }} }}"""
EDIT = f"""mutation($input: EditOrderInput!) {{ editOrder(input: $input) {{
  __typename ... on EditOrderPayload {{ order {{ status }} }} {ERRORS} }} }}"""


@pytest.fixture
async def cw(world: World, services: Services) -> CaseWorld:
    return await case_world(world, services)


async def test_holding_an_order_from_a_case_is_recorded_on_both_linked_both_ways(cw: CaseWorld, gql: GraphQLClient) -> None:
    case = await cw.case(orders=())  # not yet linked to the order: the action links it
    order_id, case_id = gid("Order", cw.ada_order.id), gid("Case", case.id)

    held = (await gql.data(HOLD, {"input": {"orderId": order_id, "reason": "customer asked to wait", "caseId": case_id}}))["holdOrder"]

    assert held["__typename"] == "HoldOrderPayload" and held["order"]["status"] == "ON_HOLD"
    assert held["order"]["cases"] == [{"number": case.number}]
    [recorded] = [e for e in held["order"]["timeline"] if e["type"] == "CaseActionRecorded"]
    assert recorded["payload"]["caseId"] == case.id and recorded["payload"]["action"] == "holdOrder"
    thread = (await gql.data(GET, {"id": case_id}))["case"]
    action = thread["entries"][-1]
    assert action["kind"] == "ACTION" and action["action"] == "holdOrder" and action["order"] == {"externalId": cw.ada_order.external_id}
    assert "customer asked to wait" in action["body"]
    assert [o["externalId"] for o in thread["orders"]] == [cw.ada_order.external_id] and thread["orders"][0]["status"] == "ON_HOLD"
    # The customer sees the order's state, not the internal action entry.
    shopper = gql.as_(await cw.token(Role.CUSTOMER, customer_id=cw.ada.id))
    assert [e["kind"] for e in (await shopper.data(GET, {"id": case_id}))["case"]["entries"]] == ["MESSAGE"]


async def test_a_case_of_another_customer_or_a_closed_case_refuses_the_action_and_nothing_changes(cw: CaseWorld, gql: GraphQLClient) -> None:
    bobs = await cw.case(cw.bob)
    closed = await cw.case()
    await cw.services.cases.set_status(CSR, closed.id, CaseStatus.RESOLVED, None)
    await cw.services.cases.set_status(CSR, closed.id, CaseStatus.CLOSED, None)
    order_id = gid("Order", cw.ada_order.id)
    before = await cw.world.mongo.db.events.count_documents({})

    other = (await gql.data(CANCEL, {"input": {"orderId": order_id, "reason": "x", "caseId": gid("Case", bobs.id)}}))["cancelOrder"]
    shut = (await gql.data(CANCEL, {"input": {"orderId": order_id, "reason": "x", "caseId": gid("Case", closed.id)}}))["cancelOrder"]
    missing = (await gql.data(CANCEL, {"input": {"orderId": order_id, "reason": "x", "caseId": gid("Case", "f" * 24)}}))["cancelOrder"]
    not_a_case = (await gql.data(CANCEL, {"input": {"orderId": order_id, "reason": "x", "caseId": order_id}}))["cancelOrder"]

    assert other["__typename"] == "ConflictError" and other["field"] == ["caseId"]
    assert shut["__typename"] == "ConflictError" and shut["field"] == ["caseId"]
    assert missing["__typename"] == "NotFoundError" and missing["field"] == ["caseId"]
    assert not_a_case["__typename"] == "InvalidInputError"
    assert (await cw.world.orders.by_id(cw.ada_order.id)).status.value == "CREATED"  # type: ignore[union-attr]
    assert await cw.world.mongo.db.events.count_documents({}) == before


async def test_cancelling_and_editing_from_a_case_record_each_action(cw: CaseWorld, gql: GraphQLClient) -> None:
    two_lines = order(cw.ada.id, status=OrderStatus.CREATED, lines=[("SKU-1", 1, 1000), ("SKU-2", 1, 1000)])
    await cw.world.add_orders(two_lines)
    case = await cw.case(orders=(two_lines.id,))
    case_id = gid("Case", case.id)
    order_id = gid("Order", two_lines.id)

    edited = (await gql.data(EDIT, {"input": {"orderId": order_id, "reason": "drop line 2", "caseId": case_id, "cancelLines": ["2"]}}))
    cancelled = (await gql.data(CANCEL, {"input": {"orderId": order_id, "reason": "customer changed mind", "caseId": case_id}}))

    assert edited["editOrder"]["__typename"] == "EditOrderPayload", edited
    assert cancelled["cancelOrder"]["__typename"] == "CancelOrderPayload" and cancelled["cancelOrder"]["order"]["status"] == "CANCELLED"
    entries = (await gql.data(GET, {"id": case_id}))["case"]["entries"]
    assert [e["action"] for e in entries if e["kind"] == "ACTION"] == ["editOrder", "cancelOrder"]
    recorded = await cw.world.mongo.db.events.find({"type": "CaseActionRecorded", "order_id": two_lines.id}).to_list()
    assert [e["payload"]["action"] for e in recorded] == ["editOrder", "cancelOrder"]


async def test_the_customer_360_shows_cases_open_count_and_last_contact(cw: CaseWorld, gql: GraphQLClient) -> None:
    first = await cw.case(subject="first", orders=(cw.ada_order.id,))
    second = await cw.case(subject="second")
    await cw.services.cases.set_status(CSR, second.id, CaseStatus.RESOLVED, None)
    query = """query($id: ID!) { customer(id: $id) { openCaseCount lastContactAt cases(first: 10) { edges { node { subject } } } } }"""
    orders = "query($id: ID!) { order(id: $id) { cases { subject status } } }"

    ada = (await gql.data(query, {"id": gid("Customer", cw.ada.id)}))["customer"]
    bob = (await gql.data(query, {"id": gid("Customer", cw.bob.id)}))["customer"]
    linked = (await gql.data(orders, {"id": gid("Order", cw.ada_order.id)}))["order"]["cases"]

    assert ada["openCaseCount"] == 1 and [e["node"]["subject"] for e in ada["cases"]["edges"]] == ["second", "first"]
    assert ada["lastContactAt"] is not None and ada["lastContactAt"].startswith(second.created_at.isoformat()[:19])
    assert bob == {"openCaseCount": 0, "lastContactAt": None, "cases": {"edges": []}}
    assert linked == [{"subject": "first", "status": "NEW"}]
    assert first.status is CaseStatus.NEW
    # A customer sees their own figures; another customer's are hidden.
    shopper = gql.as_(await cw.token(Role.CUSTOMER, customer_id=cw.ada.id))
    assert (await shopper.data(query, {"id": gid("Customer", cw.ada.id)}))["customer"]["openCaseCount"] == 1
    assert (await shopper.data(query, {"id": gid("Customer", cw.bob.id)}))["customer"] is None


async def test_a_goodwill_refund_from_a_case_is_recorded_on_the_case_and_the_order(cw: CaseWorld, gql: GraphQLClient) -> None:
    delivered = order(cw.ada.id, status=OrderStatus.DELIVERED)
    await cw.world.add_orders(delivered)
    case = await cw.case(topic=CaseTopic.DAMAGED)
    issue = f"""mutation($input: IssueRefundInput!) {{ issueRefund(input: $input) {{
      __typename ... on IssueRefundPayload {{ refund {{ kind amount {{ cents }} }} }} {ERRORS} }} }}"""

    refunded = (await gql.data(issue, {"input": {"orderId": gid("Order", delivered.id), "amountCents": 500,
                                                 "reason": "box arrived crushed", "caseId": gid("Case", case.id)}}))["issueRefund"]

    assert refunded["__typename"] == "IssueRefundPayload" and refunded["refund"] == {"kind": "APPEASEMENT", "amount": {"cents": 500}}
    thread = (await gql.data(GET, {"id": gid("Case", case.id)}))["case"]
    assert thread["entries"][-1]["action"] == "issueRefund" and "APPEASEMENT 5.00" in thread["entries"][-1]["body"]
    assert [o["externalId"] for o in thread["orders"]] == [delivered.external_id]
    [recorded] = await cw.world.mongo.db.events.find({"type": "CaseActionRecorded", "order_id": delivered.id}).to_list()
    assert recorded["payload"]["caseId"] == case.id


async def test_a_return_requested_from_a_case_is_linked_to_it(cw: CaseWorld, world: World, services: Services, gql: GraphQLClient) -> None:
    from tests.fulfilment_world import DC, FulfilmentWorld
    from tests.returns_world import REQUEST, delivered_order, line, request_input

    fw = FulfilmentWorld(world, services)
    await fw.setup()
    bought = await delivered_order(fw, [("SKU-SHOE", 1, DC.id)], customer_id=cw.ada.id)
    case = await cw.case(topic=CaseTopic.RETURN, orders=(bought.id,))

    asked = (await gql.data(REQUEST, request_input(bought, [line("1", 1)], caseId=gid("Case", case.id))))["requestReturn"]

    assert asked["__typename"] == "RequestReturnPayload", asked
    stored = (await services.case_queries.by_ids(CSR, [case.id]))[0]
    assert [gid("Return", r) for r in stored.links.return_ids] == [asked["return"]["id"]] and stored.entries[-1].action == "requestReturn"
    assert asked["return"]["number"] in stored.entries[-1].body
