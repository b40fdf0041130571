"""`oms serve --workers N`: every worker listens on a socket of its own on the one port
(SO_REUSEPORT), so the kernel spreads new connections across the workers by their addresses.

uvicorn's supervisor hands all workers one shared listening socket instead; whichever worker woke
first accepted every connection pending at that moment. Clients that connect in a burst and keep
their connections (a balancer's pool, a load generator) then all stayed on one worker: a flash
sale's 16 clients were served 600 of 600 times by one worker, and a second worker added nothing.

The supervisor keeps a socket bound to the port with SO_REUSEPORT that never listens: it takes no
connections (the kernel only picks among listening sockets), but holds the port while a worker is
replaced, so nothing else can take it. A worker that dies takes its socket with it, and new
connections go to the workers still listening."""

from __future__ import annotations

import socket
import sys

from uvicorn.config import STARTUP_FAILURE, Config
from uvicorn.supervisors import multiprocess


def port_socket(host: str, port: int) -> socket.socket:
    """A TCP socket bound to (host, port) that shares the port with this user's other such sockets."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        sock.bind((host, port))
    except BaseException:
        sock.close()
        raise
    return sock


class ReusePortWorker(multiprocess.Process):
    """A uvicorn worker that binds its own socket in its own process (uvicorn listens on it)."""

    def target(self, sockets: list[socket.socket] | None = None) -> None:  # runs in the worker
        try:
            own = port_socket(self.config.host, self.config.port)
        except OSError as exc:
            # As uvicorn does when it cannot bind: the supervisor then stops instead of restarting.
            print(f"worker cannot bind {self.config.host}:{self.config.port}: {exc}", file=sys.stderr)
            sys.exit(STARTUP_FAILURE)
        super().target([own])


def serve(config: Config) -> None:
    """Runs uvicorn's supervisor (signals, health checks, restarts) with a socket per worker."""
    with port_socket(config.host, config.port) as reservation:
        config.port = reservation.getsockname()[1]  # --port 0: the workers share the port it got
        # uvicorn's supervisor makes every worker (at start, on restart, on SIGHUP and SIGTTIN)
        # from this module-level name and offers no other hook; only this supervising process
        # ever runs it.
        multiprocess.Process = ReusePortWorker  # type: ignore[misc]
        multiprocess.Multiprocess(config, sockets=[]).run()
