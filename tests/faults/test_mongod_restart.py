"""The embedded mongod dies under a running `oms serve` (kill -9): the server starts it again on the
same port and data, says so in its log, and serves again without being restarted itself."""

from __future__ import annotations

import json
import os
import signal
import time
from pathlib import Path
from typing import Any

import httpx

from tests.test_startup import Server, graphql, oms_env, serving


def test_a_killed_embedded_mongod_is_restarted_and_the_server_recovers_by_itself(tmp_path: Path) -> None:
    data = tmp_path / "data"
    with serving(oms_env(OMS_DATA_DIR=str(data)), tmp_path / "serve.log") as server:
        uri = json.loads((data / "oms.json").read_text())["uri"]
        assert "errors" not in graphql(server)
        killed = _mongod_pid(data)

        # When its mongod is killed outright
        os.kill(killed, signal.SIGKILL)

        # Then the server says it is not ready, and then, without anyone's help, that it is
        assert _until_readyz(server.url, 503, timeout=30)
        assert _until_readyz(server.url, 200, timeout=120)

        # And a new mongod serves the same data at the same address, and so does the API
        assert _mongod_pid(data) != killed
        assert json.loads((data / "oms.json").read_text())["uri"] == uri
        assert "errors" not in graphql(server)

        # And the log says what happened: the exit code, the end of mongod's own log, and the restart
        # (the supervisor's own primary check may finish after the API's readiness probe saw one)
        assert _until_logged(server, "embedded mongod restarted and is primary", timeout=60), server.stderr
        lines = _log_lines(server)
        deaths = [line for line in lines if line["msg"].startswith("embedded mongod exited")]
        assert [(d["level"], d["exit_code"]) for d in deaths] == [("WARNING", -9)], server.stderr
        assert deaths[0]["mongod_log_tail"]

        # And SIGTERM still stops it cleanly, mongod included, without restarting it
        assert server.stop(signal.SIGTERM) == 0, server.stderr
    assert "Traceback" not in server.stderr
    assert (data / "mongo" / "mongod.lock").read_text() == ""
    assert not (data / "oms.json").exists()


def _mongod_pid(data: Path) -> int:
    pid = int((data / "mongo" / "mongod.lock").read_text().strip())
    assert Path(f"/proc/{pid}/comm").read_text().strip() == "mongod"
    return pid


def _log_lines(server: Server) -> list[dict[str, Any]]:
    return [json.loads(line) for line in server.stderr.splitlines() if line.startswith("{")]


def _until_logged(server: Server, message: str, *, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if any(line["msg"] == message for line in _log_lines(server)):
            return True
        time.sleep(0.05)
    return False


def _until_readyz(url: str, status: int, *, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{url}/readyz", timeout=5).status_code == status:
                return True
        except httpx.HTTPError:
            pass
        time.sleep(0.05)
    return False
