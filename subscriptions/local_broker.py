"""The local broker: pub/sub between the workers of one `oms serve --workers N`, on a Unix socket.

With the default `memory://` fan-out, every worker that does not lead the sequencer used to follow
the relay through MongoDB (a change stream on `relay_state`, which makes the server scan the oplog,
plus a read of each batch): database work per extra process. Instead the supervising process runs
this broker in a thread and hands the workers `OMS_BROADCAST_URL=local+unix:///…`: the leader
publishes each stamped batch once, the broker copies the frame to every other worker, and no worker
reads anything from MongoDB to receive it (`subscriptions/local_broker_backend.py`). A leader
outside the group (another host's process, `oms relay`) does not publish here, so while one leads,
the workers follow the relay as memory:// processes do (app/services/sequencer.py, `fanout_group`).

The broker keeps nothing: a frame it cannot deliver (a worker not connected, or too far behind, whose
connection is then closed) is simply not delivered, and that worker's hub fills the gap from the
event log, which has every published event (subscriptions/hub.py). So a broker restart or a broken
connection delays events and never loses one.

Frames, both ways: a 4-byte big-endian length, then one byte of kind, then the body.
SUBSCRIBE / UNSUBSCRIBE: the channel (UTF-8). SUBSCRIBED: the channel, the broker's answer once the
subscription holds. PUBLISH: a 2-byte channel length, the channel, the message (UTF-8); the broker
forwards a PUBLISH frame unchanged to the channel's other subscribers (never back to its sender,
which delivers its own messages locally).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import os
import shutil
import socket
import struct
import threading
import time
from pathlib import Path

log = logging.getLogger("oms.local_broker")

SCHEME = "local+unix://"
SUBSCRIBE, UNSUBSCRIBE, SUBSCRIBED, PUBLISH = 1, 2, 3, 4
# A stamped batch is at most 500 events; anything far larger is a protocol error, not a message.
MAX_FRAME_BYTES = 64 << 20
# Unsent bytes a worker may have waiting before the broker drops its connection (it reconnects and
# fills the gap from the log) instead of buffering without bound for a worker that stopped reading.
MAX_BACKLOG_BYTES = 32 << 20

_LENGTH = struct.Struct(">I")
_CHANNEL_LENGTH = struct.Struct(">H")


def broker_url(path: str | Path) -> str:
    return f"{SCHEME}{Path(path)}"


def broker_group(url: str) -> str:
    """Names the workers sharing one broker (in their sequencer ids), so a worker can tell a sibling
    leader, whose publishes it receives, from one elsewhere (another host, `oms relay`), which it
    must follow through MongoDB."""
    return hashlib.sha1(f"{socket.gethostname()} {url}".encode()).hexdigest()[:12]


def socket_path(url: str) -> str:
    if not url.startswith(SCHEME) or len(url) == len(SCHEME):
        raise ValueError(f"not a local broker URL (local+unix:///path/to/socket): {url!r}")
    return url[len(SCHEME):]


def frame(kind: int, body: bytes) -> bytes:
    return _LENGTH.pack(len(body) + 1) + bytes((kind,)) + body


def publish_frame(channel: str, message: str) -> bytes:
    name = channel.encode()
    return frame(PUBLISH, _CHANNEL_LENGTH.pack(len(name)) + name + message.encode())


def parse_publish(body: bytes) -> tuple[str, str]:
    """(channel, message) of a PUBLISH frame's body (after the kind byte)."""
    (length,) = _CHANNEL_LENGTH.unpack_from(body)
    end = _CHANNEL_LENGTH.size + length
    return body[_CHANNEL_LENGTH.size:end].decode(), body[end:].decode()


async def read_frame(reader: asyncio.StreamReader) -> tuple[int, bytes]:
    """(kind, body); raises asyncio.IncompleteReadError at the end of the stream."""
    (length,) = _LENGTH.unpack(await reader.readexactly(_LENGTH.size))
    if not 1 <= length <= MAX_FRAME_BYTES:
        raise ConnectionError(f"bad frame length {length}")
    data = await reader.readexactly(length)
    return data[0], data[1:]


