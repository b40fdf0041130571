"""receiveReturn: each disposition and its RETURN movement, shortfalls, backorders filled by a restock,
the state machine's refusals, who may receive, and the refunds area's INSPECTED → REFUNDED step."""

from __future__ import annotations

from typing import Any

import pytest

from app.domain.clock import utcnow
from app.domain.errors import DomainError
from app.domain.events import Actor
from app.domain.principals import Role
from app.domain.returns import ReturnStatus
from app.services.container import Services
from tests.conftest import GraphQLClient
from tests.factories import World
from tests.fulfilment_world import BOS, DC, NYC, FulfilmentWorld
from tests.order_helpers import capture_input
from tests.returns_world import RECEIVE, REQUEST, decision, delivered_order, line, request_input

pytestmark = pytest.mark.usefixtures("reservations_consistent")

CAPTURE = """
mutation($input: CaptureOrderInput!) { captureOrder(input: $input) {
  __typename ... on CaptureOrderPayload { order { id externalId status } } ... on Error { code message }
} }
"""


@pytest.fixture
async def fw(world: World, services: Services) -> FulfilmentWorld:
    w = FulfilmentWorld(world, services)
    await w.setup()
    return w


async def token(services: Services, role: Role, **scope: Any) -> str:
    return (await services.auth.create_api_key(name=f"returns-{role}", role=role, **scope))[1]


def received(return_id: str, *lines: tuple[str, int, str | None, str | None]) -> dict[str, Any]:
    return {"input": {"returnId": return_id, "lines": [
        {"returnLineId": lid, "quantity": q, **({"disposition": d} if d else {}), **({"note": n} if n else {})} for lid, q, d, n in lines
    ]}}


async def snapshot(fw: FulfilmentWorld) -> list[Any]:
    return [doc async for doc in fw.mongo.db.inventory.find({}).sort("_id", 1)] + [
        doc async for doc in fw.mongo.db.returns.find({}, {"updated_at": 0})
    ] + [await fw.mongo.db.events.count_documents({})]


async def test_each_disposition_moves_stock_its_own_way_and_every_line_is_a_return_movement(
    fw: FulfilmentWorld, gql: GraphQLClient, services: Services
) -> None:
    order = await delivered_order(fw, [("SKU-SHOE", 2, DC.id), ("SKU-KETTLE", 1, DC.id), ("SKU-POWER", 1, DC.id), ("SKU-BREW", 2, DC.id)])
    ret = (await gql.data(REQUEST, request_input(order, [
        line("1", 2, "SIZE_FIT"), line("2", 1, "NOT_AS_DESCRIBED"), line("3", 1, "DAMAGED"), line("4", 2, "WRONG_ITEM"),
    ])))["requestReturn"]["return"]
    assert ret["locationCode"] == BOS.id
    before = {sku: (await fw.level(sku, BOS.id))["on_hand"] for sku in ("SKU-SHOE", "SKU-KETTLE")}
    clerk = gql.as_(await token(services, Role.STORE_STAFF, location_ids=frozenset({BOS.id})))

    done = (await clerk.data(RECEIVE, received(
        ret["id"],
        ("1", 2, None, None),  # no inspection needed for SIZE_FIT: RESTOCK
        ("2", 1, "REFURBISH", "scratched lid"),
        ("3", 1, "DAMAGED", "swollen cell"),
        ("4", 1, "RETURN_TO_VENDOR", "wrong flavour from supplier"),  # one of two arrived
    )))["receiveReturn"]

    assert done["__typename"] == "ReceiveReturnPayload", done
    got = done["return"]
    assert got["status"] == "INSPECTED" and got["receivedCount"] == 5
    assert [(x["receivedQuantity"], x["shortfall"], x["disposition"]) for x in got["lines"]] == [
        (2, 0, "RESTOCK"), (1, 0, "REFURBISH"), (1, 0, "DAMAGED"), (1, 1, "RETURN_TO_VENDOR"),
    ]
    assert (await fw.level("SKU-SHOE", BOS.id))["on_hand"] == before["SKU-SHOE"] + 2
    assert (await fw.level("SKU-KETTLE", BOS.id))["on_hand"] == before["SKU-KETTLE"]
    assert await fw.mongo.db.inventory.count_documents({"_id": {"$in": ["SKU-POWER@" + BOS.id, "SKU-BREW@" + BOS.id]}}) == 0
    movements = {e["sku"]: e for e in await fw.events(type="StockLevelChanged", location_id=BOS.id)}
    assert set(movements) == {"SKU-SHOE", "SKU-KETTLE", "SKU-POWER", "SKU-BREW"}
    assert all(m["payload"]["cause"] == "RETURN" and m["order_id"] == order.id for m in movements.values())
    assert movements["SKU-SHOE"]["payload"]["onHandDelta"] == 2 and "notSellable" not in movements["SKU-SHOE"]["payload"]
    assert movements["SKU-POWER"]["payload"]["disposition"] == "DAMAGED" and movements["SKU-POWER"]["reason"] == "swollen cell"
    assert movements["SKU-BREW"]["payload"]["notSellable"] == 1 and movements["SKU-BREW"]["payload"]["onHandDelta"] == 0
    [receipt] = await fw.events(type="ReturnReceived")
    assert receipt["payload"]["shortfall"] == 1 and receipt["location_id"] == BOS.id
    # The movement log shows them through the API as well.
    movement_query = '{ inventory(sku: "SKU-SHOE") { levels { locationCode movements(first: 5) { edges { node { cause onHandDelta } } } } } }'
    levels = (await gql.data(movement_query))["inventory"]["levels"]
    bos = next(lvl for lvl in levels if lvl["locationCode"] == BOS.id)
    assert bos["movements"]["edges"][0]["node"] == {"cause": "RETURN", "onHandDelta": 2}


