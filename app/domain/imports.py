"""Bulk import, the pure part: bytes → numbered rows (CSV with a header row, or JSON Lines), values
read field by field into a row's issues, and the report types every kind of import shares.

Streaming by construction: a `RowReader` is fed chunks of bytes and hands back the rows those
chunks complete, so memory holds one chunk and one unfinished record, never the file. Line numbers
are the file's physical lines (1 is the CSV header), so a rejected row can be found in an editor;
a CSV record whose quoted field spans lines is numbered by its first line.
"""

from __future__ import annotations

import csv
import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum

from app.domain.errors import ErrorCode, FieldIssue, InvalidInput


class ImportKind(StrEnum):
    """What can be imported: one importer per kind (app/services/imports.py)."""

    STOCK = "stock"
    PRODUCTS = "products"
    LOCATIONS = "locations"
    CUSTOMERS = "customers"


class ImportFormat(StrEnum):
    CSV = "csv"
    JSONL = "jsonl"


FORMAT_BY_EXTENSION = {".csv": ImportFormat.CSV, ".jsonl": ImportFormat.JSONL, ".ndjson": ImportFormat.JSONL}
FORMAT_BY_MEDIA_TYPE = {
    "text/csv": ImportFormat.CSV,
    "application/x-ndjson": ImportFormat.JSONL,
    "application/jsonl": ImportFormat.JSONL,
    "application/jsonlines": ImportFormat.JSONL,
}

# One record at most: a longer one is rejected, so an unterminated quote cannot swallow the file.
MAX_RECORD_BYTES = 64 * 1024
MAX_CODE_LENGTH = 100


def format_for_name(name: str) -> ImportFormat | None:
    """The format a file name implies (`.csv`, `.jsonl`, `.ndjson`), else None."""
    dot = name.rfind(".")
    return FORMAT_BY_EXTENSION.get(name[dot:].lower()) if dot >= 0 else None


@dataclass(frozen=True, slots=True)
class Column:
    """A field an import reads: `name` as documented (camelCase); CSV headers and JSON keys match
    it ignoring case, spaces, `_` and `-` (`on_hand`, `On Hand` and `onhand` are `onHand`)."""

    name: str
    required: bool = False


@dataclass(frozen=True, slots=True)
class RowIssue:
    """Why one row was not imported: its line, the field at fault ("" for the whole row), a code."""

    line: int
    field: str
    reason: str
    code: ErrorCode = ErrorCode.INVALID_INPUT


@dataclass(frozen=True, slots=True)
class SourceRow:
    """One record: its first line and its values by column name (CSV: text; JSON: any JSON value).
    Empty CSV cells and JSON nulls are absent."""

    line: int
    values: Mapping[str, object]


class ImportRefused(InvalidInput):
    """The file cannot be imported at all (a header naming unknown columns, or missing required
    ones): refused before any row is written."""

    def __init__(self, message: str, field: str = "header"):
        super().__init__([FieldIssue(ErrorCode.INVALID_INPUT, message, (field,))])


def _key(name: str) -> str:
    return re.sub(r"[\s_\-]", "", name).lower()


