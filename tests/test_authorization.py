"""Every row of tests/authz_table.py, for every caller: allowed paths work, hidden objects look
missing, denied paths get a typed error and write nothing. Plus the structural rule that every
root field declares its role check."""

from __future__ import annotations

import asyncio
import hashlib
import inspect
import json
import time
from typing import Any

import pytest
from strawberry.permission import PermissionExtension

from app.repositories.database import Mongo
from graphql_schema.permissions import IsAuthenticated
from graphql_schema.schema import schema
from tests.authz_cases import CASE_ROWS, CASE_SUBSCRIPTION_ROWS
from tests.authz_fulfilment import FULFILMENT_ROWS
from tests.authz_refunds import REFUND_ROWS
from tests.authz_replenishment import REPLENISHMENT_ROWS, REPLENISHMENT_SUBSCRIPTION_ROWS
from tests.authz_returns import RETURN_ROWS, RETURN_SUBSCRIPTION_ROWS
from tests.authz_table import CALLERS, DENY, HIDE, ROWS as CORE_ROWS, Row, Seed
from tests.authz_webhooks import WEBHOOK_ROWS
from tests.authz_world import Callers, callers, seed  # noqa: F401 - fixtures
from tests.conftest import GraphQLClient

pytestmark = pytest.mark.usefixtures("reservations_consistent")

ROWS = [*CORE_ROWS, *FULFILMENT_ROWS, *RETURN_ROWS, *REFUND_ROWS, *CASE_ROWS, *REPLENISHMENT_ROWS, *WEBHOOK_ROWS]
DENIAL_CODES = {"FORBIDDEN", "UNAUTHENTICATED", "NOT_FOUND"}
# What a refused operation must leave untouched. Events lose their `seq` stamp from the
# comparison: the sequencer stamps committed events in the background.
_FINGERPRINTED = (
    "orders", "shipments", "customers", "inventory", "events", "channels", "locations", "products", "returns", "return_policies",
    "refunds", "exchanges", "cases", "case_sla_policies",
    "suppliers", "supplier_items", "purchase_orders", "replenishment_policies",
    "webhook_endpoints", "webhook_deliveries",
)


async def fingerprint(mongo: Mongo) -> str:
    digest = hashlib.sha256()
    for name in _FINGERPRINTED:
        async for doc in mongo.db[name].find({}, {"seq": 0}).sort("_id", 1):
            digest.update(json.dumps(doc, sort_keys=True, default=str).encode())
    return digest.hexdigest()


def _root(body: dict[str, Any]) -> Any:
    data = body.get("data") or {}
    return next(iter(data.values())) if data else None


def _empty(value: Any) -> bool:
    if value is None or value == []:
        return True
    if isinstance(value, dict) and "edges" in value:
        return value["edges"] == []
    return False


def _denial(body: dict[str, Any]) -> str | None:
    """The typed denial code, top-level or as a mutation's error member; None when not denied."""
    errors = body.get("errors") or []
    if errors:
        return errors[0].get("extensions", {}).get("code")
    value = _root(body)
    if isinstance(value, dict) and value.get("__typename", "").endswith("Error"):
        return value.get("code")
    return None


async def _all_stamped(mongo: Mongo, *, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while await mongo.db.events.count_documents({"seq": None}):
        assert time.monotonic() < deadline, "events were never stamped"
        await asyncio.sleep(0.02)


async def _run(row: Row, caller: str, seed: Seed, gql: GraphQLClient, callers: Callers, mongo: Mongo) -> None:
    expected = row.expect.get(caller, DENY) if caller != "ANONYMOUS" else DENY
    variables = row.variables(seed)
    if inspect.isawaitable(variables):
        variables = await variables
    if row.group == "events":
        await _all_stamped(mongo)  # `events` lists what the relay has stamped, in the background
    before = await fingerprint(mongo)
    response = await gql.as_(callers.tokens[caller]).post(row.query, variables)
    assert response.status_code == 200, (row.name, caller, response.text)
    body = response.json()
    where = f"{row.name} as {caller}: {json.dumps(body)[:600]}"
    if expected == DENY:
        assert _denial(body) in DENIAL_CODES, where
        assert _denial(body) == row.codes.get(caller, _denial(body)), where
        if caller == "ANONYMOUS":
            assert _denial(body) == "UNAUTHENTICATED" and body["data"] is None, where
        assert await fingerprint(mongo) == before, f"a denied operation wrote something: {where}"
        return
    assert not body.get("errors"), where
    value = _root(body)
    if expected == HIDE:
        assert _empty(value), where
        return
    assert value is not None and not _empty(value) or (row.check is not None), where
    if isinstance(value, dict) and "__typename" in value:
        assert not value["__typename"].endswith("Error"), where
    if row.check is not None:
        assert row.check(value, seed, caller), where


@pytest.mark.parametrize("row", ROWS, ids=[row.name for row in ROWS])
async def test_authorization_table(row: Row, seed: Seed, gql: GraphQLClient, callers: Callers, mongo: Mongo) -> None:
    for caller in CALLERS:
        await _run(row, caller, seed, gql, callers, mongo)


def test_every_root_field_declares_a_role_check() -> None:
    """A new query, mutation or subscription without permission classes fails here, not in production."""
    missing = []
    for root in (schema.query, schema.mutation, schema.subscription):
        for field in root.__strawberry_definition__.fields:  # type: ignore[union-attr]
            permissions = [
                p for ext in field.extensions if isinstance(ext, PermissionExtension) for p in ext.permissions
            ]
            if not any(isinstance(p, IsAuthenticated) or type(p).__name__.startswith("HasRole") for p in permissions):
                missing.append(f"{root.__name__}.{field.python_name}")
    assert missing == [], f"root fields without IsAuthenticated / HasRole: {missing}"


def test_docs_cite_every_authorization_row() -> None:
    from pathlib import Path

    from tests.authz_table import SUBSCRIPTION_ROWS

    text = (Path(__file__).resolve().parent.parent / "docs" / "SECURITY.md").read_text()
    every = [*ROWS, *SUBSCRIPTION_ROWS, *RETURN_SUBSCRIPTION_ROWS, *CASE_SUBSCRIPTION_ROWS, *REPLENISHMENT_SUBSCRIPTION_ROWS]
    missing = [row.name for row in every if f"`{row.name}`" not in text]
    assert missing == [], f"docs/SECURITY.md does not list: {missing}"
