"""Apps with particular security settings, and callers of every role, for the security tests."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from dataclasses import replace
from typing import Any

import httpx

from app.asgi import create_app
from app.settings import Settings
from tests.conftest import lifespan_of


@contextlib.asynccontextmanager
async def client_for(settings: Settings, *, serve_uri: str | None = None, **changes: Any) -> AsyncIterator[httpx.AsyncClient]:
    """An HTTP client on the real app built from `settings` with `changes` (lifespan included)."""
    app = create_app(replace(settings, **changes), mongodb_uri=serve_uri)
    async with lifespan_of(app) as manager:
        transport = httpx.ASGITransport(app=manager.app, client=("203.0.113.7", 4711))
        async with httpx.AsyncClient(transport=transport, base_url="http://oms.test") as client:
            yield client


async def post(client: httpx.AsyncClient, query: str, variables: dict[str, Any] | None = None, *, token: str | None = None, **headers: str) -> httpx.Response:
    if token:
        headers["Authorization"] = f"Bearer {token}"
    return await client.post("/graphql", json={"query": query, "variables": variables or {}}, headers=headers)


def codes(body: dict[str, Any]) -> list[str]:
    return [e.get("extensions", {}).get("code") for e in body.get("errors") or []]


async def refused(client: Any, timeout: float = 20.0) -> dict[str, Any]:
    """The first error of the graphql-transport-ws `error` message that ends an operation refused
    before it started (`client` is a tests.realtime.GraphQLWs)."""
    message = await client.receive(timeout)
    assert message["type"] == "error", message
    assert message["payload"] and all(e["extensions"]["code"] for e in message["payload"]), message
    return message["payload"][0]
