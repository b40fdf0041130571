"""API limits: depth, aliases, tokens, static cost (reported and capped), per-client budgets (429),
page caps, input sizes, and production hardening (no suggestions, introspection or GraphiQL)."""

from __future__ import annotations

import asyncio
import json
from dataclasses import replace

import websockets
from graphql import parse

from app.domain.principals import Role
from app.domain.rate_limits import LeakyBuckets
from app.services.container import Services
from app.settings import ApiLimits, Settings
from graphql_schema.cost import operation_cost
from graphql_schema.schema import schema
from tests.conftest import GraphQLClient
from tests.factories import World, customer
from tests.realtime import GraphQLWs, serve
from tests.security_helpers import client_for, codes, post

ORDERS_PAGE = """
query($first: Int) { orders(first: $first) { edges { node {
  id externalId status totals { total { cents } } lines { sku unitPrice { cents } } customer { email }
} } } }
"""


def cost(query: str, variables: dict[str, object] | None = None) -> int:
    return operation_cost(schema._schema, parse(query), None, variables)


def test_cost_counts_objects_times_page_sizes_and_list_sizes() -> None:
    assert cost("{ channels { code name } }") == 1 + 10 * 0  # scalars are free; one list field
    # orders=1, per order: edges 1 + node 1 + totals 1 + total 1 + lines 1 + 10 × unitPrice 1 + customer 1.
    per_order = 1 + 1 + 2 + (1 + 10) + 1
    assert cost(ORDERS_PAGE, {"first": 100}) == 1 + 100 * per_order
    assert cost(ORDERS_PAGE, {"first": 5}) == 1 + 5 * per_order
    assert cost(ORDERS_PAGE) == 1 + 20 * per_order  # the default page
    assert cost(ORDERS_PAGE, {"first": 10_000}) == cost(ORDERS_PAGE, {"first": 100})  # capped like the resolver
    # Fragments count like the fields they stand for; mutations cost extra.
    spread = "query { orders(first: 3) { edges { node { ...F } } } } fragment F on Order { customer { id } }"
    assert cost(spread) == 1 + 3 * (1 + 1 + 1)
    assert cost('mutation { cancelOrder(input: {orderId: "x", reason: "r"}) { __typename } }') == 1 + 10


def test_leaky_bucket_refuses_what_does_not_fit_and_says_when_it_will() -> None:
    buckets = LeakyBuckets(capacity=100, rate_per_second=10)
    assert buckets.take("a", 60, now=0).allowed
    refused = buckets.take("a", 60, now=1)  # 60 - 10 drained = 50; 50 + 60 > 100
    assert not refused.allowed and refused.retry_after_seconds == 1
    assert buckets.take("b", 60, now=1).allowed  # budgets are per client
    assert buckets.take("a", 60, now=2).allowed  # 40 + 60 fits exactly
    huge = buckets.take("c", 10_000, now=2)  # larger than the bucket: admitted only when it is empty
    assert huge.allowed and not buckets.take("c", 1, now=2).allowed
    assert LeakyBuckets(capacity=100, rate_per_second=0).take("a", 10**9, now=0).allowed  # off


async def test_depth_aliases_and_tokens_are_limited(world: World, gql: GraphQLClient) -> None:
    level = "orders(first: 1) { edges { node { customer { %s } } } }"
    deep = "{ " + level % (level % (level % (level % "id"))) + " }"
    body = await gql(deep)
    assert body["data"] is None and "exceeds maximum operation depth" in body["errors"][0]["message"]
    aliases = "{ " + " ".join(f"a{i}: channels {{ code }}" for i in range(31)) + " }"
    assert "aliases" in (await gql(aliases))["errors"][0]["message"]
    tokens = "{ " + " ".join("__typename" for _ in range(4_001)) + " }"
    body = await gql(tokens)
    assert body["data"] is None and "token" in body["errors"][0]["message"].lower()
    assert sorted(await gql.data("{ a: channels { code } b: channels { code } }")) == ["a", "b"]


async def test_cost_is_reported_and_an_operation_above_the_maximum_runs_nothing(
    settings: Settings, admin_token: str, world: World
) -> None:
    async with client_for(settings, limits=ApiLimits(max_cost=500)) as client:
        small = (await post(client, ORDERS_PAGE, {"first": 5}, token=admin_token)).json()
        assert small["extensions"]["cost"]["requested"] == cost(ORDERS_PAGE, {"first": 5})
        assert small["extensions"]["cost"]["maximum"] == 500 and small["extensions"]["requestId"]
        big = (await post(client, ORDERS_PAGE, {"first": 100}, token=admin_token)).json()
    assert big["data"] is None and codes(big) == ["QUERY_TOO_COMPLEX"]
    assert big["errors"][0]["extensions"]["cost"] == cost(ORDERS_PAGE, {"first": 100})


