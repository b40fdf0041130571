"""`oms serve` and the other commands as an operator meets them: real processes, real mongod.

Start-up checks fail at once with one line (port in use, data directory in use, MongoDB not
answering, a setting not understood); the commands share a running server's embedded mongod;
SIGTERM stops the server cleanly with exit code 0, Ctrl-C with 130."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from app.repositories.database import MongoUnreachable, check_reachable

ROOT = Path(__file__).resolve().parent.parent
CUSTOMERS = "{ customers(first: 1) { edges { node { id } } } }"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def oms_env(**settings: str) -> dict[str, str]:
    """This machine's environment without any OMS setting of its own, plus `settings`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("OMS_") and k != "MONGODB_URI"}
    if os.environ.get("OMS_MONGOD"):
        env["OMS_MONGOD"] = os.environ["OMS_MONGOD"]
    return {**env, "OMS_LOG_LEVEL": "WARNING", **settings}


def run_oms(*args: str, env: dict[str, str], timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "app.cli", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout
    )


class Server:
    """`oms serve` in a subprocess; its stderr goes to a file (a pipe nobody reads could fill up)."""

    def __init__(self, env: dict[str, str], log: Path):
        self.port = free_port()
        self.log = log
        with log.open("w") as stderr:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "app.cli", "serve", "--port", str(self.port)],
                cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=stderr,
            )

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def stderr(self) -> str:
        return self.log.read_text()

    def wait_ready(self, timeout: float = 90) -> None:
        deadline = time.monotonic() + timeout
        while True:
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{self.url}/readyz", timeout=5).status_code == 200:
                    return
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"oms serve did not become ready (exit {self.process.poll()}):\n{self.stderr}")
            time.sleep(0.1)

    def stop(self, signum: int = signal.SIGTERM, timeout: float = 60) -> int:
        self.process.send_signal(signum)
        return self.process.wait(timeout)

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait(30)


@contextlib.contextmanager
def serving(env: dict[str, str], log: Path) -> Iterator[Server]:
    server = Server(env, log)
    try:
        server.wait_ready()
        yield server
    finally:
        server.kill()


def graphql(server: Server, token: str | None = None) -> dict[str, object]:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    response = httpx.post(f"{server.url}/graphql", json={"query": CUSTOMERS}, headers=headers, timeout=30)
    assert response.status_code == 200, response.text
    return response.json()  # type: ignore[no-any-return]


def test_a_port_in_use_is_refused_before_mongod_starts(tmp_path: Path) -> None:
    # Given something already listening on the port
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]

        # When the demo server is started on it
        result = run_oms("serve", "--seed-if-empty", "--port", str(port), env=oms_env(OMS_DATA_DIR=str(tmp_path)))

    # Then it stops with one line naming the port, and no mongod ever ran on the data directory
    assert result.returncode != 0
    assert result.stderr.splitlines() == [f"port {port} on 127.0.0.1 is already in use; set OMS_PORT or --port"]
    assert not (tmp_path / "mongo").exists() and not (tmp_path / "mongod.log").exists()


def test_an_embedded_mongod_port_in_use_is_refused_not_replaced(tmp_path: Path) -> None:
    # Given something already listening on the port configured for the embedded mongod
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]

        # When the server is started with it
        result = run_oms(
            "serve", "--port", str(free_port()), env=oms_env(OMS_DATA_DIR=str(tmp_path), OMS_MONGOD_PORT=str(port)),
            timeout=60,
        )

    # Then it stops with one line naming the setting, instead of quietly using another port
    assert result.returncode != 0
    assert result.stderr.splitlines() == [
        f"OMS_MONGOD_PORT={port} cannot be used: Address already in use; set it to a free port, or to 0 to pick one"
    ]
    assert not (tmp_path / "mongod.log").exists()


