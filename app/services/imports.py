"""Bulk import: a stream of bytes through one kind's importer, in bounded batches.

An importer (one per `ImportKind`, registered in services/container.py) is two things:

- `draft(row)`: pure, no database: a row → a draft, or that row's issues
  (app/domain/<kind>_import.py);
- `write(batch, run)`: writes a batch of valid drafts idempotently and says what it did: rows
  written, rows unchanged (nothing written, no event), rows it refused (unknown references,
  business rules). A batch is all or nothing (one transaction, retried on transient errors), so a
  row is written with its events or not at all.

The runner reads any async iterable of byte chunks (a file, stdin, an HTTP body) with a
`RowReader`, drafts each row, and hands every `batch_size` rows to the importer, reading the next
batch while one is written: memory holds a chunk and two batches, whatever the size of the input.
Rejected rows go to `on_rejected` as their batch finishes, in line order. Re-running an input is
always safe: rows already imported are unchanged.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterable, Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Generic, Protocol, TypeVar

from app.domain.events import Actor
from app.domain.errors import NotFound
from app.domain.ids import new_id
from app.domain.imports import (
    Column,
    ImportFormat,
    ImportKind,
    ImportRefused,
    ImportSummary,
    RowIssue,
    RowReader,
    SourceRow,
    issues_by_line,
)
from app.domain.principals import Principal, Role, actor_of
from app.repositories.database import deadline

log = logging.getLogger("oms.imports")

D = TypeVar("D")
DEFAULT_BATCH_SIZE = 500


@dataclass(frozen=True, slots=True)
class Drafted(Generic[D]):
    """A valid row's draft and the line it came from (for a refusal at write time)."""

    line: int
    draft: D


@dataclass(frozen=True, slots=True)
class ImportRun:
    """One import: who runs it and from where; importers put `id` and `reason` on their events."""

    id: str
    kind: ImportKind
    principal: Principal
    source: str

    @property
    def actor(self) -> Actor:
        return actor_of(self.principal)

    @property
    def reason(self) -> str:
        return f"{self.kind.value} import from {self.source}"[:200]


@dataclass(frozen=True, slots=True)
class BatchOutcome:
    written: int = 0
    unchanged: int = 0
    rejected: tuple[RowIssue, ...] = ()
    backorders_filled: int = 0


def tallied(outcomes: Iterable[bool | list[RowIssue]]) -> BatchOutcome:
    """A batch written a row at a time: each row True (written), False (unchanged) or its issues."""
    written = unchanged = 0
    rejected: list[RowIssue] = []
    for outcome in outcomes:
        if isinstance(outcome, list):
            rejected += outcome
        elif outcome:
            written += 1
        else:
            unchanged += 1
    return BatchOutcome(written=written, unchanged=unchanged, rejected=tuple(rejected))


class Importer(Protocol[D]):
    """One kind of import. `columns` drive the CSV header check and the JSON keys accepted."""

    kind: ImportKind
    columns: tuple[Column, ...]

    def draft(self, row: SourceRow) -> D | list[RowIssue]: ...

    async def write(self, batch: Sequence[Drafted[D]], run: ImportRun) -> BatchOutcome: ...


class ImportStopped(Exception):
    """The input or the database failed part way: the batches before are imported (each whole), the
    rest is not. `summary` says how far it got; running the same input again completes it."""

    def __init__(self, summary: ImportSummary, cause: BaseException):
        super().__init__(summary.stopped)
        self.summary = summary
        self.cause = cause


class ImportService:
    def __init__(self, importers: Iterable[Importer[Any]]):
        self._importers: dict[ImportKind, Importer[Any]] = {importer.kind: importer for importer in importers}
        missing = [kind.value for kind in ImportKind if kind not in self._importers]
        if missing:
            raise ValueError(f"no importer registered for {', '.join(missing)}")

    @property
    def kinds(self) -> tuple[ImportKind, ...]:
        return tuple(self._importers)

    def importer(self, kind: str) -> Importer[Any]:
        found = self._importers.get(ImportKind(kind)) if kind in {k.value for k in ImportKind} else None
        if found is None:
            raise NotFound(f"no import of kind {kind!r}; kinds: {', '.join(k.value for k in self.kinds)}", field=("kind",))
        return found

    async def run(
        self,
        principal: Principal,
        kind: str,
        chunks: AsyncIterable[bytes],
        fmt: ImportFormat,
        *,
        source: str,
        on_rejected: Callable[[RowIssue], None] | None = None,
        on_progress: Callable[[ImportSummary], None] | None = None,
        batch_size: int = DEFAULT_BATCH_SIZE,
        batch_deadline_seconds: float | None = None,
    ) -> ImportSummary:
        """ADMIN only. Raises `ImportRefused` (nothing written) for an input that cannot be read at
        all, `ImportStopped` when it fails part way."""
        principal.require_role(Role.ADMIN)
        importer = self.importer(kind)
        run = ImportRun(id=new_id(), kind=importer.kind, principal=principal, source=source)
        job = _Job(
            importer,
            run,
            RowReader(fmt, importer.columns),
            batch_size=batch_size,
            batch_deadline_seconds=batch_deadline_seconds,
            on_rejected=on_rejected,
            on_progress=on_progress,
        )
        try:
            async for chunk in chunks:
                await job.take(job.reader.feed(chunk))
            await job.take(job.reader.finish())
            await job.flush()
            await job.settle()
        except ImportRefused:
            raise
        except Exception as exc:
            await job.settle(quietly=True)  # the batch being written still counts, if it committed
            stopped = job.summary(_why(exc))
            log.warning(
                "import stopped",
                extra={"import_id": run.id, "kind": run.kind.value, "source": source, "rows": stopped.rows_read,
                       "reason": stopped.stopped},
            )
            raise ImportStopped(stopped, exc) from exc
        finally:
            job.abandon()
        done = job.summary()
        log.info(
            "import finished",
            extra={
                "import_id": run.id,
                "kind": run.kind.value,
                "source": source,
                "actor": principal.subject,
                "rows": done.rows_read,
                "written": done.written,
                "unchanged": done.unchanged,
                "rejected": done.rejected,
                "seconds": round(done.seconds, 3),
            },
        )
        return done


