"""Every subscription row of tests/authz_table.py, for every caller, over a real WebSocket."""

from __future__ import annotations

from dataclasses import replace

import pytest

from app.settings import Settings
from tests.authz_table import ALLOW, CALLERS, SUBSCRIPTION_ROWS, Seed, SubscriptionRow
from tests.authz_cases import CASE_SUBSCRIPTION_ROWS
from tests.authz_replenishment import REPLENISHMENT_SUBSCRIPTION_ROWS
from tests.authz_returns import RETURN_SUBSCRIPTION_ROWS
from tests.authz_world import Callers, callers, seed  # noqa: F401 - fixtures
from tests.realtime import GraphQLWs, serve

DENIAL_CODES = {"FORBIDDEN", "UNAUTHENTICATED", "NOT_FOUND"}


ROWS = [*SUBSCRIPTION_ROWS, *RETURN_SUBSCRIPTION_ROWS, *CASE_SUBSCRIPTION_ROWS, *REPLENISHMENT_SUBSCRIPTION_ROWS]


@pytest.mark.parametrize("row", ROWS, ids=[row.name for row in ROWS])
async def test_subscription_authorization_table(row: SubscriptionRow, seed: Seed, callers: Callers, settings: Settings) -> None:
    async with serve(replace(settings, relay_enabled=False, dashboard_interval_seconds=30)) as server:
        for caller in CALLERS:
            expected = row.expect.get(caller, "DENY") if caller != "ANONYMOUS" else "DENY"
            async with GraphQLWs.connect(server.ws_url, callers.tokens[caller]) as client:
                await client.subscribe(row.query, row.variables(seed))
                if expected == ALLOW:
                    message = None
                    try:
                        message = await client.receive(timeout=0.4)
                    except TimeoutError:
                        pass
                    assert message is None or (message["type"] == "next" and not message["payload"].get("errors")), (
                        row.name, caller, message,
                    )
                else:
                    # Refused (by the operation guard, a permission class or the service's scope
                    # check): the protocol's `error` message for that operation, never a `next`.
                    message = await client.receive()
                    assert message["type"] == "error", (row.name, caller, message)
                    assert message["payload"][0]["extensions"]["code"] in DENIAL_CODES, (row.name, caller, message)
