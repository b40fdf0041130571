"""User input never becomes a MongoDB operator. For every query and mutation (generated from the
schema, so new operations are covered automatically) and every String, ID and JSON argument:

- an operator object (`{"$gt": ""}`) where text is expected is refused by type coercion, and a
  `$`-key in free-form JSON by the input guard: an error, no data, nothing written;
- operator-looking text (`$gt`, `{"$gt": ""}`, `$where`, `$$ROOT`, `.*`) is taken literally: it
  matches nothing of the seeded world, raises no internal error, and writes nothing.
"""

from __future__ import annotations

import itertools
import json
from typing import Any

import pytest

from app.repositories.database import Mongo
from graphql_schema.schema import schema
from tests.authz_table import Seed
from tests.authz_world import Callers, callers, seed  # noqa: F401 - fixtures
from tests.conftest import GraphQLClient
from tests.schema_payloads import Operation, operations, values
from tests.test_authorization import fingerprint

pytestmark = pytest.mark.usefixtures("reservations_consistent")

OPERATIONS = list(operations(schema._schema))
OPERATOR_TEXT = ['{"$gt": ""}', "$gt", "$where", "$$ROOT", ".*"]
LEAKS = ("Traceback", "pymongo", "bson", "OperationFailure", 'File "', "INTERNAL")


def _seeded_markers(seed: Seed) -> set[str]:
    """Values that a widened (operator-matched) read would reveal."""
    return {seed.a1.id, seed.b1.id, seed.ada, seed.bob, "ada.lovelace@example.com", "bob@example.com"}


def test_every_query_and_mutation_is_generated() -> None:
    fields = {(op.root, op.field) for op in OPERATIONS}
    assert ("Query", "orderByExternalId") in fields and ("Mutation", "captureOrder") in fields
    assert len(fields) == len(schema._schema.query_type.fields) + len(schema._schema.mutation_type.fields)


@pytest.mark.parametrize("operation", OPERATIONS, ids=[f"{op.root}.{op.field}" for op in OPERATIONS])
async def test_operator_payloads_change_nothing_and_match_nothing(
    operation: Operation, seed: Seed, gql: GraphQLClient, callers: Callers, mongo: Mongo
) -> None:
    field = getattr(schema._schema, {"Query": "query_type", "Mutation": "mutation_type"}[operation.root]).fields[operation.field]
    before = await fingerprint(mongo)
    markers = _seeded_markers(seed)

    # 1. Operator objects where text is expected: refused before any resolver runs.
    if operation.text_arguments:
        as_objects = values(field.args, lambda: {"$gt": ""})
        body = await gql(operation.document, as_objects)
        assert body.get("errors") and not (body.get("data") or {}).get(operation.field), body
        assert not any(leak in json.dumps(body) for leak in LEAKS), body

    # 2. A `$` key in JSON-ish input: refused by the input guard.
    as_json = values(field.args, lambda: "x", json_value={"$where": "sleep(100)"})
    if json.dumps(as_json).count("$where"):
        body = await gql(operation.document, as_json)
        assert [e["extensions"]["code"] for e in body["errors"]] == ["INVALID_INPUT"], body

    # 3. Operator-looking text: literal, so it matches none of the seeded objects.
    for text in OPERATOR_TEXT:
        cycle = itertools.cycle([text])
        body = await gql(operation.document, values(field.args, lambda: next(cycle)))
        dumped = json.dumps(body)
        assert not any(leak in dumped for leak in LEAKS), (text, body)
        if operation.text_arguments and operation.root == "Query":
            assert not any(marker in dumped for marker in markers), (text, body)

    assert await fingerprint(mongo) == before, "an injection payload wrote something"


def _errors_of(body: dict[str, Any]) -> list[str]:
    return [e.get("extensions", {}).get("code") for e in body.get("errors") or []]
