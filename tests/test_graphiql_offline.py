"""GraphiQL works without internet: every asset comes from the app (installed from npm, pinned), and
a browser whose every request to anything but 127.0.0.1 is aborted renders it, runs a query and a
subscription (graphql-transport-ws, with the key the dashboard signed in with)."""

from __future__ import annotations

import json
from urllib.parse import quote

import httpx

from app.settings import Settings
from tests.browser import chromium, offline_page, requires_browser
from tests.factories import World
from tests.order_helpers import CAPTURE, capture_input, network
from tests.realtime import realtime_settings, serve

QUERY = "{ channels { code } }"
SUBSCRIPTION = "subscription { orderUpdated { cursor status } }"


async def result_text(page: object, needle: str) -> str:
    await page.wait_for_function(  # type: ignore[attr-defined]
        "needle => (document.querySelector('.result-window') || {}).innerText?.includes(needle)", arg=needle
    )
    return await page.inner_text(".result-window")  # type: ignore[attr-defined,no-any-return]


@requires_browser
async def test_graphiql_renders_and_runs_a_query_and_a_subscription_offline(
    world: World, settings: Settings, admin_token: str
) -> None:
    await network(world)
    async with serve(realtime_settings(settings)) as server, chromium() as browser:
        base = f"http://127.0.0.1:{server.port}"
        context, page, problems = await offline_page(browser)
        await context.add_init_script(f"sessionStorage.setItem('oms.apiKey', {json.dumps(admin_token)})")

        await page.goto(f"{base}/graphql?q={quote(QUERY)}")
        await page.wait_for_selector(".graphiql-container")
        await page.click(".graphiql-execute-button")
        assert '"web"' in await result_text(page, '"code"')

        await page.goto(f"{base}/graphql?q={quote(SUBSCRIPTION)}")
        await page.wait_for_selector(".graphiql-container")
        await page.click(".graphiql-execute-button")
        await server.subscribed(1)
        async with httpx.AsyncClient(base_url=base, headers={"X-API-Key": admin_token}) as http:
            await http.post("/graphql", json={"query": CAPTURE, "variables": {"input": capture_input("W-GRAPHIQL")}})
        assert "ALLOCATED" in await result_text(page, "ALLOCATED")
        # Nothing was fetched from anywhere but the app, and no script or style was refused.
        assert problems == []
        await context.close()