class _Job:
    """One run's state: the batch being filled, the one being written, and the running counts.

    A full batch is written in a task while the next one is read and drafted, so parsing overlaps
    the database's work; a batch is handed over only once the previous one is written, so writes
    (and the rejects report) stay in file order, and memory holds two batches at most."""

    def __init__(
        self,
        importer: Importer[Any],
        run: ImportRun,
        reader: RowReader,
        *,
        batch_size: int,
        batch_deadline_seconds: float | None,
        on_rejected: Callable[[RowIssue], None] | None,
        on_progress: Callable[[ImportSummary], None] | None,
    ):
        self.importer = importer
        self.run = run
        self.reader = reader
        self.batch_size = batch_size
        self.deadline = batch_deadline_seconds
        self.on_rejected = on_rejected
        self.on_progress = on_progress
        self.started = time.monotonic()
        self.drafts: list[Drafted[Any]] = []
        self.issues: list[RowIssue] = []
        self.rows = 0
        self.writing: asyncio.Task[None] | None = None
        self.done = BatchOutcome()
        self.rows_done = self.rejected = self.issues_done = 0

    async def take(self, items: list[SourceRow | RowIssue]) -> None:
        for item in items:
            self.rows += 1
            if isinstance(item, RowIssue):
                self.issues.append(item)
            else:
                drafted = self.importer.draft(item)
                if isinstance(drafted, list):
                    self.issues.extend(drafted)
                else:
                    self.drafts.append(Drafted(item.line, drafted))
            if self.rows >= self.batch_size:
                await self.flush()

    async def flush(self) -> None:
        await self.settle()
        if self.rows:
            batch = (self.drafts, self.issues, self.rows)
            self.drafts, self.issues, self.rows = [], [], 0
            self.writing = asyncio.create_task(self._write(*batch))

    async def settle(self, *, quietly: bool = False) -> None:
        """Waits for the batch being written; its failure is raised (or, `quietly`, dropped)."""
        writing, self.writing = self.writing, None
        if writing is not None:
            try:
                await writing
            except Exception:
                if not quietly:
                    raise

    def abandon(self) -> None:
        if self.writing is not None and not self.writing.done():
            self.writing.cancel()  # run() itself was cancelled

    async def _write(self, drafts: list[Drafted[Any]], issues: list[RowIssue], rows: int) -> None:
        outcome = BatchOutcome()
        if drafts:
            with deadline(self.deadline) if self.deadline else contextlib.nullcontext():
                outcome = await self.importer.write(drafts, self.run)
        refused = issues_by_line([*issues, *outcome.rejected])
        self.rows_done += rows
        self.rejected += len({issue.line for issue in refused})
        self.issues_done += len(refused)
        self.done = BatchOutcome(
            written=self.done.written + outcome.written,
            unchanged=self.done.unchanged + outcome.unchanged,
            backorders_filled=self.done.backorders_filled + outcome.backorders_filled,
        )
        if self.on_rejected is not None:
            for issue in refused:
                self.on_rejected(issue)
        if self.on_progress is not None:
            self.on_progress(self.summary())

    def summary(self, stopped: str | None = None) -> ImportSummary:
        return ImportSummary(
            kind=self.run.kind,
            format=self.reader.format,
            rows_read=self.rows_done,
            written=self.done.written,
            unchanged=self.done.unchanged,
            rejected=self.rejected,
            issues=self.issues_done,
            bytes_read=self.reader.bytes_read,
            seconds=time.monotonic() - self.started,
            backorders_filled=self.done.backorders_filled,
            stopped=stopped,
        )


def _why(exc: BaseException) -> str:
    text = str(exc).split("\n", 1)[0][:300]
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__
