"""Real MongoDB for every test: one single-node replica set per session, one database per test."""

from __future__ import annotations

import itertools
import os
import tempfile
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from asgi_lifespan import LifespanManager

from app.asgi import create_app
from app.embedded_mongod import EmbeddedMongod
from app.repositories.database import Mongo, connect
from app.repositories.indexes import ensure_indexes
from app.services.container import Services, build_services
from app.settings import Settings

_db_numbers = itertools.count(1)


@pytest.fixture(scope="session")
def mongodb_uri() -> Iterator[str]:
    """MONGODB_URI when the environment provides one (e.g. a CI service), else a throwaway mongod."""
    configured = os.environ.get("OMS_TEST_MONGODB_URI")
    if configured:
        yield configured
        return
    with tempfile.TemporaryDirectory(prefix="oms-test-mongo-") as data_dir:
        mongod = EmbeddedMongod(Path(data_dir), binary=os.environ.get("OMS_MONGOD"), cache_size_gb=0.5)
        yield mongod.start()
        mongod.stop()


@pytest.fixture
def database_name(request: pytest.FixtureRequest) -> str:
    # Unique per test and per worker process; short enough for MongoDB's 64-byte namespace limit.
    return f"t{os.getpid()}_{next(_db_numbers)}"


@pytest.fixture
async def mongo(mongodb_uri: str, database_name: str) -> AsyncIterator[Mongo]:
    handle = Mongo(connect(mongodb_uri), database_name)
    await ensure_indexes(handle.db)
    try:
        yield handle
    finally:
        await handle.client.drop_database(database_name)
        await handle.close()


@pytest.fixture
def services(mongo: Mongo) -> Services:
    return build_services(mongo, allow_anonymous_admin=False, scheduler_interval_seconds=0)


@pytest.fixture
def settings(mongodb_uri: str, database_name: str) -> Settings:
    # The scheduler is off in tests: they call `services.scheduler.tick()` when they mean it.
    return Settings(
        env="test",
        mongodb_uri=mongodb_uri,
        database=database_name,
        allow_anonymous_admin=False,
        scheduler_interval_seconds=0,
        # The product's 5 s bound sheds requests a loaded test machine is merely slow to serve (fifty
        # captures queued on one SKU); tests/faults/test_database_stall.py tests the bound itself.
        db_timeout_seconds=60,
    )


def lifespan_of(app: Any) -> LifespanManager:
    """The app with its lifespan. Start-up (indexes, the relay's lease) and shutdown (cancelling the
    relay, hub and dashboard, whose clean-up makes round trips to MongoDB) each once took longer
    than asgi-lifespan's default 5 s on a loaded 2-core machine, so allow more (a real hang still fails)."""
    return LifespanManager(app, startup_timeout=30, shutdown_timeout=30)


@pytest.fixture
async def http(settings: Settings, mongo: Mongo) -> AsyncIterator[httpx.AsyncClient]:
    """An HTTP client on the real ASGI app (lifespan included), sharing the test's database."""
    app = create_app(settings)
    async with lifespan_of(app) as manager:
        transport = httpx.ASGITransport(app=manager.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://oms.test") as client:
            yield client


class GraphQLClient:
    def __init__(self, http: httpx.AsyncClient, token: str | None = None):
        self.http = http
        self.token = token

    def as_(self, token: str | None) -> GraphQLClient:
        return GraphQLClient(self.http, token)

    async def post(self, query: str, variables: dict[str, Any] | None = None) -> httpx.Response:
        headers = {"Authorization": f"Bearer {self.token}"} if self.token else {}
        return await self.http.post("/graphql", json={"query": query, "variables": variables or {}}, headers=headers)

    async def __call__(self, query: str, variables: dict[str, Any] | None = None) -> dict[str, Any]:
        """The response body; asserts the HTTP layer answered (GraphQL errors are in the body)."""
        response = await self.post(query, variables)
        assert response.status_code == 200, response.text
        return response.json()

    async def data(self, query: str, variables: dict[str, Any] | None = None) -> dict[str, Any]:
        """The `data` of a response that must have no errors."""
        body = await self(query, variables)
        assert not body.get("errors"), body["errors"]
        return body["data"]


@pytest.fixture
async def admin_token(services: Services) -> str:
    from app.domain.principals import Role

    _, token = await services.auth.create_api_key(name="test-admin", role=Role.ADMIN)
    return token


@pytest.fixture
def gql(http: httpx.AsyncClient, admin_token: str) -> GraphQLClient:
    """GraphQL over HTTP as an admin; `gql.as_(token)` for another caller."""
    return GraphQLClient(http, admin_token)


@pytest.fixture
async def world(mongo: Mongo) -> Any:
    """A small world with the usual channels; tests add locations, stock, customers and orders."""
    from app.domain.channels import BackorderPolicy, ChannelKind
    from tests.factories import World, channel

    w = World(mongo)
    await w.add_channels(
        channel("web"),
        channel("pos", ChannelKind.STORE_POS),
        channel("amazon", ChannelKind.MARKETPLACE, backorder_policy=BackorderPolicy.REFUSE),
    )
    return w


@pytest.fixture
async def reservations_consistent(mongo: Mongo) -> AsyncIterator[None]:
    """After the test: inventory.reserved equals the sum of OPEN allocations at every (sku, location).

    Use it in every module that writes orders or reservations:
    `pytestmark = pytest.mark.usefixtures("reservations_consistent")`.
    """
    yield
    from app.repositories.inventory import InventoryRepository

    mismatches = await InventoryRepository(mongo.db).reservation_mismatches()
    assert mismatches == [], f"reserved != sum of open allocations: {mismatches}"


@pytest.fixture
async def incoming_consistent(mongo: Mongo) -> AsyncIterator[None]:
    """After the test: inventory.incoming equals the open units on open purchase orders at every
    (sku, location). Use it in every module that writes purchase orders (like `reservations_consistent`)."""
    yield
    from app.repositories.purchase_orders import PurchaseOrderRepository

    mismatches = await PurchaseOrderRepository(mongo.db).incoming_mismatches()
    assert mismatches == [], f"incoming != open units on submitted purchase orders: {mismatches}"


def pytest_terminal_summary(terminalreporter: Any, exitstatus: int, config: pytest.Config) -> None:
    """Say loudly when the browser tests (tests/browser.py) were skipped, and why."""
    from tests.browser import summary_banner

    summary_banner(terminalreporter)