def test_a_second_server_is_refused_and_commands_use_the_running_servers_mongod(tmp_path: Path) -> None:
    data = tmp_path / "data"
    env = oms_env(OMS_DATA_DIR=str(data), OMS_ALLOW_ANONYMOUS_ADMIN="false")
    first = Server(env, tmp_path / "first.log")
    try:
        first.wait_ready()
        log_before = (data / "mongod.log").stat()

        # When `make run` is run again on the same data directory
        second = run_oms("serve", "--seed-if-empty", "--port", str(free_port()), env=env)

        # Then it says who uses the directory, and the running server's mongod log is untouched
        assert second.returncode != 0
        assert second.stderr.splitlines() == [
            f"the data directory {data} is in use by another OMS server (pid {first.process.pid}); "
            "stop it or set OMS_DATA_DIR"
        ]
        log_after = (data / "mongod.log").stat()
        assert (log_after.st_ino, log_after.st_size >= log_before.st_size) == (log_before.st_ino, True)
        assert [p.name for p in data.iterdir() if p.name.startswith("mongod.log")] == ["mongod.log"]

        # And the CLI's database commands work meanwhile, on the running server's mongod
        created = run_oms("apikey", "create", "--name", "ops", "--role", "ADMIN", env=env)
        assert created.returncode == 0, created.stderr
        token = created.stdout.splitlines()[-1]
        assert "errors" not in graphql(first, token)
        assert "errors" in graphql(first)  # no anonymous admin: the key is what let us in
        listed = run_oms("apikey", "list", env=env)
        assert listed.returncode == 0 and " ops " in listed.stdout

        # When the server is killed outright, a new one starts on the same directory and data
        first.kill()
        with serving(env, tmp_path / "third.log") as third:
            assert "errors" not in graphql(third, token)

            # And SIGTERM stops it cleanly: exit 0, its mongod stopped, the directory released
            assert third.stop(signal.SIGTERM) == 0, third.stderr
        assert "Traceback" not in third.stderr
        assert (data / "mongo" / "mongod.lock").read_text() == ""  # mongod's own "shut down cleanly"
        assert not (data / "oms.json").exists()
    finally:
        first.kill()


@pytest.mark.usefixtures("mongo")  # drops the test's database afterwards
def test_sigterm_exits_0_and_ctrl_c_130_after_a_clean_shutdown(tmp_path: Path, mongodb_uri: str, database_name: str) -> None:
    env = oms_env(MONGODB_URI=mongodb_uri, OMS_DB_NAME=database_name, OMS_LOG_LEVEL="INFO")
    for signum, exit_code in ((signal.SIGTERM, 0), (signal.SIGINT, 130)):
        # Given a running server
        with serving(env, tmp_path / f"{signum}.log") as server:
            # When it is told to stop
            code = server.stop(signum)

        # Then it shut down cleanly and exits as a requested stop, without a traceback
        assert code == exit_code, server.stderr
        assert "Traceback" not in server.stderr
        assert "Finished server process" in server.stderr


@contextlib.contextmanager
def silent_mongodb() -> Iterator[int]:
    """A port that accepts connections and never answers: a hung host, a firewall that drops."""
    with socket.socket() as hole:
        hole.bind(("127.0.0.1", 0))
        hole.listen(64)
        yield hole.getsockname()[1]


def test_a_mongodb_that_does_not_answer_fails_start_up_in_seconds_with_one_line(tmp_path: Path) -> None:
    with silent_mongodb() as port:
        uri = f"mongodb://oms:s3cret-pw@127.0.0.1:{port}/oms?replicaSet=rs0"

        # When the server starts on it
        result = run_oms("serve", "--port", str(free_port()), env=oms_env(MONGODB_URI=uri))

        # Then one line says which MongoDB did not answer, without the credentials
        assert result.returncode != 0
        assert result.stderr.splitlines() == [f"MongoDB at 127.0.0.1:{port} did not answer within 5 s (MONGODB_URI)"]

        # And the check itself takes the 5 s it allows, not the driver's longer defaults
        started = time.monotonic()
        with pytest.raises(MongoUnreachable) as refused:
            asyncio.run(check_reachable(uri, timeout_seconds=5))
        assert time.monotonic() - started < 6.5
        assert "s3cret" not in str(refused.value)


async def test_wrong_credentials_are_named_without_being_shown(mongodb_uri: str) -> None:
    # A user the server does not know (the session's mongod has none) fails authentication.
    authority = mongodb_uri.partition("://")[2]
    hosts = authority.split("/")[0]
    with pytest.raises(MongoUnreachable) as refused:
        await check_reachable(f"mongodb://nobody:s3cret-pw@{authority}", timeout_seconds=5)
    assert str(refused.value) == f"MongoDB at {hosts} refused the credentials in MONGODB_URI"


def test_a_setting_that_is_not_understood_stops_the_command_with_one_line() -> None:
    result = run_oms("serve", env=oms_env(OMS_GRAPHIQL="ture"))
    assert result.returncode != 0
    assert result.stderr.splitlines() == [
        "OMS_GRAPHIQL must be one of true, 1, yes, on, false, 0, no, off; got 'ture'"
    ]
