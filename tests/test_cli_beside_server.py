"""The CLI in a second terminal while `oms serve` runs on the embedded mongod: the README's
`oms apikey create` steps work against the running server, and `oms seed` refuses a database
that holds data unless told to reset it (and then says what it deletes, and asks)."""

from __future__ import annotations

import asyncio
import json
import os
import pty
import subprocess
import sys
from pathlib import Path

import httpx

from app.repositories.database import Mongo, connect
from app.repositories.inventory import InventoryRepository
from tests.test_startup import ROOT, Server, oms_env

SMALL = ("--locations", "12", "--skus", "40", "--customers", "30", "--orders", "60")


def oms(*args: str, env: dict[str, str], stdin: int = subprocess.DEVNULL) -> subprocess.CompletedProcess[str]:
    """A command as from a second terminal; without a terminal on stdin unless one is given."""
    return subprocess.run(
        [sys.executable, "-m", "app.cli", *args], cwd=ROOT, env=env, stdin=stdin, capture_output=True, text=True, timeout=180
    )


def answering(answer: str, *args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """A command whose stdin is a terminal (a pty), where the user types `answer`."""
    controller, terminal = pty.openpty()
    try:
        os.write(controller, answer.encode() + b"\n")
        return oms(*args, env=env, stdin=terminal)
    finally:
        os.close(terminal)
        os.close(controller)


def graphql(server: Server, query: str, token: str | None = None) -> dict[str, object]:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    response = httpx.post(f"{server.url}/graphql", json={"query": query}, headers=headers, timeout=30)
    assert response.status_code in (200, 401), response.text
    return response.json()  # type: ignore[no-any-return]


def admin_key(env: dict[str, str], name: str) -> str:
    created = oms("apikey", "create", "--name", name, "--role", "ADMIN", env=env)
    assert created.returncode == 0, created.stderr
    return created.stdout.splitlines()[-1]


def reservation_mismatches(data: Path) -> list[object]:
    """Read from the running server's mongod, found where the server published it."""
    uri = json.loads((data / "oms.json").read_text())["uri"]

    async def check() -> list[object]:
        mongo = Mongo(connect(uri), "oms")
        try:
            return list(await InventoryRepository(mongo.db).reservation_mismatches())
        finally:
            await mongo.close()

    return asyncio.run(check())


def test_the_cli_works_beside_a_running_server_and_seed_refuses_a_database_with_data(tmp_path: Path) -> None:
    data = tmp_path / "data"
    env = oms_env(OMS_DATA_DIR=str(data), OMS_ALLOW_ANONYMOUS_ADMIN="false")
    server = Server(env, tmp_path / "server.log")  # embedded mongod: no MONGODB_URI
    try:
        server.wait_ready()

        # When an admin key is made in a second terminal, as the README says
        token = admin_key(env, "x")

        # Then the running server accepts it, and the key is listed
        assert graphql(server, "{ channels { code } }", token)["data"] == {"channels": []}
        assert "errors" in graphql(server, "{ channels { code } }")  # no anonymous admin: the key let us in
        listed = oms("apikey", "list", env=env)
        assert listed.returncode == 0 and " x " in listed.stdout, listed.stderr

        # When demo data is seeded into the database, which now holds that key
        refused = oms("seed", *SMALL, env=env)

        # Then it is refused, saying what the database holds, and nothing is written
        assert refused.returncode != 0
        assert 'the database "oms" already holds data' in refused.stderr and "api_keys" in refused.stderr, refused.stderr
        assert "--reset" in refused.stderr
        assert graphql(server, "{ channels { code } }", token)["data"] == {"channels": []}

        # And --reset without a terminal to ask at, and without --yes, deletes nothing
        unconfirmed = oms("seed", "--reset", *SMALL, env=env)
        assert unconfirmed.returncode != 0
        assert "api_keys" in unconfirmed.stderr and "nothing deleted" in unconfirmed.stderr, unconfirmed.stderr
        # At a terminal, answering no deletes nothing either
        declined = answering("n", "seed", "--reset", *SMALL, env=env)
        assert declined.returncode != 0 and "nothing deleted" in declined.stderr, declined.stderr
        assert " x " in oms("apikey", "list", env=env).stdout

        # When the user says yes at the terminal
        agreed = answering("y", "seed", "--reset", *SMALL, env=env)

        # Then what was there is gone (the key too) and the demo data is in, with reserved in step
        assert agreed.returncode == 0, agreed.stderr
        assert "Delete these 1 documents" in agreed.stderr and "seeded 8 channels" in agreed.stderr, agreed.stderr
        assert " x " not in oms("apikey", "list", env=env).stdout
        assert reservation_mismatches(data) == []
        fresh = admin_key(env, "y")
        orders = graphql(server, "{ orders(first: 100) { edges { node { status } } } }", fresh)
        assert len(orders["data"]["orders"]["edges"]) == 60  # type: ignore[index]

        # And seeding again is refused; --reset --yes (no terminal needed) starts over
        assert oms("seed", *SMALL, env=env).returncode != 0
        again = oms("seed", "--reset", "--yes", "--seed", "7", *SMALL, env=env)
        assert again.returncode == 0, again.stderr
        assert "orders" in again.stderr and "api_keys" in again.stderr
        assert reservation_mismatches(data) == []
        assert "Traceback" not in server.stderr
    finally:
        server.kill()
