"""Time, as stored: UTC, millisecond precision (what BSON keeps), so a value read back equals the one written."""

from __future__ import annotations

from datetime import datetime, timezone


def utcnow() -> datetime:
    now = datetime.now(timezone.utc)
    return now.replace(microsecond=now.microsecond // 1000 * 1000)