async def test_a_restocked_return_fills_a_backorder_waiting_for_that_sku(world: World, services: Services, gql: GraphQLClient) -> None:
    fw = FulfilmentWorld(world, services)
    await fw.setup(stock={("SKU-KETTLE", DC.id): 5})  # no shoes anywhere
    waiting = (await gql.data(CAPTURE, {"input": capture_input("W-WAIT", lines=[{"sku": "SKU-SHOE", "quantity": 1}])}))["captureOrder"]
    assert waiting["order"]["status"] == "BACKORDERED", waiting
    order = await delivered_order(fw, [("SKU-SHOE", 1, DC.id)])
    ret = (await gql.data(REQUEST, request_input(order, [line("1", 1, "SIZE_FIT")])))["requestReturn"]["return"]

    done = (await gql.data(RECEIVE, received(ret["id"], ("1", 1, None, None))))["receiveReturn"]

    assert done["backordersFilled"] == [{"externalId": "W-WAIT", "status": "ALLOCATED"}]
    level = await fw.level("SKU-SHOE", BOS.id)
    assert (level["on_hand"], level["reserved"], level["available"]) == (1, 1, 0)
    [allocated] = await fw.events(type="OrderAllocated")
    assert allocated["payload"]["allocations"][0]["locationId"] == BOS.id


async def test_receipt_refusals_write_nothing(fw: FulfilmentWorld, gql: GraphQLClient, services: Services) -> None:
    order = await delivered_order(fw, [("SKU-SHOE", 2, DC.id), ("SKU-KETTLE", 1, DC.id)])
    ret = (await gql.data(REQUEST, request_input(order, [line("1", 2, "SIZE_FIT"), line("2", 1, "DAMAGED")])))["requestReturn"]["return"]
    csr = gql.as_(await token(services, Role.CSR))
    elsewhere = gql.as_(await token(services, Role.STORE_STAFF, location_ids=frozenset({NYC.id})))
    before = await snapshot(fw)

    bad = (await gql.data(RECEIVE, received(ret["id"], ("1", 3, None, None), ("2", 1, "DAMAGED", None), ("7", 1, None, None))))["receiveReturn"]
    partial = (await gql.data(RECEIVE, received(ret["id"], ("1", 2, None, None))))["receiveReturn"]
    by_csr = (await csr.data(RECEIVE, received(ret["id"], ("1", 2, None, None), ("2", 0, None, None))))["receiveReturn"]
    by_other_store = (await elsewhere.data(RECEIVE, received(ret["id"], ("1", 2, None, None), ("2", 0, None, None))))["receiveReturn"]
    closing = (await gql.data(decision("closeReturn", "CloseReturnInput"), {"input": {"returnId": ret["id"], "reason": "x"}}))["closeReturn"]

    assert {tuple(i["field"]) for i in bad["issues"]} == {
        ("lines", "0", "quantity"), ("lines", "1", "note"), ("lines", "2", "returnLineId"),
    }
    assert partial["code"] == "INVALID_INPUT" and partial["field"] == ["lines"]
    assert by_csr["code"] == "FORBIDDEN" and by_other_store["code"] == "NOT_FOUND"
    assert closing["code"] == "ILLEGAL_TRANSITION"
    assert await snapshot(fw) == before


