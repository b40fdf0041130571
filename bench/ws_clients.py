"""Lean graphql-transport-ws subscribers for the benches, in client processes of their own, so that
10,000 of them do not make the load generator the bottleneck.

Each connection is an asyncio.Protocol that speaks just enough WebSocket (RFC 6455: the upgrade,
unmasked frames from the server, masked text and pong frames to it, no extensions) and just enough
graphql-transport-ws (connection_init, one subscribe, pong for ping): no task, no stream reader and
no websockets protocol object per connection. A client process holds a few thousand of them on
uvloop. What it records per delivery is two numbers, `n` from the event's payload and the arrival
time on CLOCK_MONOTONIC, which every process on the machine shares: the writer, in the parent
process, notes when each commit returned on the same clock, and the latency is the difference.

    swarm = Swarm(url, token, [(query, variables), ...], processes=3)
    swarm.start(); swarm.wait_connected()         # every subscription sent
    swarm.wait_warm(lambda status: ...)           # e.g. each has had its first event
    result = swarm.stop()                         # arrivals, per-subscriber counts, errors, CPU
"""

from __future__ import annotations

import array
import asyncio
import base64
import json
import multiprocessing.connection
import os
import resource
import socket
import struct
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parent.parent
Subscription = tuple[str, dict[str, Any]]  # (query, variables)

_TEXT, _CLOSE, _PING, _PONG = 0x1, 0x8, 0x9, 0xA


