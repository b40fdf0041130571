"""The customer 360's lifetime figures net of refunds (spend, refunds, return rate by channel), and
the dashboard's refunds today."""

from __future__ import annotations

import pytest

from app.domain.money import Money
from app.services.container import Services
from tests.conftest import GraphQLClient
from tests.factories import customer
from tests.fulfilment_world import DC, FulfilmentWorld
from tests.refunds_world import counter_return, fw, issue, paid_order, restock  # noqa: F401 - fixture
from tests.returns_world import REQUEST, gid, line, request_input

pytestmark = pytest.mark.usefixtures("reservations_consistent")

LIFETIME = """
query($id: ID!) {
  customer(id: $id) {
    lifetime {
      orderCount spend { cents } refunds { cents } returnRate
      byChannel { channelCode orderCount spend { cents } refunds { cents } units returnedUnits returnRate }
    }
  }
}
"""


async def test_lifetime_figures_are_net_of_refunds_with_a_return_rate_per_channel(fw: FulfilmentWorld, gql: GraphQLClient) -> None:
    shopper = customer("Grace", "Hopper", email="grace@example.com")
    await fw.world.add_customers(shopper)
    web = await paid_order(fw, [("SKU-SHOE", 2, DC.id)], customer_id=shopper.id)  # 55.99
    await paid_order(fw, [("SKU-SHOE", 1, DC.id)], customer_id=shopper.id, channel_id="amazon")  # 30.99
    returned = await counter_return(gql, web, [restock("1", 1)])
    assert (await issue(gql, returnId=returned["id"]))["refund"]["amount"]["cents"] == 2500
    # A return still on its way counts toward the rate; a cancelled one would not.
    await gql.data(REQUEST, request_input(web, [line("1", 1)]))

    figures = (await gql.data(LIFETIME, {"id": gid("Customer", shopper.id)}))["customer"]["lifetime"]

    assert figures["orderCount"] == 2
    assert figures["spend"] == {"cents": 5599 - 2500 + 3099} and figures["refunds"] == {"cents": 2500}
    assert figures["returnRate"] == round(2 / 3, 4)
    assert figures["byChannel"] == [
        {"channelCode": "amazon", "orderCount": 1, "spend": {"cents": 3099}, "refunds": {"cents": 0}, "units": 1, "returnedUnits": 0, "returnRate": 0.0},
        {"channelCode": "web", "orderCount": 1, "spend": {"cents": 3099}, "refunds": {"cents": 2500}, "units": 2, "returnedUnits": 2, "returnRate": 1.0},
    ]


async def test_the_dashboard_counts_refunds_issued_today(fw: FulfilmentWorld, gql: GraphQLClient, services: Services) -> None:
    assert (await services.dashboard.figures()).refunds_today == 0
    order = await paid_order(fw, [("SKU-SHOE", 2, DC.id)])
    first = await counter_return(gql, order, [restock("1", 1)])
    await issue(gql, returnId=first["id"])
    await issue(gql, orderId=gid("Order", order.id), amountCents=300, reason="scuffed box")

    figures = await services.dashboard.figures()

    assert figures.refunds_today == 2 and figures.refunded_today == (Money(2800, "USD"),)


def test_the_new_list_fields_cost_what_they_can_hold() -> None:
    """Static cost (graphql_schema/cost.py): payments ≤ 10 per order, refund lines 20, refunds per order 10."""
    from graphql import parse

    from graphql_schema.cost import operation_cost
    from graphql_schema.schema import schema

    def cost(query: str) -> int:
        return operation_cost(schema._schema, parse(query), None, {})

    assert cost('{ order(id: "x") { payments { amount { cents } } } }') == 1 + (1 + 10 * 1)
    assert cost('{ order(id: "x") { refunds { lines { amount { cents } } } } }') == 1 + (1 + 10 * (1 + 20 * 1))
    assert cost('{ refundPreview(returnId: "x") { lines { amount { cents } } } }') == 1 + (1 + 20 * 1)
    assert cost('mutation { requestExchange(input: {returnId: "x", lines: []}) { __typename } }') == 1 + 10