class RowReader:
    """Bytes in, rows out: `feed(chunk)` returns the rows (or row-level issues: bad UTF-8, bad JSON,
    too long) the chunk completes, in file order; `finish()` the last one."""

    def __init__(self, fmt: ImportFormat, columns: Sequence[Column], *, max_record_bytes: int = MAX_RECORD_BYTES):
        self.format = fmt
        self.columns = tuple(columns)
        self._by_key = {_key(column.name): column.name for column in columns}
        self._max = max_record_bytes
        self._partial = bytearray()  # the unfinished last line
        self._skipping = False  # inside an over-long line, dropped up to its end
        self._line = 0  # physical lines completed
        self._header: list[str | None] | None = None  # CSV: column name per cell (None: unknown)
        self._record: list[str] = []  # CSV: lines of a record whose quoted field is still open
        self._record_line = 0
        self._record_size = 0
        self._in_quotes = False
        self.bytes_read = 0

    # -- bytes to lines ---------------------------------------------------------------------------

    def feed(self, chunk: bytes) -> list[SourceRow | RowIssue]:
        self.bytes_read += len(chunk)
        out: list[SourceRow | RowIssue] = []
        start = 0
        while True:
            end = chunk.find(b"\n", start)
            if end < 0:
                break
            self._take(chunk[start:end], out)
            start = end + 1
        rest = chunk[start:]
        if not self._skipping:
            self._partial += rest
            if len(self._partial) > self._max:
                self._partial.clear()
                self._skipping = True  # reported, and the record abandoned, when the line ends
        return out

    def finish(self) -> list[SourceRow | RowIssue]:
        out: list[SourceRow | RowIssue] = []
        if self._partial or self._skipping:
            self._take(b"", out)
        if self._record:
            out.append(RowIssue(self._record_line, "", "a quoted value is not closed before the end of the file"))
            self._record = []
        return out

    def _take(self, piece: bytes, out: list[SourceRow | RowIssue]) -> None:
        self._line += 1
        if self._skipping:
            self._skipping = False
            self._partial.clear()
            self._too_long(out)
            return
        if self._partial:
            self._partial += piece
            raw = bytes(self._partial)
            self._partial.clear()
        else:
            raw = piece
        if len(raw) > self._max:
            self._too_long(out)
            return
        if self._line == 1 and raw.startswith(b"\xef\xbb\xbf"):
            raw = raw[3:]  # a byte-order mark, as spreadsheet programs write
        if raw.endswith(b"\r"):
            raw = raw[:-1]
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            if self._record:  # the record it belongs to cannot be read either
                out.append(RowIssue(self._record_line, "", "not valid UTF-8"))
                self._record = []
                self._in_quotes = False
            else:
                out.append(RowIssue(self._line, "", "not valid UTF-8"))
            return
        if self.format is ImportFormat.JSONL:
            self._json_line(text, out)
        else:
            self._csv_line(text, out)

    def _too_long(self, out: list[SourceRow | RowIssue]) -> None:
        line = self._record_line if self._record else self._line
        out.append(RowIssue(line, "", f"longer than {self._max} bytes"))
        self._record = []
        self._in_quotes = False

    # -- JSON Lines -------------------------------------------------------------------------------

    def _json_line(self, text: str, out: list[SourceRow | RowIssue]) -> None:
        if not text.strip():
            return
        try:
            value = json.loads(text)
        except ValueError as exc:
            out.append(RowIssue(self._line, "", f"not valid JSON: {exc}"))
            return
        if not isinstance(value, dict):
            out.append(RowIssue(self._line, "", "each line must be a JSON object"))
            return
        values: dict[str, object] = {}
        for key, item in value.items():
            name = self._by_key.get(_key(key))
            if name is None:
                out.append(RowIssue(self._line, key, f"unknown field; expected {self._expected()}"))
                return
            if item is not None:
                values[name] = item
        out.append(SourceRow(self._line, values))

    # -- CSV --------------------------------------------------------------------------------------

    def _csv_line(self, text: str, out: list[SourceRow | RowIssue]) -> None:
        if not self._record:
            if not text.strip():
                return
            self._record_line = self._line
            self._record_size = 0
        self._record.append(text)
        self._record_size += len(text) + 1
        if self._record_size > self._max:
            self._too_long(out)
            return
        if '"' in text or self._in_quotes:
            self._in_quotes = _open_quote_after(text, self._in_quotes)
            if self._in_quotes:
                return  # a quoted value goes on on the next line
        record = "\n".join(self._record) if len(self._record) > 1 else text
        self._record = []
        cells = next(csv.reader([record]))
        if self._header is None:
            self._header = self._read_header(cells)
        else:
            out.append(self._csv_row(self._record_line, cells))

    def _read_header(self, cells: list[str]) -> list[str | None]:
        names = [self._by_key.get(_key(cell)) for cell in cells]
        unknown = [cell for cell, name in zip(cells, names) if name is None and cell.strip()]
        if unknown:
            raise ImportRefused(f"unknown column {', '.join(repr(c) for c in unknown)}; expected {self._expected()}")
        seen = [name for name in names if name is not None]
        duplicates = sorted({name for name in seen if seen.count(name) > 1})
        if duplicates:
            raise ImportRefused(f"column {', '.join(duplicates)} appears more than once")
        missing = [c.name for c in self.columns if c.required and c.name not in seen]
        if missing:
            raise ImportRefused(f"the header has no {', '.join(missing)} column (required)")
        return names

    def _csv_row(self, line: int, cells: list[str]) -> SourceRow | RowIssue:
        header = self._header or []
        if len(cells) > len(header):
            return RowIssue(line, "", f"{len(cells)} values, but the header has {len(header)} columns")
        values = {name: cell for name, cell in zip(header, cells) if name is not None and cell.strip()}
        return SourceRow(line, values)

    def _expected(self) -> str:
        return ", ".join(column.name for column in self.columns)


