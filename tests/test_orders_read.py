"""Reading orders: by id, by channel's external id, filtered keyset pages, and node()."""

from __future__ import annotations

from datetime import timedelta

from app.domain.orders import OrderStatus
from tests.conftest import GraphQLClient
from tests.factories import T0, World, customer, order
from tests.test_customers import gid

ORDERS = """
query($filter: OrderFilterInput, $first: Int, $after: String) {
  orders(filter: $filter, first: $first, after: $after) {
    edges { cursor node { externalId status channelCode createdAt } }
    pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
  }
}
"""


async def test_orders_filter_by_status_channel_and_created_range(world: World, gql: GraphQLClient) -> None:
    ada = customer()
    await world.add_customers(ada)
    await world.add_orders(
        order(ada.id, channel_id="web", external_id="A", status=OrderStatus.DELIVERED, created_at=T0),
        order(ada.id, channel_id="amazon", external_id="B", status=OrderStatus.DELIVERED, created_at=T0 + timedelta(days=1)),
        order(ada.id, channel_id="web", external_id="C", status=OrderStatus.CANCELLED, created_at=T0 + timedelta(days=2)),
        order(ada.id, channel_id="web", external_id="D", status=OrderStatus.DELIVERED, created_at=T0 + timedelta(days=3)),
    )

    async def ids(selection: dict[str, object]) -> list[str]:
        data = await gql.data(ORDERS, {"filter": selection, "first": 100})
        return [e["node"]["externalId"] for e in data["orders"]["edges"]]

    assert await ids({}) == ["D", "C", "B", "A"]
    assert await ids({"statuses": ["DELIVERED"], "channels": ["web"]}) == ["D", "A"]
    assert await ids({"createdFrom": (T0 + timedelta(days=1)).isoformat(), "createdTo": (T0 + timedelta(days=3)).isoformat()}) == ["C", "B"]
    assert await ids({"customerId": gid("Customer", ada.id), "channels": ["amazon"]}) == ["B"]


async def test_keyset_pages_cover_every_order_once_even_with_equal_timestamps(world: World, gql: GraphQLClient) -> None:
    ada = customer()
    await world.add_customers(ada)
    # Twelve orders, three per timestamp: ties are broken by id, so no order is skipped or repeated.
    await world.add_orders(*[order(ada.id, external_id=f"O-{i:02d}", created_at=T0 + timedelta(minutes=i // 3)) for i in range(12)])
    seen: list[str] = []
    after = None
    while True:
        data = await gql.data(ORDERS, {"first": 5, "after": after})
        page = data["orders"]
        seen += [e["node"]["externalId"] for e in page["edges"]]
        if not page["pageInfo"]["hasNextPage"]:
            break
        after = page["pageInfo"]["endCursor"]
    assert sorted(seen) == [f"O-{i:02d}" for i in range(12)]
    assert len(seen) == len(set(seen))


async def test_page_size_is_capped_and_bad_cursors_are_typed_errors(world: World, gql: GraphQLClient) -> None:
    too_many = await gql(ORDERS, {"first": 101})
    assert too_many["errors"][0]["extensions"] == {
        "code": "INVALID_INPUT",
        "field": ["first"],
        "issues": [{"code": "INVALID_INPUT", "message": "first must be between 0 and 100", "field": ["first"]}],
    }
    bad_cursor = await gql(ORDERS, {"after": "not-a-cursor"})
    assert bad_cursor["errors"][0]["extensions"]["code"] == "INVALID_INPUT"
    injected = await gql(ORDERS, {"after": '{"$gt": ""}'})
    assert injected["errors"][0]["extensions"]["code"] == "INVALID_INPUT"


async def test_order_by_id_by_external_id_and_node(world: World, gql: GraphQLClient) -> None:
    ada = customer()
    await world.add_customers(ada)
    placed = order(ada.id, channel_id="amazon", external_id="112-7", lines=[("SKU-1", 2, 1250), ("SKU-2", 1, 500)])
    await world.add_orders(placed)
    fields = "id externalId status customer { email } lines { sku quantity unitPrice { amount } total { cents } } totals { subtotal { cents } total { cents } }"

    by_id = await gql.data(f"query($id: ID!) {{ order(id: $id) {{ {fields} }} }}", {"id": gid("Order", placed.id)})
    by_external = await gql.data(f'{{ orderByExternalId(channel: "amazon", externalId: "112-7") {{ {fields} }} }}')
    by_node = await gql.data(f"query($id: ID!) {{ node(id: $id) {{ ... on Order {{ {fields} }} }} }}", {"id": gid("Order", placed.id)})

    assert by_id["order"] == by_external["orderByExternalId"] == by_node["node"]
    assert by_id["order"]["lines"] == [
        {"sku": "SKU-1", "quantity": 2, "unitPrice": {"amount": "12.50"}, "total": {"cents": 2500}},
        {"sku": "SKU-2", "quantity": 1, "unitPrice": {"amount": "5.00"}, "total": {"cents": 500}},
    ]
    assert by_id["order"]["totals"] == {"subtotal": {"cents": 3000}, "total": {"cents": 3500}}
    assert by_id["order"]["customer"] == {"email": ada.email}
    missing = await gql.data('{ orderByExternalId(channel: "web", externalId: "112-7") { id } }')
    assert missing == {"orderByExternalId": None}