def _client_frame(opcode: int, payload: bytes) -> bytes:
    """A final frame from a client: masked, as the protocol requires of clients."""
    mask = os.urandom(4)
    length = len(payload)
    if length < 126:
        header = struct.pack("!BB", 0x80 | opcode, 0x80 | length)
    elif length < 1 << 16:
        header = struct.pack("!BBH", 0x80 | opcode, 0x80 | 126, length)
    else:
        header = struct.pack("!BBQ", 0x80 | opcode, 0x80 | 127, length)
    repeated = (mask * (length // 4 + 1))[:length]
    masked = (int.from_bytes(payload, "big") ^ int.from_bytes(repeated, "big")).to_bytes(length, "big") if length else b""
    return header + mask + masked


def _text(message: dict[str, Any]) -> bytes:
    return _client_frame(_TEXT, json.dumps(message, separators=(",", ":")).encode())


class Tally:
    """What one client process saw. Arrivals of measured events (n ≥ 0) as two parallel arrays."""

    def __init__(self, subscribers: int):
        self.arrival_n = array.array("q")
        self.arrival_t = array.array("d")
        self.received = array.array("l", bytes(8 * subscribers))  # measured deliveries per subscriber
        self.first_seen = 0  # subscribers that have had any event (warm-up ones included)
        self.acked = 0
        self.duplicates = 0
        self.out_of_order = 0
        self.closed = 0
        self.errors: list[str] = []

    def error(self, text: str) -> None:
        if len(self.errors) < 20:
            self.errors.append(text[:300])


class LeanSubscriber(asyncio.Protocol):
    __slots__ = ("_buffer", "_handshake_and_init", "_index", "_last", "_seen", "_subscribe", "_tally", "_transport", "_upgraded", "acked", "lost")

    def __init__(self, index: int, handshake: bytes, init: bytes, subscribe: bytes, tally: Tally):
        self._index = index
        self._tally = tally
        self._subscribe = subscribe
        self._buffer = bytearray()
        self._upgraded = False
        self._seen = False
        self._last = -1
        self._transport: asyncio.Transport | None = None
        self._handshake_and_init = (handshake, init)
        self.acked = asyncio.get_running_loop().create_future()
        self.lost = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = transport  # type: ignore[assignment]
        self._transport.write(self._handshake_and_init[0])  # type: ignore[union-attr]

    def connection_lost(self, exc: Exception | None) -> None:
        self.lost = True
        self._tally.closed += 1
        if not self.acked.done():
            self.acked.set_exception(ConnectionError(f"subscriber {self._index} lost before connection_ack: {exc!r}"))

    def data_received(self, data: bytes) -> None:
        now = time.monotonic()  # one clock read per read of the socket, before any parsing
        buffer = self._buffer
        buffer += data
        if not self._upgraded:
            end = buffer.find(b"\r\n\r\n")
            if end < 0:
                return
            status = bytes(buffer[: buffer.find(b"\r\n")])
            if b" 101 " not in status:
                self._tally.error(f"upgrade refused: {status!r}")
                self._transport.close()  # type: ignore[union-attr]
                return
            del buffer[: end + 4]
            self._upgraded = True
            self._transport.write(self._handshake_and_init[1])  # type: ignore[union-attr]
        while len(buffer) >= 2:
            opcode, length, start = buffer[0] & 0x0F, buffer[1] & 0x7F, 2
            if length == 126:
                if len(buffer) < 4:
                    return
                length, start = struct.unpack_from("!H", buffer, 2)[0], 4
            elif length == 127:
                if len(buffer) < 10:
                    return
                length, start = struct.unpack_from("!Q", buffer, 2)[0], 10
            if len(buffer) < start + length:
                return
            payload = bytes(buffer[start : start + length])
            del buffer[: start + length]
            if opcode == _TEXT:
                self._message(payload, now)
            elif opcode == _PING:
                self._transport.write(_client_frame(_PONG, payload))  # type: ignore[union-attr]
            elif opcode == _CLOSE:
                self._tally.error(f"closed by the server: {payload[:2].hex()} {payload[2:]!r}")
                self._transport.close()  # type: ignore[union-attr]
                return

    def _message(self, payload: bytes, now: float) -> None:
        message = json.loads(payload)
        kind = message.get("type")
        if kind == "next" and not message["payload"].get("errors"):
            tally = self._tally
            if not self._seen:
                self._seen = True
                tally.first_seen += 1
            n = _event_number(message["payload"]["data"])
            if n is None or n < 0:
                return  # a warm-up event, or one without a number
            if n == self._last:
                tally.duplicates += 1
                return
            if n < self._last:
                tally.out_of_order += 1
            self._last = n
            tally.received[self._index] += 1
            tally.arrival_n.append(n)
            tally.arrival_t.append(now)
        elif kind == "ping":
            self._transport.write(_text({"type": "pong"}))  # type: ignore[union-attr]
        elif kind == "connection_ack":
            self._transport.write(self._subscribe)  # type: ignore[union-attr]
            self._tally.acked += 1
            if not self.acked.done():
                self.acked.set_result(None)
        elif kind != "pong":
            self._tally.error(payload.decode(errors="replace"))


def _event_number(data: dict[str, Any]) -> int | None:
    """`n` from `{root: {event: {payload: {n}}}}` or `{root: {payload: {n}}}`; None if absent."""
    for value in data.values():
        if isinstance(value, dict):
            holder = value.get("event", value)
            payload = holder.get("payload") if isinstance(holder, dict) else None
            if isinstance(payload, dict) and isinstance(payload.get("n"), int):
                return payload["n"]
    return None


def raise_open_files_limit() -> tuple[int, int]:
    """Soft limit up to the hard one: each subscriber is a socket here and another in the server."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)


def cpu_seconds(pid: int) -> float:
    """User + system CPU of a process so far, from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


# --- One client process ------------------------------------------------------------------------


async def _hold(pipe: multiprocessing.connection.Connection, url: str, token: str, subscriptions: Sequence[Subscription], concurrency: int) -> None:
    loop = asyncio.get_running_loop()
    parts = urlsplit(url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 80
    key = base64.b64encode(os.urandom(16)).decode()
    handshake = (
        f"GET {parts.path or '/'} HTTP/1.1\r\nHost: {host}:{port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: graphql-transport-ws\r\n\r\n"
    ).encode()
    init = _text({"type": "connection_init", "payload": {"authorization": f"Bearer {token}"}})
    tally = Tally(len(subscriptions))
    gate = asyncio.Semaphore(concurrency)
    clients: list[LeanSubscriber] = []

    async def open_one(index: int, query: str, variables: dict[str, Any]) -> None:
        subscribe = _text({"id": "1", "type": "subscribe", "payload": {"query": query, "variables": variables}})
        async with gate:
            for attempt in range(5):
                try:
                    _, client = await loop.create_connection(
                        lambda: LeanSubscriber(index, handshake, init, subscribe, tally), host, port
                    )
                    await asyncio.wait_for(client.acked, 60)
                    clients.append(client)
                    return
                except (OSError, ConnectionError, asyncio.TimeoutError) as exc:  # a full accept queue: again, later
                    if attempt == 4:
                        tally.error(f"could not connect: {exc!r}")
                        return
                    await asyncio.sleep(0.2 * (attempt + 1))

    started = time.monotonic()
    await asyncio.gather(*(open_one(i, q, v) for i, (q, v) in enumerate(subscriptions)))
    pipe.send(("connected", len(clients), time.monotonic() - started, tally.errors[:5]))
    while True:
        command = await loop.run_in_executor(None, pipe.recv)
        if command == "status":
            pipe.send((tally.first_seen, sum(tally.received), tally.closed))
        elif command == "stop":
            break
    closed_early = tally.closed  # before these closes of our own
    for client in clients:
        if client._transport is not None:
            client._transport.close()
    pipe.send({
        "arrival_n": tally.arrival_n.tobytes(),
        "arrival_t": tally.arrival_t.tobytes(),
        "received": tally.received.tobytes(),
        "duplicates": tally.duplicates,
        "out_of_order": tally.out_of_order,
        "closed_early": closed_early,
        "errors": tally.errors,
    })


def _client_process(fd: int) -> None:
    """`python -m bench.ws_clients FD`: a client process, told what to hold over the socket FD (a
    plain subprocess rather than multiprocessing's spawn, which would import the bench's whole
    __main__ and the app with it)."""
    import uvloop

    pipe = multiprocessing.connection.Connection(fd)
    url, token, subscriptions, concurrency = pipe.recv()
    raise_open_files_limit()
    uvloop.run(_hold(pipe, url, token, subscriptions, concurrency))


# --- The parent's handle on them -----------------------------------------------------------------


@dataclass
class SwarmResult:
    arrivals: list[tuple[int, float]] = field(default_factory=list)  # (n, monotonic arrival)
    received: list[int] = field(default_factory=list)  # measured deliveries, per subscriber in order
    duplicates: int = 0
    out_of_order: int = 0
    closed_early: int = 0
    errors: list[str] = field(default_factory=list)


class Swarm:
    def __init__(self, url: str, token: str, subscriptions: Sequence[Subscription], *, processes: int, concurrency: int = 64):
        self._shares = [list(subscriptions[i::processes]) for i in range(processes)]
        self._order = [list(range(len(subscriptions)))[i::processes] for i in range(processes)]
        self._count = len(subscriptions)
        self._pipes: list[multiprocessing.connection.Connection] = []
        self._processes: list[subprocess.Popen[bytes]] = []
        self._config = [(url, token, share, concurrency) for share in self._shares]
        self.connect_seconds = 0.0

    @property
    def pids(self) -> list[int]:
        return [p.pid for p in self._processes]

    def cpu_seconds(self) -> float:
        return sum(cpu_seconds(pid) for pid in self.pids)

    def start(self) -> None:
        for config in self._config:
            ours, theirs = socket.socketpair()
            self._processes.append(subprocess.Popen(
                [sys.executable, "-m", "bench.ws_clients", str(theirs.fileno())], pass_fds=[theirs.fileno()], cwd=ROOT
            ))
            theirs.close()
            pipe = multiprocessing.connection.Connection(ours.detach())
            pipe.send(config)
            self._pipes.append(pipe)

    def wait_connected(self, timeout: float = 600) -> int:
        """Blocks until every process has opened and subscribed all its connections; how many did."""
        connected, errors = 0, []
        for pipe in self._pipes:
            if not pipe.poll(timeout):
                raise TimeoutError("a client process did not finish connecting")
            _, count, seconds, errs = pipe.recv()
            connected += count
            self.connect_seconds = max(self.connect_seconds, seconds)
            errors += errs
        if connected != self._count:
            raise RuntimeError(f"{connected} of {self._count} subscribers connected: {errors[:3]}")
        return connected

    def status(self) -> tuple[int, int, int]:
        """(subscribers that have had an event, measured deliveries, connections lost), summed."""
        totals = [0, 0, 0]
        for pipe in self._pipes:
            pipe.send("status")
        for pipe in self._pipes:
            for i, value in enumerate(pipe.recv()):
                totals[i] += value
        return totals[0], totals[1], totals[2]

    async def until(self, condition: Callable[[tuple[int, int, int]], bool], timeout: float, what: str) -> None:
        deadline = time.monotonic() + timeout
        while True:
            status = await asyncio.to_thread(self.status)
            if condition(status):
                return
            if time.monotonic() > deadline:
                raise TimeoutError(f"{what}: still {status} (seen, delivered, lost) after {timeout:.0f} s")
            await asyncio.sleep(0.1)

    def stop(self) -> SwarmResult:
        result = SwarmResult(received=[0] * self._count)
        for pipe in self._pipes:
            pipe.send("stop")
        for pipe, order in zip(self._pipes, self._order):
            part = pipe.recv()
            ns, ts = array.array("q"), array.array("d")
            ns.frombytes(part["arrival_n"])
            ts.frombytes(part["arrival_t"])
            result.arrivals += zip(ns, ts)
            counts = array.array("l")
            counts.frombytes(part["received"])
            for index, count in zip(order, counts):
                result.received[index] = count
            result.duplicates += part["duplicates"]
            result.out_of_order += part["out_of_order"]
            result.closed_early += part["closed_early"]
            result.errors += part["errors"]
        for process in self._processes:
            try:
                process.wait(30)
            except subprocess.TimeoutExpired:
                process.kill()
        return result

    def kill(self) -> None:
        for process in self._processes:
            if process.poll() is None:
                process.kill()
                process.wait()


if __name__ == "__main__":
    _client_process(int(sys.argv[1]))