def _open_quote_after(text: str, in_quotes: bool) -> bool:
    """Whether a quoted value is still open at the end of this line (RFC 4180: a quote opens a value
    only at its start; `""` inside one is a quote). Only lines with a quote, or inside one, get here."""
    field_start = not in_quotes
    closed = False  # the previous character closed a quoted value: a quote now is an escaped one
    for char in text:
        if in_quotes:
            if char == '"':
                in_quotes, closed = False, True
            continue
        if char == '"' and (field_start or closed):
            in_quotes, closed, field_start = True, False, False
            continue
        closed = False
        field_start = char == ","
    return in_quotes


class RowValues:
    """One row's values, read field by field; each problem becomes an issue of that row."""

    def __init__(self, row: SourceRow):
        self.row = row
        self.issues: list[RowIssue] = []

    def problem(self, field: str, reason: str, code: ErrorCode = ErrorCode.INVALID_INPUT) -> None:
        self.issues.append(RowIssue(self.row.line, field, reason, code))

    def text(self, name: str, *, required: bool = False, max_length: int = MAX_CODE_LENGTH) -> str | None:
        value = self.row.values.get(name)
        if value is None:
            if required:
                self.problem(name, "required")
            return None
        if not isinstance(value, str):
            self.problem(name, "must be text")
            return None
        text = value.strip()
        if not text:
            if required:
                self.problem(name, "required")
            return None
        if len(text) > max_length:
            self.problem(name, f"at most {max_length} characters")
            return None
        if not text.isprintable():
            self.problem(name, "must not contain line breaks or control characters")
            return None
        return text

    def count(self, name: str, *, required: bool = False, maximum: int) -> int | None:
        """A whole number from 0 to `maximum`: `12`, `"12"`, `12.0`; not `1.5`, `-1`, `"1,200"`, `true`."""
        value = self.row.values.get(name)
        if value is None:
            if required:
                self.problem(name, "required")
            return None
        number: int | None = None
        if isinstance(value, bool):
            number = None
        elif isinstance(value, int):
            number = value
        elif isinstance(value, float) and value.is_integer():
            number = int(value)
        elif isinstance(value, str):
            text = value.strip()
            digits = text[1:] if text[:1] in ("+", "-") else text
            if digits.isascii() and digits.isdigit():
                number = int(text)
            elif not text and not required:
                return None
        if number is None:
            self.problem(name, f"must be a whole number; got {_shown(value)}")
            return None
        if not 0 <= number <= maximum:
            self.problem(name, f"must be between 0 and {maximum}; got {number}")
            return None
        return number


def _shown(value: object) -> str:
    text = value if isinstance(value, str) else json.dumps(value)
    return repr(text[:40] + "…" if len(text) > 40 else text)


@dataclass(frozen=True, slots=True)
class ImportSummary:
    """What one import did. `rejected` counts rows; a row may have several issues in the report.
    `stopped` says why an import ended before the end of its input (rows before it are imported)."""

    kind: ImportKind
    format: ImportFormat
    rows_read: int
    written: int
    unchanged: int
    rejected: int
    issues: int
    bytes_read: int
    seconds: float
    backorders_filled: int = 0
    stopped: str | None = None

    @property
    def rows_per_second(self) -> float:
        return self.rows_read / self.seconds if self.seconds > 0 else 0.0


def issues_by_line(issues: Iterable[RowIssue]) -> list[RowIssue]:
    """A batch's issues in file order (stable for several issues on one line)."""
    return sorted(issues, key=lambda issue: issue.line)
