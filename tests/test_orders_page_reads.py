"""A page of orders reads only what it shows: the routing explanation (most of a routed order's
document) stays in the database unless the selection asks for it, and then it is there."""

from __future__ import annotations

import pytest

from app.domain.orders import OrderFilter
from app.domain.pagination import PageRequest
from app.domain.principals import SYSTEM
from app.services.container import Services
from app.services.orders import CustomerOrdersKey
from tests.conftest import GraphQLClient
from tests.factories import World
from tests.order_helpers import CAPTURE, capture_input, network

pytestmark = pytest.mark.usefixtures("reservations_consistent")

PAGE_WITH_ROUTING = """{
  orders(first: 5) { edges { node { externalId routing { summary deliveryMethod } } } }
  customers(first: 5) { edges { node { orders(first: 5) { edges { node { externalId routing { summary } } } } } } }
}"""
PAGE_WITHOUT_ROUTING = """{
  orders(first: 5) { edges { node { externalId totals { total { cents } } } } }
  customers(first: 5) { edges { node { orders(first: 5) { edges { node { externalId } } } } } }
}"""


async def _two_routed_orders(world: World, gql: GraphQLClient) -> None:
    await network(world)
    for external_id in ("W-R1", "W-R2"):
        captured = (await gql.data(CAPTURE, {"input": capture_input(external_id)}))["captureOrder"]
        assert captured["__typename"] == "CaptureOrderPayload"


async def test_a_page_that_shows_routing_has_it_and_one_that_does_not_reads_it_not(
    world: World, gql: GraphQLClient, services: Services
) -> None:
    await _two_routed_orders(world, gql)

    shown = await gql.data(PAGE_WITH_ROUTING)
    page = [edge["node"] for edge in shown["orders"]["edges"]]
    assert [o["externalId"] for o in page] == ["W-R2", "W-R1"]
    assert all(o["routing"]["summary"] and o["routing"]["deliveryMethod"] == "SHIP" for o in page)
    nested = [e["node"] for c in shown["customers"]["edges"] for e in c["node"]["orders"]["edges"]]
    assert len(nested) == 2 and all(o["routing"]["summary"] for o in nested)

    hidden = await gql.data(PAGE_WITHOUT_ROUTING)
    assert [e["node"]["externalId"] for e in hidden["orders"]["edges"]] == ["W-R2", "W-R1"]
    assert all(e["node"]["totals"]["total"]["cents"] == 2000 for e in hidden["orders"]["edges"])


async def test_the_service_leaves_routing_out_only_when_asked(world: World, gql: GraphQLClient, services: Services) -> None:
    await _two_routed_orders(world, gql)
    orders = services.orders

    full = await orders.page(SYSTEM, OrderFilter(), PageRequest(first=5))
    lean = await orders.page(SYSTEM, OrderFilter(), PageRequest(first=5), with_routing=False)
    assert all(o.routing for o in full.items) and all(o.routing is None for o in lean.items)
    # Everything else is the same order (routing does not take part in equality).
    assert list(lean.items) == list(full.items) and lean.cursors == full.cursors

    customer_id = full.items[0].customer_id
    [with_routing, without] = await orders.pages_for_customers(
        SYSTEM,
        [CustomerOrdersKey(customer_id, OrderFilter(), PageRequest(first=5)),
         CustomerOrdersKey(customer_id, OrderFilter(), PageRequest(first=5), with_routing=False)],
    )
    assert len(with_routing.items) == 2 and all(o.routing for o in with_routing.items)
    assert list(without.items) == list(with_routing.items) and all(o.routing is None for o in without.items)
