"""`oms import KIND FILE`: a file (or stdin, `-`) through the import service, streamed in chunks,
with a progress line on a terminal, a report of rejected rows and a summary on stdout.

Exit status: 0 when every row was imported (written or unchanged); 3 when some rows were rejected
(the others are imported); 1 when the import could not run or stopped part way (what came before
is imported, and running the same file again finishes it: imported rows are unchanged).
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import getpass
import json
import os
import sys
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from app.domain.imports import ImportFormat, ImportSummary, RowIssue, format_for_name
from app.domain.principals import Principal, Role
from app.settings import Settings

# Small enough that the progress bar (bytes read) runs at most a few hundred rows ahead of the writes.
CHUNK_BYTES = 64 * 1024
REJECTS_SHOWN_WITHOUT_REPORT = 20
EXIT_REJECTED = 3
_PROGRESS_INTERVAL = 0.2  # seconds between progress redraws


@dataclass(frozen=True, slots=True)
class ImportRequest:
    """What the command line asked for, checked before any database is opened."""

    kind: str
    path: Path | None  # None: stdin
    format: ImportFormat
    rejects: Path | None
    batch_size: int

    @property
    def source(self) -> str:
        return "stdin" if self.path is None else self.path.name


def parse_request(args: argparse.Namespace) -> ImportRequest:
    path = None if args.file == "-" else Path(args.file)
    if path is not None and not path.is_file():
        raise SystemExit(f"cannot import {args.file}: no such file")
    fmt = ImportFormat(args.format) if args.format else format_for_name(args.file) if path else None
    if fmt is None:
        raise SystemExit(f"cannot tell the format of {args.file}: name it .csv, .jsonl or .ndjson, or pass --format")
    if args.batch_size < 1 or args.batch_size > 5_000:
        raise SystemExit("--batch-size must be between 1 and 5000")
    rejects = Path(args.rejects) if args.rejects else None
    if rejects is not None and not rejects.parent.is_dir():
        raise SystemExit(f"cannot write the rejects report to {args.rejects}: no such directory")
    return ImportRequest(kind=args.kind, path=path, format=fmt, rejects=rejects, batch_size=args.batch_size)


def _cli_principal() -> Principal:
    """The operator at the terminal, as an ADMIN: their name goes into the movement events."""
    try:
        user = getpass.getuser()
    except Exception:  # noqa: BLE001 - no login name in some containers
        user = str(os.getuid())
    return Principal(subject=f"cli:{user}", role=Role.ADMIN)


async def _chunks(stream: IO[bytes]) -> AsyncIterator[bytes]:
    while chunk := await asyncio.to_thread(stream.read, CHUNK_BYTES):
        yield chunk


class RejectsReport:
    """Rejected rows to a file as they come: CSV (`line,field,code,reason`), or JSON Lines when the
    file is named .jsonl/.ndjson."""

    def __init__(self, path: Path):
        self._file = path.open("w", encoding="utf-8", newline="")
        self._jsonl = format_for_name(path.name) is ImportFormat.JSONL
        self._csv = None if self._jsonl else csv.writer(self._file)
        if self._csv is not None:
            self._csv.writerow(["line", "field", "code", "reason"])

    def write(self, issue: RowIssue) -> None:
        if self._csv is not None:
            self._csv.writerow([issue.line, issue.field, issue.code.value, issue.reason])
        else:
            record = {"line": issue.line, "field": issue.field, "code": issue.code.value, "reason": issue.reason}
            self._file.write(json.dumps(record) + "\n")

    def close(self) -> None:
        self._file.close()


class ProgressLine:
    """On a terminal (stderr): bytes read of the file's size as a bar, or of a stream of unknown
    length as a count, with rows and rows/s. Redrawn at most every 0.2 s; nothing when piped."""

    def __init__(self, total_bytes: int | None, *, enabled: bool):
        self.total = total_bytes
        self.enabled = enabled
        self._last = 0.0
        self._drawn = False

    def __call__(self, summary: ImportSummary) -> None:
        now = time.monotonic()
        if not self.enabled or now - self._last < _PROGRESS_INTERVAL:
            return
        self._last = now
        rows = f"{summary.rows_read:,} rows  {summary.rows_per_second:,.0f} rows/s"
        if self.total:
            width = 30
            done = min(summary.bytes_read, self.total)
            filled = int(width * done / self.total)
            line = f"  {summary.kind.value:<10} [{'#' * filled}{'.' * (width - filled)}] {_size(done)}/{_size(self.total)}  {rows}"
        else:
            line = f"  {summary.kind.value:<10} {_size(summary.bytes_read)} read  {rows}"
        sys.stderr.write(f"\r{line}\033[K")
        sys.stderr.flush()
        self._drawn = True

    def end(self) -> None:
        if self._drawn:
            sys.stderr.write("\n")
            sys.stderr.flush()


def _size(count: int) -> str:
    if count < 1024:
        return f"{count} B"
    value = float(count)
    for unit in ("KiB", "MiB", "GiB"):
        value /= 1024
        if value < 1024 or unit == "GiB":
            break
    return f"{value:.1f} {unit}"


def summary_line(summary: ImportSummary, source: str) -> str:
    return (
        f"{summary.kind.value} import from {source}: {summary.rows_read:,} rows read, {summary.written:,} written, "
        f"{summary.unchanged:,} unchanged, {summary.rejected:,} rejected"
        + (f", {summary.backorders_filled:,} backorders filled" if summary.backorders_filled else "")
        + f"; {summary.seconds:.1f} s, {summary.rows_per_second:,.0f} rows/s"
    )


async def run_import(uri: str, settings: Settings, request: ImportRequest) -> int:
    from app.domain.imports import ImportRefused
    from app.repositories.database import Mongo, connect
    from app.repositories.indexes import ensure_indexes
    from app.services.container import build_services
    from app.services.imports import ImportStopped

    mongo = Mongo(connect(uri, app_name="oms-import"), settings.database)
    report = RejectsReport(request.rejects) if request.rejects else None
    shown: list[RowIssue] = []

    def rejected(issue: RowIssue) -> None:
        if report is not None:
            report.write(issue)
        elif len(shown) < REJECTS_SHOWN_WITHOUT_REPORT:
            shown.append(issue)

    stream = sys.stdin.buffer if request.path is None else request.path.open("rb")
    progress = ProgressLine(request.path.stat().st_size if request.path else None, enabled=sys.stderr.isatty())
    try:
        await ensure_indexes(mongo.db, event_retention_days=settings.event_retention_days)
        services = build_services(mongo)
        # Named in `instances` like a server: if this process dies mid-batch, a survivor ends its
        # transaction within seconds instead of the server's 60 s.
        watch = services.instance_watch(owner=f"oms-import-{os.getpid()}")
        await watch.start()
        try:
            summary = await services.imports.run(
                _cli_principal(),
                request.kind,
                _chunks(stream),
                request.format,
                source=request.source,
                on_rejected=rejected,
                on_progress=progress,
                batch_size=request.batch_size,
            )
        finally:
            await watch.stop()
    except ImportRefused as exc:
        progress.end()
        raise SystemExit(f"nothing imported from {request.source}: {exc.message}") from None
    except ImportStopped as exc:
        progress.end()
        print(summary_line(exc.summary, request.source))
        raise SystemExit(
            f"the import stopped after {exc.summary.rows_read:,} rows: {exc.summary.stopped}. The rows before it are "
            "imported; run the same command again to finish (rows already imported are left unchanged)."
        ) from None
    finally:
        if request.path is not None:
            stream.close()
        if report is not None:
            report.close()
        await mongo.close()
    progress.end()
    print(summary_line(summary, request.source))
    if summary.rejected:
        _tell_rejected(summary, request, shown)
        return EXIT_REJECTED
    return 0


def _tell_rejected(summary: ImportSummary, request: ImportRequest, shown: list[RowIssue]) -> None:
    if request.rejects is not None:
        rows = "row" if summary.rejected == 1 else "rows"
        print(f"{summary.rejected:,} {rows} rejected: see {request.rejects}", file=sys.stderr)
        return
    for issue in shown:
        print(f"  line {issue.line}: {issue.field or 'row'}: {issue.reason}", file=sys.stderr)
    if summary.issues > len(shown):
        print(f"  … {summary.issues - len(shown):,} more; --rejects FILE writes them all", file=sys.stderr)
