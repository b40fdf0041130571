"""`oms`: serve the API, seed demo data, manage API keys, import data in bulk."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import errno
import logging
import os
import pathlib
import shutil
import signal
import socket
import sys
import tempfile
from collections.abc import Iterator
from types import FrameType

from app import logs
from app.embedded_mongod import (
    DataDir,
    DataDirOwner,
    EmbeddedMongod,
    MongodFailed,
    MongodNotFound,
    MongodPortUnavailable,
    MongodSupervisor,
)
from app.settings import Settings

log = logging.getLogger("oms")

# How long MONGODB_URI has to answer a ping before a command gives up.
REACHABLE_TIMEOUT_SECONDS = 5.0


@contextlib.contextmanager
def mongodb(settings: Settings, *, command: str) -> Iterator[str]:
    """Where a command other than `serve` finds MongoDB: MONGODB_URI; else the embedded mongod of
    the server running on the data directory; else an embedded mongod of its own for the block."""
    if settings.mongodb_uri:
        _check_reachable(settings.mongodb_uri)
        yield settings.mongodb_uri
        return
    data_dir, owner = _lock_data_dir(settings, command)
    if owner is not None:
        if owner.uri is None:
            raise SystemExit(_in_use(settings, owner, asker=command))
        log.info("using the running server's embedded mongod", extra={"uri": owner.uri, "pid": owner.pid})
        yield owner.uri
        return
    try:
        with _embedded_mongod(settings) as uri:
            yield uri
    finally:
        data_dir.unlock()


@contextlib.contextmanager
def _embedded_mongod(settings: Settings, *, supervised: bool = False) -> Iterator[str]:
    """An embedded mongod for as long as the block runs; the caller holds the data directory.
    Supervised (the server's): restarted on the same port and data whenever it dies meanwhile."""
    mongod = EmbeddedMongod(settings.data_dir, binary=settings.mongod_binary, port=settings.mongod_port)
    try:
        uri = mongod.start()
    except MongodPortUnavailable as exc:
        raise SystemExit(
            f"OMS_MONGOD_PORT={exc.port} cannot be used: {exc.reason}; set it to a free port, or to 0 to pick one"
        ) from None
    except (MongodNotFound, MongodFailed) as exc:
        raise SystemExit(f"Cannot start the embedded MongoDB.\n{exc}") from exc
    log.info("embedded mongod is primary", extra={"uri": uri, "data_dir": str(settings.data_dir)})
    supervisor = MongodSupervisor(mongod) if supervised else None
    try:
        if supervisor is not None:
            supervisor.start()
        yield uri
    finally:
        if supervisor is not None:
            supervisor.stop()
        mongod.stop()
        log.info("embedded mongod stopped")


def _lock_data_dir(settings: Settings, command: str) -> tuple[DataDir, DataDirOwner | None]:
    data_dir = DataDir(settings.data_dir)
    try:
        return data_dir, data_dir.lock(command)
    except OSError as exc:
        raise SystemExit(f"cannot use the data directory {settings.data_dir}: {exc.strerror}; set OMS_DATA_DIR") from None


def _in_use(settings: Settings, owner: DataDirOwner, *, asker: str) -> str:
    where = f"the data directory {settings.data_dir} is in use"
    if owner.pid is None:
        return f"{where} by another OMS process; stop it or set OMS_DATA_DIR"
    if owner.command == "serve":
        if asker == "serve":
            return f"{where} by another OMS server (pid {owner.pid}); stop it or set OMS_DATA_DIR"
        return f"{where} by an OMS server (pid {owner.pid}) that is still starting; try again once it serves"
    return f"{where} by `oms {owner.command}` (pid {owner.pid}); wait for it to finish or set OMS_DATA_DIR"


def _check_reachable(uri: str) -> None:
    from app.repositories.database import MongoUnreachable, check_reachable

    try:
        asyncio.run(check_reachable(uri, timeout_seconds=REACHABLE_TIMEOUT_SECONDS))
    except MongoUnreachable as exc:
        raise SystemExit(str(exc)) from None


def _check_port(host: str, port: int) -> None:
    """Fail before mongod starts and demo data is seeded, not minutes later when uvicorn binds."""
    try:
        family, kind, proto, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
    except socket.gaierror as exc:
        raise SystemExit(f"cannot listen on {host}: {exc.strerror}; set OMS_HOST or --host") from None
    with socket.socket(family, kind, proto) as probe:
        # As uvicorn binds: a connection of a previous run in TIME_WAIT is no obstacle, a listener is.
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(address)
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                raise SystemExit(f"port {port} on {host} is already in use; set OMS_PORT or --port") from None
            raise SystemExit(f"cannot listen on {host}:{port}: {exc.strerror}; set OMS_HOST/OMS_PORT or --host/--port") from None


def _progress_bar(stage: str, done: int, total: int) -> None:
    if not sys.stderr.isatty() and done != total:
        return
    width = 30
    filled = int(width * done / total) if total else width
    sys.stderr.write(f"\r  {stage:<10} [{'#' * filled}{'.' * (width - filled)}] {done}/{total}")
    if done == total:
        sys.stderr.write("\n")
    sys.stderr.flush()


async def _seed(uri: str, settings: Settings, args: argparse.Namespace, *, if_empty: bool = False, reset: bool = False) -> None:
    """Demo data into an empty database; with `if_empty`, a database holding data is left alone,
    else it is refused; `reset` (confirmed by the caller) empties it first."""
    from app.repositories.database import Mongo, connect
    from app.repositories.indexes import ensure_indexes
    from app.services.demo_seed import SeedSize, database_contents, reset_database, seed_demo

    mongo = Mongo(connect(uri), settings.database)
    try:
        await ensure_indexes(mongo.db)
        if reset:
            await reset_database(mongo)
        elif held := await database_contents(mongo):
            if if_empty:
                log.info("database already has data; not seeding")
                return
            raise SystemExit(_seed_refusal(settings, held))
        size = SeedSize(locations=args.locations, skus=args.skus, customers=args.customers, orders=args.orders)
        report = await seed_demo(mongo, size, seed=args.seed, progress=_progress_bar)
        print(
            f"seeded {report.channels} channels, {report.locations} locations, {report.products} products, "
            f"{report.inventory_levels} inventory levels, {report.customers} customers, {report.orders} orders, "
            f"{report.shipments} shipments",
            file=sys.stderr,
        )
    finally:
        await mongo.close()


async def _database_contents(uri: str, settings: Settings) -> dict[str, int]:
    from app.repositories.database import Mongo, connect
    from app.services.demo_seed import database_contents

    mongo = Mongo(connect(uri), settings.database)
    try:
        return await database_contents(mongo)
    finally:
        await mongo.close()


def _contents_table(held: dict[str, int]) -> str:
    width = max(len(name) for name in held)
    return "\n".join(f"  {name:<{width}}  {count:>10,}" for name, count in sorted(held.items()))


def _seed_refusal(settings: Settings, held: dict[str, int]) -> str:
    return (
        f'the database "{settings.database}" already holds data; `oms seed` loads demo data only into an empty one:\n'
        f"{_contents_table(held)}\n"
        "`oms seed --reset` deletes all of it first (it asks; --yes answers for you)"
    )


def _confirm_reset(settings: Settings, held: dict[str, int], *, assume_yes: bool) -> None:
    """Says what --reset deletes; goes on only when the user agrees at a terminal, or gave --yes."""
    total = sum(held.values())
    keys = "; API keys are deleted too: make new ones afterwards" if "api_keys" in held else ""
    print(
        f'--reset deletes every document of these collections of the database "{settings.database}" '
        f"(the collections and their indexes stay{keys}):\n{_contents_table(held)}",
        file=sys.stderr,
    )
    if assume_yes:
        return
    if not sys.stdin.isatty():
        raise SystemExit("nothing deleted: --reset asks for confirmation at a terminal; add --yes to confirm without one")
    sys.stderr.write(f"Delete these {total:,} documents and load the demo data? [y/N] ")
    sys.stderr.flush()
    if sys.stdin.readline().strip().lower() not in ("y", "yes"):
        raise SystemExit("nothing deleted")


def _add_seed_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--seed", type=int, default=42, help="random seed; same seed, same data")
    parser.add_argument("--locations", type=int, default=24)
    parser.add_argument("--skus", type=int, default=200)
    parser.add_argument("--customers", type=int, default=200)
    parser.add_argument("--orders", type=int, default=600)


def cmd_serve(settings: Settings, args: argparse.Namespace) -> None:
    import uvicorn

    from app.asgi import create_app
    from app.http_timeouts import timed_http_protocol
    from app.routes import IMPORTS_PATH

    host, port = args.host or settings.host, args.port or settings.port
    signal.signal(signal.SIGTERM, _exit_cleanly)
    with contextlib.ExitStack() as stack:
        # Each check before the slow steps: the data directory, the port, then MongoDB itself.
        if settings.mongodb_uri:
            _check_port(host, port)
            _check_reachable(settings.mongodb_uri)
            uri = settings.mongodb_uri
        else:
            data_dir, owner = _lock_data_dir(settings, "serve")
            if owner is not None:
                raise SystemExit(_in_use(settings, owner, asker="serve"))
            stack.callback(data_dir.unlock)
            _check_port(host, port)
            uri = stack.enter_context(_embedded_mongod(settings, supervised=True))
            data_dir.publish(uri)
        if args.seed_if_empty:
            asyncio.run(_seed(uri, settings, args, if_empty=True))
        workers = _worker_count(settings, args.workers)
        if workers > 1:
            _raise_open_files_limit()  # the workers inherit it
            _local_broker(settings, stack)
            _serve_workers(uri, host, port, workers, stack)
            return
        app = create_app(settings, mongodb_uri=uri)
        config = uvicorn.Config(
            app,
            host=host,
            port=port,
            log_config=None,
            ws="websockets-sansio",
            lifespan="on",
            # Closes connections whose request headers or body arrive too slowly (slowloris).
            http=timed_http_protocol(
                header_timeout=settings.header_timeout_seconds,
                body_timeout=settings.body_timeout_seconds,
                streamed_prefixes=(IMPORTS_PATH,),
            ),
            # No `limit_concurrency`: uvicorn counts open connections, slow ones too, and answers
            # everyone 503 beyond it. The deadlines bound how long a slow client holds a socket,
            # and the open-files limit is raised so sockets are not what runs out first.
        )
        _raise_open_files_limit()
        print(f"OMS GraphQL on http://{config.host}:{config.port}/graphql", file=sys.stderr)
        _tune_garbage_collector()
        uvicorn.Server(config).run()


def _worker_count(settings: Settings, requested: int | None) -> int:
    """--workers, else OMS_WORKERS, else one per core in production and one in development."""
    count = requested if requested is not None else settings.workers
    if count is None:
        count = len(os.sched_getaffinity(0)) if settings.production else 1
    if count < 1:
        raise SystemExit(f"--workers / OMS_WORKERS must be 1 or more; got {count}")
    return count


def _serve_workers(uri: str, host: str, port: int, workers: int, stack: contextlib.ExitStack) -> None:
    """N uvicorn workers on one port, each with its own listening socket (app/worker_sockets.py);
    this process only supervises them (uvicorn restarts a worker that dies) and keeps the embedded
    mongod, which is started once, here.
    Each worker is a whole instance of the app: the sequencer lease, the scheduler's leases, the
    client budgets and the instance watch already work across processes through MongoDB."""
    import uvicorn

    from app import worker_sockets
    from app.worker_process import WORKER_MONGODB_URI

    os.environ[WORKER_MONGODB_URI] = uri
    _metrics_dir(stack)
    config = uvicorn.Config(
        "app.worker_process:create",
        factory=True,
        workers=workers,
        host=host,
        port=port,
        log_config=None,
        ws="websockets-sansio",
        lifespan="on",
        http="app.worker_process:HttpProtocol",  # the deadlines of the single-process server
        # uvicorn kills a worker that leaves its health-check ping unanswered this long. Its default,
        # 5 s, is shorter than a spawned interpreter's imports on a busy machine (load 15 on 2 cores):
        # workers were killed and restarted before they could answer, and the server never came up.
        timeout_worker_healthcheck=30,
    )
    print(f"OMS GraphQL on http://{config.host}:{config.port}/graphql ({workers} workers)", file=sys.stderr)
    # Multiprocess handles SIGINT/SIGTERM itself: it stops the workers, then returns here so the
    # embedded mongod and the data directory's lock are released as in a single-process serve.
    worker_sockets.serve(config)


def _local_broker(settings: Settings, stack: contextlib.ExitStack) -> None:
    """With the default memory:// fan-out, a pub/sub broker in this process for the workers
    (subscriptions/local_broker.py): the sequencer's leader publishes each batch once and the others
    receive it without reading MongoDB. An explicit broker (redis://) serves them instead."""
    if not settings.broadcast_url.startswith("memory:"):
        return
    from subscriptions.local_broker import DIRECTORY_PREFIX, SOCKET_NAME, BrokerThread, broker_url, remove_stale_brokers

    remove_stale_brokers(tempfile.gettempdir())  # left by supervisors killed before their exit handlers ran
    directory = tempfile.mkdtemp(prefix=DIRECTORY_PREFIX)  # mode 0700: only this user's processes connect
    stack.callback(shutil.rmtree, directory, ignore_errors=True)
    broker = stack.enter_context(BrokerThread(pathlib.Path(directory) / SOCKET_NAME))
    os.environ["OMS_BROADCAST_URL"] = broker_url(broker.broker.path)


def _metrics_dir(stack: contextlib.ExitStack) -> None:
    """PROMETHEUS_MULTIPROC_DIR for the workers (app/metrics.py), so any worker answers a scrape
    for all of them. One given is emptied first (files of a previous run would be counted again);
    else a fresh one per serve, removed when it stops. Set after seeding: the seed's own counts
    are no worker's."""
    given = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if given:
        directory = pathlib.Path(given)
        directory.mkdir(parents=True, exist_ok=True)
        for stale in directory.glob("*.db"):
            stale.unlink()
        return
    made = tempfile.mkdtemp(prefix="oms-metrics-")
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = made
    stack.callback(shutil.rmtree, made, ignore_errors=True)


def _raise_open_files_limit() -> None:
    """Every connection is a file descriptor; a soft limit of 1024 (a common default) is reached by
    a few hundred slow clients plus MongoDB's pools. Raise it to the hard limit the system allows."""
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = hard if hard != resource.RLIM_INFINITY else max(soft, 1 << 20)
    if soft == resource.RLIM_INFINITY or soft >= target:
        return
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    except (ValueError, OSError) as exc:
        log.warning("cannot raise the open files limit", extra={"soft": soft, "hard": hard, "error": str(exc)})


def _exit_cleanly(signum: int, frame: FrameType | None) -> None:
    """SIGTERM outside uvicorn's run, or raised again by uvicorn once it has shut down: unwind
    (seeding, the embedded mongod, the data directory's lock) and exit 0, as a requested stop."""
    raise SystemExit(0)


def _tune_garbage_collector() -> None:
    """Fewer, cheaper collections: a full collection walks every live object (a thousand open
    subscriptions are a lot of them) and stalls every request and subscriber while it runs.
    What was loaded at start-up is frozen out of the collector's walks.

    Requests end cycle-free (docs/ARCHITECTURE.md, "Memory and the cycle collector"), so what a
    collection finds is almost never garbage: a gen-1 pass walks only the data of the requests in
    flight, and the few per-connection cycles die in gen 0. Hence a gen-1 pass only every 200
    gen-0 passes (bench.tails, 16 clients: 4 gen-1 passes of 0.8-1.7 s in 3 rounds at 50, none in 2
    rounds at 200, and a quarter less time collecting). A larger gen 0 (50,000) tripled each gen-0
    pause; CPython's defaults (700, 10, 10) collected for four times as long."""
    import gc

    gc.collect()
    gc.freeze()
    gc.set_threshold(20_000, 200, 100)


async def _relay(uri: str, settings: Settings) -> None:
    import signal

    from app.asgi import realtime_options
    from app.repositories.database import Mongo, connect
    from app.repositories.indexes import ensure_indexes
    from app.services.container import build_services
    from subscriptions.realtime import run_relay

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    mongo = Mongo(connect(uri), settings.database)
    try:
        await ensure_indexes(mongo.db, event_retention_days=settings.event_retention_days)
        log.info("relay starting", extra={"broadcast": settings.broadcast_url.split("@")[-1]})
        await run_relay(build_services(mongo), realtime_options(settings), stop=stop)
    finally:
        await mongo.close()


def cmd_relay(settings: Settings, args: argparse.Namespace) -> None:
    with mongodb(settings, command="relay") as uri:
        asyncio.run(_relay(uri, settings))


def cmd_seed(settings: Settings, args: argparse.Namespace) -> None:
    with mongodb(settings, command="seed") as uri:
        held = asyncio.run(_database_contents(uri, settings)) if args.reset else {}
        if held:
            _confirm_reset(settings, held, assume_yes=args.yes)
        asyncio.run(_seed(uri, settings, args, reset=bool(held)))


async def _apikey(uri: str, settings: Settings, args: argparse.Namespace) -> None:
    from app.domain.principals import Role
    from app.repositories.database import Mongo, connect
    from app.services.container import build_services

    mongo = Mongo(connect(uri), settings.database)
    try:
        auth = build_services(mongo).auth
        if args.apikey_command == "create":
            scope = _scope_options(args.scope or [])
            key, token = await auth.issue_api_key(
                name=args.name,
                role=Role(args.role),
                locations=scope.get("locations", []),
                channel=next(iter(scope.get("channel", [])), None),
                customer=next(iter(scope.get("customer", [])), None),
            )
            print(f"created API key {key.id} ({key.role}). This token is shown once; store it now:")
            print(token)
        elif args.apikey_command == "revoke":
            print("revoked" if await auth.revoke_api_key(args.key_id) else "no such active key")
            print(f"Takes effect at once here and within {settings.api_key_cache_seconds:g} s on running servers.")
        elif args.apikey_command == "list":
            print(f"{'id':<16}  {'name':<24}  {'role':<11}  {'scope':<30}  {'created':<20}  revoked")
            for key in await auth.list_api_keys():
                scope = ",".join(sorted(key.location_ids)) or key.channel_id or key.customer_id or "-"
                revoked = key.revoked_at.strftime("%Y-%m-%d %H:%M:%S") if key.revoked_at else "-"
                created = key.created_at.strftime("%Y-%m-%d %H:%M:%S")
                print(f"{key.id:<16}  {key.name[:24]:<24}  {key.role:<11}  {scope[:30]:<30}  {created:<20}  {revoked}")
    finally:
        await mongo.close()


_SCOPES = ("locations", "channel", "customer")


def _scope_options(items: list[str]) -> dict[str, list[str]]:
    """`--scope name=value[,value]` options → values per scope; refused before anything is opened
    when a name is unknown or a single-valued scope is given twice."""
    scope: dict[str, list[str]] = {}
    for item in items:
        name, separator, value = item.partition("=")
        if not separator or name not in _SCOPES:
            raise SystemExit(f"--scope {item!r}: expected {' | '.join(f'{s}=...' for s in _SCOPES)}")
        values = [v.strip() for v in value.split(",") if v.strip()] if name == "locations" else [value.strip()]
        if not any(values):
            raise SystemExit(f"--scope {item!r}: give a value")
        if name != "locations" and name in scope:
            raise SystemExit(f"--scope {name}= may be given once")
        scope.setdefault(name, []).extend(values)
    return scope


def cmd_apikey(settings: Settings, args: argparse.Namespace) -> None:
    from app.domain.errors import InvalidInput

    if args.apikey_command == "create":
        _scope_options(args.scope or [])  # a typo is reported before any database is started
    with mongodb(settings, command="apikey") as uri:
        try:
            asyncio.run(_apikey(uri, settings, args))
        except InvalidInput as exc:
            problems = "; ".join(f"{'.'.join(i.field)}: {i.message}" for i in exc.issues)
            raise SystemExit(f"no API key created: {problems}" if args.apikey_command == "create" else problems) from exc


def cmd_import(settings: Settings, args: argparse.Namespace) -> None:
    from app.import_command import parse_request, run_import

    request = parse_request(args)  # a missing file or an unknown format is reported before MongoDB starts
    with mongodb(settings, command="import") as uri:
        status = asyncio.run(run_import(uri, settings, request))
    if status:
        raise SystemExit(status)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="oms", description="Order management system: GraphQL API over MongoDB.")
    commands = parser.add_subparsers(dest="command", required=True)

    serve = commands.add_parser("serve", help="serve the GraphQL API (embedded MongoDB unless MONGODB_URI is set)")
    serve.add_argument("--host")
    serve.add_argument("--port", type=int)
    serve.add_argument(
        "--workers",
        type=int,
        help="worker processes sharing the port (default: OMS_WORKERS, else one per core in production, 1 otherwise)",
    )
    serve.add_argument("--seed-if-empty", action="store_true", help="load demo data into an empty database first")
    _add_seed_options(serve)
    serve.set_defaults(handler=cmd_serve)

    relay = commands.add_parser(
        "relay", help="sequence the event log and publish it to OMS_BROADCAST_URL (no HTTP); one leader at a time"
    )
    relay.set_defaults(handler=cmd_relay)

    seed = commands.add_parser("seed", help="load deterministic demo data into an empty database")
    _add_seed_options(seed)
    seed.add_argument(
        "--reset", action="store_true", help="delete everything the database holds first (says what, and asks)"
    )
    seed.add_argument("--yes", action="store_true", help="with --reset: do not ask (needed without a terminal)")
    seed.set_defaults(handler=cmd_seed)

    apikey = commands.add_parser("apikey", help="manage API keys")
    apikey_commands = apikey.add_subparsers(dest="apikey_command", required=True)
    create = apikey_commands.add_parser("create", help="create a key; its token is printed once")
    create.add_argument("--name", required=True)
    create.add_argument("--role", required=True, choices=["ADMIN", "CSR", "STORE_STAFF", "WAREHOUSE", "CHANNEL", "CUSTOMER"])
    create.add_argument(
        "--scope",
        action="append",
        help="locations=ST-MA-BOS-01,DC-OH-COL | channel=amazon | customer=<id>; codes, ids or the API's global ids, "
        "each must exist; repeatable",
    )
    revoke = apikey_commands.add_parser("revoke", help="revoke a key by id")
    revoke.add_argument("key_id")
    apikey_commands.add_parser("list", help="list keys (ids, names, roles, scopes; never secrets)")
    apikey.set_defaults(handler=cmd_apikey)

    from app.domain.imports import ImportFormat, ImportKind

    kinds = [kind.value for kind in ImportKind]
    bulk = commands.add_parser(
        "import",
        help=f"bulk import {', '.join(kinds)} from CSV or JSON Lines (streamed; idempotent)",
        description="Import a CSV (with a header row) or JSON Lines file, row by row: valid rows are written in "
        "batches, rejected rows are reported with their line, field and reason. Running the same file again "
        "changes nothing. Exit status 3 when rows were rejected.",
    )
    bulk.add_argument("kind", choices=kinds, help="what the file holds")
    bulk.add_argument("file", help="the file; - reads stdin (then give --format)")
    bulk.add_argument("--format", choices=[f.value for f in ImportFormat], help="default: from the file name")
    bulk.add_argument("--rejects", metavar="FILE", help="write every rejected row there (.csv, or .jsonl)")
    bulk.add_argument("--batch-size", type=int, default=500, help="rows per transaction (default 500)")
    bulk.set_defaults(handler=cmd_import)
    return parser


def main(argv: list[str] | None = None) -> None:
    args = build_parser().parse_args(argv)
    settings = Settings.from_env()
    logs.configure(settings.log_level)
    try:
        args.handler(settings, args)
    except KeyboardInterrupt:
        # Ctrl-C: uvicorn has shut down and the embedded mongod has stopped; it re-raises the signal
        # so the process exits as interrupted. Exit that way without a traceback.
        raise SystemExit(130) from None


if __name__ == "__main__":
    main()