class LocalBroker:
    """The broker's server: start() listens on `path` (replacing a stale socket file), stop() closes
    it and every connection."""

    def __init__(self, path: str | Path, *, max_backlog_bytes: int = MAX_BACKLOG_BYTES):
        self.path = Path(path)
        self._max_backlog = max_backlog_bytes
        self._server: asyncio.Server | None = None
        self._subscribers: dict[str, set[asyncio.StreamWriter]] = {}
        self._connections: set[asyncio.StreamWriter] = set()
        self.forwarded = 0  # frames written to subscribers (tests)

    @property
    def connections(self) -> int:
        return len(self._connections)

    def subscribers(self, channel: str) -> int:
        return len(self._subscribers.get(channel, ()))

    async def start(self) -> None:
        self.path.unlink(missing_ok=True)
        self._server = await asyncio.start_unix_server(self._serve, path=str(self.path))

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
        connections = list(self._connections)
        for writer in connections:
            writer.close()
        for writer in connections:
            with contextlib.suppress(Exception):
                await writer.wait_closed()
        if self._server is not None:
            await self._server.wait_closed()
            self._server = None
        self.path.unlink(missing_ok=True)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._connections.add(writer)
        channels: set[str] = set()
        try:
            while True:
                kind, body = await read_frame(reader)
                if kind == PUBLISH:
                    self._forward(writer, parse_publish(body)[0], frame(PUBLISH, body))
                elif kind == SUBSCRIBE:
                    channel = body.decode()
                    channels.add(channel)
                    self._subscribers.setdefault(channel, set()).add(writer)
                    writer.write(frame(SUBSCRIBED, body))
                elif kind == UNSUBSCRIBE:
                    channel = body.decode()
                    channels.discard(channel)
                    self._subscribers.get(channel, set()).discard(writer)
        except (asyncio.IncompleteReadError, ConnectionError, UnicodeDecodeError, struct.error):
            pass  # the worker went away, or spoke nonsense: it reconnects if it still lives
        finally:
            self._connections.discard(writer)
            for channel in channels:
                self._subscribers.get(channel, set()).discard(writer)
            writer.close()

    def _forward(self, sender: asyncio.StreamWriter, channel: str, data: bytes) -> None:
        # Never awaits a worker: one that stopped reading is cut off and catches up from the log.
        for writer in list(self._subscribers.get(channel, ())):
            if writer is sender or writer.is_closing():
                continue
            if writer.transport.get_write_buffer_size() > self._max_backlog:
                log.warning("a worker fell too far behind the local broker; dropping its connection")
                writer.close()
                continue
            writer.write(data)
            self.forwarded += 1


class BrokerThread:
    """The broker on its own event loop in a daemon thread of the supervising process (which spends
    its main thread in uvicorn's supervisor loop). `with BrokerThread(path):` serves until the block ends."""

    def __init__(self, path: str | Path):
        self.broker = LocalBroker(path)
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._run, name="oms-local-broker", daemon=True)
        self._started = threading.Event()
        self._failure: BaseException | None = None

    def __enter__(self) -> BrokerThread:
        self._thread.start()
        self._started.wait()
        if self._failure is not None:
            raise self._failure
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def stop(self) -> None:
        if not self._thread.is_alive():
            return
        future = asyncio.run_coroutine_threadsafe(self.broker.stop(), self._loop)
        with contextlib.suppress(Exception):
            future.result(timeout=5)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=5)

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        try:
            self._loop.run_until_complete(self.broker.start())
        except BaseException as exc:  # noqa: BLE001 - reported to the starting thread
            self._failure = exc
            self._started.set()
            return
        self._started.set()
        try:
            self._loop.run_forever()
        finally:
            # Connection handlers still winding down: end them here rather than leave them pending.
            pending = asyncio.all_tasks(self._loop)
            for task in pending:
                task.cancel()
            self._loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
            self._loop.close()


DIRECTORY_PREFIX = "oms-broker-"
SOCKET_NAME = "broker.sock"


def remove_stale_brokers(parent: str | Path, *, older_than_seconds: float = 60.0) -> list[Path]:
    """Remove this user's broker directories under `parent` that no broker serves any more: what a
    supervisor killed with SIGKILL leaves behind (its exit handlers never ran). A directory counts
    as stale when nothing accepts on its socket; a young one is spared (a serve starting right now
    may not have bound it yet). Returns the directories removed."""
    removed = []
    for directory in Path(parent).glob(f"{DIRECTORY_PREFIX}*"):
        try:
            info = directory.lstat()
        except OSError:
            continue
        if not directory.is_dir() or directory.is_symlink() or info.st_uid != os.getuid():
            continue
        if time.time() - info.st_mtime < older_than_seconds or _served(directory / SOCKET_NAME):
            continue
        shutil.rmtree(directory, ignore_errors=True)
        removed.append(directory)
    return removed


def _served(path: Path) -> bool:
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as probe:
        probe.settimeout(1.0)
        try:
            probe.connect(str(path))
        except (ConnectionRefusedError, FileNotFoundError, NotADirectoryError):
            return False
        except OSError:
            return True  # busy or unreadable: leave it alone
        return True
