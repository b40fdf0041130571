"""Keyset pagination: opaque cursors that encode the sort key of the last item seen."""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from datetime import datetime
from typing import Generic, Sequence, TypeVar

from app.domain.errors import ErrorCode, FieldIssue, InvalidInput

T = TypeVar("T")

MAX_PAGE_SIZE = 100
DEFAULT_PAGE_SIZE = 20


@dataclass(frozen=True, slots=True)
class PageRequest:
    first: int = DEFAULT_PAGE_SIZE
    after: str | None = None

    def __post_init__(self) -> None:
        if not 0 <= self.first <= MAX_PAGE_SIZE:
            raise InvalidInput(
                [FieldIssue(ErrorCode.INVALID_INPUT, f"first must be between 0 and {MAX_PAGE_SIZE}", ("first",))]
            )


@dataclass(frozen=True, slots=True)
class Page(Generic[T]):
    items: Sequence[T]
    cursors: Sequence[str]
    has_next_page: bool
    has_previous_page: bool = False
    total_count: int | None = None


def encode_cursor(*key: object) -> str:
    """Cursor for a sort key such as (created_at, id). Datetimes keep microsecond precision."""
    parts = [{"t": v.isoformat()} if isinstance(v, datetime) else v for v in key]
    raw = json.dumps(parts, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str, arity: int) -> tuple[object, ...]:
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        parts = json.loads(base64.urlsafe_b64decode(padded.encode()))
        if not isinstance(parts, list) or len(parts) != arity:
            raise ValueError
        values: list[object] = []
        for part in parts:
            if isinstance(part, dict):
                values.append(datetime.fromisoformat(str(part["t"])))
            elif isinstance(part, (str, int, float)) or part is None:
                values.append(part)
            else:
                raise ValueError
        return tuple(values)
    except (ValueError, KeyError, TypeError, json.JSONDecodeError) as exc:
        raise InvalidInput([FieldIssue(ErrorCode.INVALID_INPUT, "after is not a valid cursor", ("after",))]) from exc