async def test_the_cost_of_a_repeated_operation_follows_its_page_size_variables(world: World, gql: GraphQLClient) -> None:
    """Costs are cached per operation text: the cache must still tell page sizes apart."""
    query = """query($n: Int, $m: Int) {
      orders(first: $n) { ...page }
      customers(first: $m) { edges { node { id } } }
    }
    fragment page on OrderConnection { edges { node { id customer { id } } } }"""
    seen = set()
    for n, m in [(1, 1), (50, 1), (1, 1), (1, 30), (100, 100), (50, 1)]:
        body = (await gql.post(query, {"n": n, "m": m})).json()
        assert body["extensions"]["cost"]["requested"] == cost(query, {"n": n, "m": m})
        seen.add(body["extensions"]["cost"]["requested"])
    assert len(seen) == 4


async def test_a_spent_budget_answers_429_with_retry_after_per_client(
    settings: Settings, services: Services, world: World
) -> None:
    _, one = await services.auth.create_api_key(name="one", role=Role.ADMIN)
    _, two = await services.auth.create_api_key(name="two", role=Role.ADMIN)
    page = "{ orders(first: 50) { edges { node { id } } } }"  # costs 1 + 50 × 2 = 101, uses 1: no orders
    query = "{ channels { code } }"  # costs 1 and uses it
    async with client_for(settings, limits=ApiLimits(rate_capacity=102, rate_per_second=0.01)) as client:
        first = await post(client, page, token=one)
        report = first.json()["extensions"]["cost"]
        # Charged 101 up front, 100 given back once the empty page showed what it used.
        assert first.status_code == 200 and report["requested"] == 101 and report["actual"] == 1
        assert report["budgetRemaining"] == report["throttleStatus"]["currentlyAvailable"] == 101
        assert report["throttleStatus"] == {"maximumAvailable": 102, "currentlyAvailable": 101, "restoreRate": 0.01}
        assert (await post(client, query, token=one)).status_code == 200
        refused_page = await post(client, page, token=one)  # 2 used: 101 more does not fit
        assert refused_page.status_code == 429 and codes(refused_page.json()) == ["RATE_LIMITED"]
        assert (await post(client, query, token=one)).status_code == 200
        spent = [await post(client, query, token=one) for _ in range(100)][-1]
        assert spent.status_code == 429 and int(spent.headers["retry-after"]) >= 1
        assert codes(spent.json()) == ["RATE_LIMITED"] and spent.json()["data"] is None
        assert (await post(client, query, token=two)).status_code == 200  # another client's budget
    async with client_for(settings, limits=ApiLimits(rate_capacity=2, rate_per_second=0.01)) as client:
        # Anonymous callers (and bad credentials) are refused before any resolver runs, and spend
        # their address's budget doing so: guessing keys runs into 429s too.
        anonymous = [await post(client, query, token=f"oms_guess{n}_x") for n in range(3)]
        assert [codes(r.json()) for r in anonymous[:2]] == [["INVALID_CREDENTIAL"], ["INVALID_CREDENTIAL"]]
        assert anonymous[2].status_code == 429


async def test_page_sizes_are_capped_on_every_connection(world: World, gql: GraphQLClient) -> None:
    await world.add_customers(customer())
    for query in (
        "{ orders(first: 101) { edges { cursor } } }",
        "{ customers(first: 101) { edges { cursor } } }",
        '{ storeAvailability(skus: ["S"], near: {lat: 0, lng: 0}, first: 101) { locationCode } }',
        "{ events(first: 101) { edges { cursor } } }",
        '{ customers(first: 1) { edges { node { orders(first: 101) { edges { cursor } } } } } }',
    ):
        body = await gql(query)
        assert codes(body) == ["INVALID_INPUT"], (query, body)


async def test_oversized_inputs_are_refused_before_anything_runs(world: World, gql: GraphQLClient) -> None:
    long = "x" * 10_001
    body = await gql("query($s: String) { customers(search: $s, first: 1) { edges { cursor } } }", {"s": long})
    assert codes(body) == ["INVALID_INPUT"] and body["errors"][0]["extensions"]["field"] == ["s"]
    literal = await gql('{ customers(search: "%s", first: 1) { edges { cursor } } }' % long)
    assert codes(literal) == ["INVALID_INPUT"]
    many = await gql(
        "query($f: OrderFilterInput) { orders(filter: $f) { edges { cursor } } }", {"f": {"channels": ["web"] * 501}}
    )
    assert codes(many) == ["INVALID_INPUT"] and many["errors"][0]["extensions"]["field"] == ["f", "channels"]
    operator = await gql(
        "query($f: OrderFilterInput) { orders(filter: $f) { edges { cursor } } }", {"f": {"$where": "sleep(1000)"}}
    )
    assert codes(operator) == ["INVALID_INPUT"]


