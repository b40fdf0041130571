"""Customer 360° over HTTP: profile, identities, orders on every channel, lifetime figures."""

from __future__ import annotations

import base64
from datetime import timedelta

from app.domain.channels import ChannelKind
from app.domain.customers import ChannelIdentity
from app.domain.orders import OrderStatus
from tests.conftest import GraphQLClient
from tests.factories import T0, World, channel, customer, order


def gid(type_name: str, node_id: str) -> str:
    return base64.b64encode(f"{type_name}:{node_id}".encode()).decode()


CUSTOMER_360 = """
query($id: ID!, $first: Int, $after: String, $filter: OrderFilterInput) {
  customer(id: $id) {
    id displayName email
    identities { externalId channel { code kind } }
    lifetime { orderCount spend { cents } byChannel { channelCode orderCount spend { cents } } }
    orders(first: $first, after: $after, filter: $filter) {
      edges { cursor node { externalId status channel { code } totals { total { cents } } } }
      pageInfo { hasNextPage endCursor }
    }
  }
}
"""


async def test_customer_360_unifies_orders_from_every_channel(world: World, gql: GraphQLClient) -> None:
    ada = customer("Ada", "Lovelace", identities=[ChannelIdentity("amazon", "A1B2C3")])
    other = customer("Bob", "Other")
    await world.add_customers(ada, other)
    await world.add_orders(
        order(ada.id, channel_id="web", external_id="W-1", created_at=T0, lines=[("SKU-1", 2, 1000)]),
        order(ada.id, channel_id="amazon", external_id="AMZ-1", created_at=T0 + timedelta(days=1)),
        order(ada.id, channel_id="pos", external_id="POS-1", created_at=T0 + timedelta(days=2)),
        order(ada.id, channel_id="web", external_id="W-2", created_at=T0 + timedelta(days=3), status=OrderStatus.CANCELLED),
        order(other.id, channel_id="web", external_id="W-9"),
    )

    data = await gql.data(CUSTOMER_360, {"id": gid("Customer", ada.id), "first": 10})

    found = data["customer"]
    assert found["displayName"] == "Ada Lovelace"
    assert found["identities"] == [{"externalId": "A1B2C3", "channel": {"code": "amazon", "kind": "MARKETPLACE"}}]
    assert [e["node"]["externalId"] for e in found["orders"]["edges"]] == ["W-2", "POS-1", "AMZ-1", "W-1"]
    # Lifetime figures leave the cancelled order out: 2×10.00 + 10.00 + 10.00 lines, 5.00 shipping each.
    assert found["lifetime"]["orderCount"] == 3
    assert found["lifetime"]["spend"]["cents"] == (2000 + 500) + (1000 + 500) * 2
    assert {c["channelCode"]: c["orderCount"] for c in found["lifetime"]["byChannel"]} == {"amazon": 1, "pos": 1, "web": 1}


async def test_customer_orders_paginate_with_cursors_and_filter(world: World, gql: GraphQLClient) -> None:
    ada = customer()
    await world.add_customers(ada)
    await world.add_orders(
        *[order(ada.id, external_id=f"W-{i}", created_at=T0 + timedelta(hours=i)) for i in range(5)],
        order(ada.id, channel_id="amazon", external_id="AMZ-1", created_at=T0 + timedelta(days=9)),
    )
    first = await gql.data(CUSTOMER_360, {"id": gid("Customer", ada.id), "first": 2, "filter": {"channels": ["web"]}})
    page1 = first["customer"]["orders"]
    assert [e["node"]["externalId"] for e in page1["edges"]] == ["W-4", "W-3"]
    assert page1["pageInfo"]["hasNextPage"] is True

    second = await gql.data(
        CUSTOMER_360,
        {"id": gid("Customer", ada.id), "first": 10, "after": page1["pageInfo"]["endCursor"], "filter": {"channels": ["web"]}},
    )
    page2 = second["customer"]["orders"]
    assert [e["node"]["externalId"] for e in page2["edges"]] == ["W-2", "W-1", "W-0"]
    assert page2["pageInfo"]["hasNextPage"] is False


async def test_customers_search_by_name_email_and_phone_prefix(world: World, gql: GraphQLClient) -> None:
    await world.add_customers(
        customer("Grace", "Hopper", email="grace@navy.example", phone="+1 (617) 555-0101"),
        customer("Alan", "Turing"),
        customer("Grace", "Kelly"),
    )
    query = "query($s: String) { customers(search: $s, first: 10) { edges { node { displayName } } } }"

    async def names(text: str) -> list[str]:
        data = await gql.data(query, {"s": text})
        return sorted(e["node"]["displayName"] for e in data["customers"]["edges"])

    assert await names("grace") == ["Grace Hopper", "Grace Kelly"]
    assert await names("HOPP") == ["Grace Hopper"]
    assert await names("grace@navy") == ["Grace Hopper"]
    assert await names("617555") == ["Grace Hopper"]
    assert await names(".*") == []  # a literal, never a pattern


async def test_unknown_or_malformed_customer_id(world: World, gql: GraphQLClient) -> None:
    missing = await gql.data("query($id: ID!) { customer(id: $id) { id } }", {"id": gid("Customer", "nope")})
    assert missing == {"customer": None}
    wrong_type = await gql("query($id: ID!) { customer(id: $id) { id } }", {"id": gid("Order", "x")})
    assert wrong_type["errors"][0]["extensions"]["code"] == "INVALID_INPUT"
    assert wrong_type["errors"][0]["extensions"]["field"] == ["id"]