async def test_the_state_machine_refuses_what_it_does_not_allow(fw: FulfilmentWorld, gql: GraphQLClient, services: Services) -> None:
    order = await delivered_order(fw, [("SKU-SHOE", 1, DC.id)])
    ret = (await gql.data(REQUEST, request_input(order, [line("1", 1)])))["requestReturn"]["return"]
    first = (await gql.data(RECEIVE, received(ret["id"], ("1", 1, None, None))))["receiveReturn"]
    assert first["return"]["status"] == "INSPECTED"

    twice = (await gql.data(RECEIVE, received(ret["id"], ("1", 1, None, None))))["receiveReturn"]
    cancel = (await gql.data(decision("cancelReturn", "CancelReturnInput"), {"input": {"returnId": ret["id"]}}))["cancelReturn"]
    authorize = (await gql.data(decision("authorizeReturn", "AuthorizeReturnInput"), {"input": {"returnId": ret["id"]}}))["authorizeReturn"]
    closed = (await gql.data(decision("closeReturn", "CloseReturnInput"), {"input": {"returnId": ret["id"], "reason": "store credit given"}}))["closeReturn"]
    after_close = (await gql.data(decision("closeReturn", "CloseReturnInput"), {"input": {"returnId": ret["id"], "reason": "again"}}))["closeReturn"]

    assert twice["code"] == cancel["code"] == authorize["code"] == after_close["code"] == "ILLEGAL_TRANSITION"
    assert closed["return"]["status"] == "CLOSED" and closed["return"]["statusReason"] == "store credit given"
    assert (await fw.level("SKU-SHOE", BOS.id))["on_hand"] == 4 + 1  # restocked once, not twice


async def test_the_refunds_area_moves_an_inspected_return_to_refunded_in_its_own_transaction(
    fw: FulfilmentWorld, gql: GraphQLClient, services: Services
) -> None:
    order = await delivered_order(fw, [("SKU-SHOE", 2, DC.id)])
    inspected = (await gql.data(REQUEST, request_input(order, [line("1", 1)])))["requestReturn"]["return"]
    waiting = (await gql.data(REQUEST, request_input(order, [line("1", 1)])))["requestReturn"]["return"]
    await gql.data(RECEIVE, received(inspected["id"], ("1", 1, None, None)))
    actor = Actor(subject="refunds", role="SYSTEM")

    refunded = await services.mongo.transaction(
        lambda session: services.returns.mark_refunded(session, _node(inspected["id"]), refund_id="RF-1", actor=actor, at=utcnow())
    )
    with pytest.raises(DomainError) as refused:
        await services.mongo.transaction(
            lambda session: services.returns.mark_refunded(session, _node(waiting["id"]), refund_id="RF-2", actor=actor, at=utcnow())
        )

    assert refunded.status is ReturnStatus.REFUNDED and refunded.refund_id == "RF-1" and refunded.closed_at is not None
    assert refused.value.code == "ILLEGAL_TRANSITION"
    last = (await fw.events(aggregate_type="Return", aggregate_id=refunded.id))[-1]
    assert last["payload"]["to"] == "REFUNDED" and last["payload"]["refundId"] == "RF-1"


def _node(global_id: str) -> str:
    import base64

    return base64.b64decode(global_id).decode().split(":", 1)[1]