async def test_production_hides_suggestions_introspection_and_graphiql(
    settings: Settings, admin_token: str, world: World
) -> None:
    typo = "{ ordres(first: 1) { edges { cursor } } }"
    introspection = "{ __schema { queryType { name } } }"
    async with client_for(settings) as client:
        assert "Did you mean" in (await post(client, typo, token=admin_token)).json()["errors"][0]["message"]
        assert (await post(client, introspection, token=admin_token)).json()["data"]["__schema"]
        page = await client.get("/graphql", headers={"Accept": "text/html"})
        assert page.status_code == 200 and "graphiql" in page.text.lower()
    async with client_for(settings, env="production") as client:
        message = (await post(client, typo, token=admin_token)).json()["errors"][0]["message"]
        assert "Did you mean" not in message and "ordres" in message
        bad_enum = '{ orders(filter: {statuses: [SHIPED]}) { edges { cursor } } }'
        assert "Did you mean" not in json.dumps((await post(client, bad_enum, token=admin_token)).json())
        refused = (await post(client, introspection, token=admin_token)).json()
        assert refused["data"] is None and "introspection" in refused["errors"][0]["message"].lower()
        assert (await post(client, "{ __typename }", token=admin_token)).json()["data"] == {"__typename": "Query"}
        page = await client.get("/graphql", headers={"Accept": "text/html"})
        assert page.status_code == 405 and "graphiql" not in page.text.lower()


async def test_queries_only_over_get_and_get_off_in_production(settings: Settings, admin_token: str, world: World) -> None:
    headers = {"Authorization": f"Bearer {admin_token}"}
    async with client_for(settings) as client:
        query = await client.get("/graphql", params={"query": "{ channels { code } }"}, headers=headers)
        assert query.status_code == 200 and {c["code"] for c in query.json()["data"]["channels"]} == {"web", "pos", "amazon"}
        mutation = 'mutation { cancelOrder(input: {orderId: "T3JkZXI6eA==", reason: "r"}) { __typename } }'
        refused = await client.get("/graphql", params={"query": mutation}, headers=headers)
        assert refused.status_code == 405 and '"data"' not in refused.text and codes(refused.json()) == ["METHOD_NOT_ALLOWED"]
    async with client_for(settings, env="production") as client:
        off = await client.get("/graphql", params={"query": "{ channels { code } }"}, headers=headers)
        assert off.status_code == 405


async def test_subscriptions_per_connection_are_capped_and_legacy_protocol_is_off(
    settings: Settings, admin_token: str
) -> None:
    limits = ApiLimits(max_subscriptions_per_connection=2)
    async with serve(replace(settings, relay_enabled=False, limits=limits)) as server:
        async with GraphQLWs.connect(server.ws_url, admin_token) as client:
            for _ in range(2):
                await client.subscribe("subscription { orderUpdated { cursor } }")
            third = await client.subscribe("subscription { orderUpdated { cursor } }")
            refused = await client.receive()
            assert refused["id"] == third and refused["type"] == "error"
            assert "limit" in refused["payload"][0]["message"].lower()
        with _legacy_refused():
            async with websockets.connect(server.ws_url, subprotocols=["graphql-ws"]) as ws:  # type: ignore[list-item]
                await ws.send(json.dumps({"type": "connection_init", "payload": {"authorization": f"Bearer {admin_token}"}}))
                await asyncio.wait_for(ws.recv(), 5)
    async with serve(replace(settings, relay_enabled=False, legacy_graphql_ws=True)) as server:
        async with websockets.connect(server.ws_url, subprotocols=["graphql-ws"]) as ws:  # type: ignore[list-item]
            assert ws.subprotocol == "graphql-ws"
            await ws.send(json.dumps({"type": "connection_init", "payload": {"authorization": f"Bearer {admin_token}"}}))
            assert json.loads(await asyncio.wait_for(ws.recv(), 5))["type"] == "connection_ack"


class _legacy_refused:
    """The legacy subprotocol is refused: the handshake fails or the server closes with 4406."""

    def __enter__(self) -> None:
        return None

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: object) -> bool:
        if isinstance(exc, websockets.ConnectionClosed):
            assert exc.rcvd is not None and exc.rcvd.code == 4406
            return True
        if isinstance(exc, (websockets.InvalidStatus, websockets.NegotiationError, websockets.InvalidHandshake)):
            return True
        raise AssertionError(f"legacy graphql-ws was accepted ({kind})")
