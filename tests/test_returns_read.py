"""The read side of returns: the scoped `returns` connection and its filters, `return(id)`,
`Order.returns` and `returnStatus`, `Customer.returns`, `node`, the dashboard's returns today, query
cost, and `returnUpdated` resuming from a cursor without gaps or duplicates."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from app.domain.clock import utcnow
from app.domain.principals import SYSTEM, Role
from app.domain.returns import ReceivedLine, ReturnLineRequest, ReturnMethod, ReturnReason, ReturnRequest
from app.services.container import Services
from app.settings import Settings
from tests.conftest import GraphQLClient
from tests.factories import World, customer
from tests.fulfilment_world import BOS, DC, NYC, FulfilmentWorld
from tests.realtime import GraphQLWs, realtime_settings, serve
from tests.returns_world import delivered_order, gid

pytestmark = pytest.mark.usefixtures("reservations_consistent")

LIST = """
query($f: ReturnFilterInput, $first: Int, $after: String) {
  returns(filter: $f, first: $first, after: $after) {
    edges { cursor node { number status locationCode channelCode lines { reason } } }
    pageInfo { hasNextPage endCursor }
  }
}
"""
ORDER_RETURNS = """
query($id: ID!) { order(id: $id) { returnStatus returns { number status order { externalId } customer { id } location { code } } } }
"""
CUSTOMER_RETURNS = "query($id: ID!) { customer(id: $id) { returns(first: 10) { edges { node { number } } } } }"
RETURN_UPDATED = """
subscription($returnId: ID, $orderId: ID, $statuses: [ReturnStatus!], $after: String) {
  returnUpdated(returnId: $returnId, orderId: $orderId, statuses: $statuses, after: $after) {
    cursor status returnId orderId event { type }
  }
}
"""


@pytest.fixture
async def fw(world: World, services: Services) -> FulfilmentWorld:
    w = FulfilmentWorld(world, services)
    await w.setup()
    return w


async def token(services: Services, role: Role, **scope: Any) -> str:
    return (await services.auth.create_api_key(name=f"returns-{role}", role=role, **scope))[1]


def numbers(body: dict[str, Any]) -> list[str]:
    return [edge["node"]["number"] for edge in body["returns"]["edges"]]


def asking(order_id: str, key: str, quantity: int = 1, method: ReturnMethod = ReturnMethod.MAIL, **kw: Any) -> ReturnRequest:
    return ReturnRequest(order_id, key, method, (ReturnLineRequest("1", quantity, kw.pop("reason", ReturnReason.SIZE_FIT)),), **kw)


async def test_returns_are_listed_newest_first_filtered_and_scoped(fw: FulfilmentWorld, gql: GraphQLClient, services: Services) -> None:
    ada = customer("Ada", "Reader", email="ada.reader@example.com")
    await fw.world.add_customers(ada)
    web = await delivered_order(fw, [("SKU-SHOE", 3, DC.id)], customer_id=ada.id, external_id="W-R1")
    pos = await delivered_order(fw, [("SKU-KETTLE", 1, NYC.id)], channel_id="pos", external_id="P-R1")
    mail = await services.returns.request(SYSTEM, asking(web.id, "a", reason=ReturnReason.DAMAGED))
    counter = await services.returns.request(SYSTEM, asking(web.id, "b", method=ReturnMethod.IN_STORE, location_id=NYC.id))
    at_nyc = await services.returns.request(SYSTEM, asking(pos.id, "c", method=ReturnMethod.IN_STORE, location_id=NYC.id))
    await services.returns.cancel(SYSTEM, mail.ret.id, "changed mind")

    everything = numbers(await gql.data(LIST))
    assert everything == ["R-P-R1-1", "R-W-R1-2", "R-W-R1-1"]
    assert numbers(await gql.data(LIST, {"f": {"statuses": ["INSPECTED"]}})) == ["R-P-R1-1", "R-W-R1-2"]
    assert numbers(await gql.data(LIST, {"f": {"locations": [BOS.id]}})) == ["R-W-R1-1"]
    assert numbers(await gql.data(LIST, {"f": {"channels": ["pos"]}})) == ["R-P-R1-1"]
    assert numbers(await gql.data(LIST, {"f": {"reasons": ["DAMAGED"]}})) == ["R-W-R1-1"]
    assert numbers(await gql.data(LIST, {"f": {"orderId": gid("Order", web.id)}})) == ["R-W-R1-2", "R-W-R1-1"]
    assert numbers(await gql.data(LIST, {"f": {"createdFrom": (utcnow() + timedelta(minutes=1)).isoformat()}})) == []
    page = (await gql.data(LIST, {"first": 2}))["returns"]
    assert page["pageInfo"]["hasNextPage"]
    assert numbers(await gql.data(LIST, {"first": 2, "after": page["pageInfo"]["endCursor"]})) == ["R-W-R1-1"]

    as_ada = gql.as_(await token(services, Role.CUSTOMER, customer_id=ada.id))
    nyc = gql.as_(await token(services, Role.STORE_STAFF, location_ids=frozenset({NYC.id})))
    pos_channel = gql.as_(await token(services, Role.CHANNEL, channel_id="pos"))
    assert numbers(await as_ada.data(LIST)) == ["R-W-R1-2", "R-W-R1-1"]
    assert numbers(await nyc.data(LIST)) == ["R-P-R1-1", "R-W-R1-2"]
    assert numbers(await pos_channel.data(LIST)) == ["R-P-R1-1"]
    assert (await nyc.post(LIST, {"f": {"locations": [BOS.id]}})).json()["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    assert (await as_ada.data("query($id: ID!) { return(id: $id) { number } }", {"id": gid("Return", at_nyc.ret.id)}))["return"] is None
    node = await nyc.data("query($id: ID!) { node(id: $id) { ... on Return { number status } } }", {"id": gid("Return", counter.ret.id)})
    assert node["node"] == {"number": "R-W-R1-2", "status": "INSPECTED"}


async def test_the_order_and_the_customer_show_their_returns(fw: FulfilmentWorld, gql: GraphQLClient, services: Services) -> None:
    order = await delivered_order(fw, [("SKU-SHOE", 2, DC.id)], external_id="W-O1")
    assert (await gql.data(ORDER_RETURNS, {"id": gid("Order", order.id)}))["order"] == {"returnStatus": "NONE", "returns": []}
    first = await services.returns.request(SYSTEM, asking(order.id, "a"))
    assert (await gql.data(ORDER_RETURNS, {"id": gid("Order", order.id)}))["order"]["returnStatus"] == "RETURN_REQUESTED"
    await services.return_receiving.receive(SYSTEM, first.ret.id, [ReceivedLine("1", 1)])
    assert (await gql.data(ORDER_RETURNS, {"id": gid("Order", order.id)}))["order"]["returnStatus"] == "PARTIALLY_RETURNED"
    second = await services.returns.request(SYSTEM, asking(order.id, "b"))
    await services.return_receiving.receive(SYSTEM, second.ret.id, [ReceivedLine("1", 1)])

    shown = (await gql.data(ORDER_RETURNS, {"id": gid("Order", order.id)}))["order"]

    assert shown["returnStatus"] == "RETURNED"
    assert [(r["number"], r["status"], r["order"]["externalId"], r["location"]["code"]) for r in shown["returns"]] == [
        ("R-W-O1-1", "INSPECTED", "W-O1", BOS.id), ("R-W-O1-2", "INSPECTED", "W-O1", BOS.id),
    ]
    assert shown["returns"][0]["customer"]["id"] == gid("Customer", order.customer_id)
    mine = await gql.data(CUSTOMER_RETURNS, {"id": gid("Customer", order.customer_id)})
    assert [e["node"]["number"] for e in mine["customer"]["returns"]["edges"]] == ["R-W-O1-2", "R-W-O1-1"]


async def test_the_dashboard_counts_returns_requested_today(fw: FulfilmentWorld, services: Services) -> None:
    order = await delivered_order(fw, [("SKU-SHOE", 2, DC.id)])
    assert (await services.dashboard.figures()).returns_today == 0
    await services.returns.request(SYSTEM, asking(order.id, "a"))
    await services.returns.request(SYSTEM, asking(order.id, "b"))
    assert (await services.dashboard.figures()).returns_today == 2


async def test_a_page_of_returns_has_a_bounded_static_cost(fw: FulfilmentWorld, gql: GraphQLClient) -> None:
    query = "{ returns(first: 100) { edges { node { number lines { sku product { name } } routing { candidates { locationCode } } } } } }"
    body = await gql(query)
    assert not body.get("errors")
    # Each object costs 1 times how often it can occur: 100 edges × (edge + node + lines (10 × a product) +
    # routing + candidates (11 × scalars only)).
    lines = 1 + 10 * 1
    routing = 1 + (1 + 11 * 0)
    assert body["extensions"]["cost"]["requested"] == 1 + 100 * (1 + 1 + lines + routing)
    too_many = await gql.post("{ returns(first: 101) { edges { node { number } } } }")
    assert too_many.json()["errors"][0]["extensions"]["code"] == "INVALID_INPUT"


async def test_return_updated_resumes_after_a_cursor_without_gaps_or_duplicates(
    fw: FulfilmentWorld, settings: Settings, admin_token: str, services: Services
) -> None:
    order = await delivered_order(fw, [("SKU-SHOE", 2, DC.id)])
    other = await delivered_order(fw, [("SKU-SHOE", 1, DC.id)])
    async with serve(realtime_settings(settings)) as server:
        async with GraphQLWs.connect(server.ws_url, admin_token) as client:
            await client.subscribe(RETURN_UPDATED, {"orderId": gid("Order", order.id)})
            await server.subscribed(1)
            first = await services.returns.request(SYSTEM, asking(order.id, "a"))
            seen = await client.take("returnUpdated", 2)
        assert [(s["event"]["type"], s["status"]) for s in seen] == [("ReturnRequested", "REQUESTED"), ("ReturnStatusChanged", "AUTHORIZED")]
        assert {s["returnId"] for s in seen} == {gid("Return", first.ret.id)} and seen[0]["orderId"] == gid("Order", order.id)
        # While nobody listens: the receipt of this return, and another order's return.
        await services.return_receiving.receive(SYSTEM, first.ret.id, [ReceivedLine("1", 1)])
        await services.returns.request(SYSTEM, asking(other.id, "z"))
        async with GraphQLWs.connect(server.ws_url, admin_token) as client:
            await client.subscribe(RETURN_UPDATED, {"orderId": gid("Order", order.id), "after": seen[-1]["cursor"]})
            missed = await client.take("returnUpdated", 3)
            await server.subscribed(1)
            second = await services.returns.request(SYSTEM, asking(order.id, "b"))
            live = await client.take("returnUpdated", 2)
            await client.nothing_more()
        assert [(m["event"]["type"], m["status"]) for m in missed] == [
            ("ReturnStatusChanged", "RECEIVED"), ("ReturnReceived", "RECEIVED"), ("ReturnStatusChanged", "INSPECTED"),
        ]
        assert {m["returnId"] for m in live} == {gid("Return", second.ret.id)}
        cursors = [int(x["cursor"]) for x in seen + missed + live]
        assert cursors == sorted(cursors) and len(set(cursors)) == len(cursors)
        # One return followed by id: only its events, from the start of the log.
        async with GraphQLWs.connect(server.ws_url, admin_token) as client:
            await client.subscribe(RETURN_UPDATED, {"returnId": gid("Return", second.ret.id), "after": "0"})
            followed = await client.take("returnUpdated", 2)
            await client.nothing_more()
        assert {f["returnId"] for f in followed} == {gid("Return", second.ret.id)}


async def test_return_updated_is_scoped_to_what_the_caller_may_see(
    fw: FulfilmentWorld, settings: Settings, services: Services
) -> None:
    ada, bob = customer("Ada", "Sub", email="ada.sub@example.com"), customer("Bob", "Sub", email="bob.sub@example.com")
    await fw.world.add_customers(ada, bob)
    mine = await delivered_order(fw, [("SKU-SHOE", 1, DC.id)], customer_id=ada.id)
    bobs = await delivered_order(fw, [("SKU-SHOE", 2, DC.id)], customer_id=bob.id)
    theirs = await services.returns.request(SYSTEM, asking(bobs.id, "b"))
    ada_token = await token(services, Role.CUSTOMER, customer_id=ada.id)
    async with serve(realtime_settings(settings)) as server:
        async with GraphQLWs.connect(server.ws_url, ada_token) as client:
            await client.subscribe(RETURN_UPDATED, {"returnId": gid("Return", theirs.ret.id)})
            refused = await client.error()
            await client.subscribe(RETURN_UPDATED, {})
            await server.subscribed(1)
            await services.returns.request(SYSTEM, asking(bobs.id, "b2"))  # not Ada's: never reaches her
            own = await services.returns.request(SYSTEM, asking(mine.id, "a"))
            got = await client.take("returnUpdated", 2)
            await client.nothing_more()
    assert refused["extensions"]["code"] == "FORBIDDEN"
    assert {g["returnId"] for g in got} == {gid("Return", own.ret.id)}
