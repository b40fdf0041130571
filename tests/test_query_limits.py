"""Depth and alias limits still refuse abusive documents, and validation results are cached."""

from __future__ import annotations

from tests.conftest import GraphQLClient
from tests.factories import World


async def test_depth_and_alias_limits_refuse_abusive_documents(world: World, gql: GraphQLClient) -> None:
    level = "orders(first: 1) { edges { node { customer { %s } } } }"
    deep = "{ " + level % (level % (level % (level % "id"))) + " }"  # 16 levels
    body = await gql(deep)
    assert body["data"] is None and "exceeds maximum operation depth" in body["errors"][0]["message"]
    aliases = "{ " + " ".join(f"a{i}: channels {{ code }}" for i in range(31)) + " }"
    body = await gql(aliases)
    assert body["data"] is None and "aliases" in body["errors"][0]["message"]
    ok = "{ " + " ".join(f"a{i}: channels {{ code }}" for i in range(3)) + " }"
    assert sorted(await gql.data(ok)) == ["a0", "a1", "a2"]


async def test_a_repeated_document_is_validated_once(world: World, gql: GraphQLClient) -> None:
    from graphql_schema.fast_path import prepare
    from graphql_schema.operation_cache import _validate as cached

    query = "{ channels { code kind } }"
    await gql.data(query)
    before, prepared_before = cached.cache_info(), prepare.cache_info()
    for _ in range(3):
        await gql.data(query)
    after, prepared_after = cached.cache_info(), prepare.cache_info()
    assert after.misses == before.misses
    # The repeats take the fast path for prepared operations (graphql_schema/fast_path.py), which
    # keeps the validated document itself: no validation, cached or not, runs for them.
    assert prepared_after.hits == prepared_before.hits + 3 and prepared_after.misses == prepared_before.misses
