"""Expected failures of use cases. Each carries a stable code; the transport maps them once."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum


class ErrorCode(StrEnum):
    INVALID_INPUT = "INVALID_INPUT"
    NOT_FOUND = "NOT_FOUND"
    UNKNOWN_SKU = "UNKNOWN_SKU"
    DUPLICATE_EXTERNAL_ID = "DUPLICATE_EXTERNAL_ID"
    ILLEGAL_TRANSITION = "ILLEGAL_TRANSITION"
    INSUFFICIENT_STOCK = "INSUFFICIENT_STOCK"
    PICKUP_UNAVAILABLE = "PICKUP_UNAVAILABLE"
    CONFLICT = "CONFLICT"
    UNAUTHENTICATED = "UNAUTHENTICATED"
    INVALID_CREDENTIAL = "INVALID_CREDENTIAL"
    CREDENTIAL_EXPIRED = "CREDENTIAL_EXPIRED"
    FORBIDDEN = "FORBIDDEN"
    CURSOR_EXPIRED = "CURSOR_EXPIRED"
    SUBSCRIBER_TOO_SLOW = "SUBSCRIBER_TOO_SLOW"
    SERVICE_UNAVAILABLE = "SERVICE_UNAVAILABLE"
    # returns
    RETURN_WINDOW_CLOSED = "RETURN_WINDOW_CLOSED"
    NOT_DELIVERED = "NOT_DELIVERED"
    RETURN_QUANTITY_EXCEEDED = "RETURN_QUANTITY_EXCEEDED"
    DUPLICATE_CLIENT_KEY = "DUPLICATE_CLIENT_KEY"
    RETURNS_NOT_ACCEPTED = "RETURNS_NOT_ACCEPTED"
    # refunds and exchanges
    REFUND_EXCEEDS_PAID = "REFUND_EXCEEDS_PAID"
    REFUND_LIMIT_EXCEEDED = "REFUND_LIMIT_EXCEEDED"
    ALREADY_REFUNDED = "ALREADY_REFUNDED"
    NOT_REFUNDABLE = "NOT_REFUNDABLE"
    EXCHANGE_NOT_POSSIBLE = "EXCHANGE_NOT_POSSIBLE"
    PAYMENT_FAILED = "PAYMENT_FAILED"


@dataclass(frozen=True, slots=True)
class FieldIssue:
    """One thing wrong with one input field. `field` is a path such as ("lines", "2", "quantity")."""

    code: ErrorCode
    message: str
    field: tuple[str, ...] = ()


class DomainError(Exception):
    code: ErrorCode = ErrorCode.CONFLICT

    def __init__(self, message: str, *, code: ErrorCode | None = None, field: tuple[str, ...] = ()):
        super().__init__(message)
        self.message = message
        self.field = field
        if code is not None:
            self.code = code


class NotFound(DomainError):
    code = ErrorCode.NOT_FOUND


class Conflict(DomainError):
    code = ErrorCode.CONFLICT


class Forbidden(DomainError):
    code = ErrorCode.FORBIDDEN


class Unauthenticated(DomainError):
    """No caller could be established. UNAUTHENTICATED when no credential came; a credential that
    came and failed says so (INVALID_CREDENTIAL, CREDENTIAL_EXPIRED) without saying which part was
    wrong: the detail goes to the log."""

    code = ErrorCode.UNAUTHENTICATED


AUTHENTICATION_CODES = frozenset({ErrorCode.UNAUTHENTICATED, ErrorCode.INVALID_CREDENTIAL, ErrorCode.CREDENTIAL_EXPIRED})


class CursorExpired(DomainError):
    """The events after this cursor are no longer retained: re-read current state, then subscribe
    from `oldest_cursor` (the newest cursor that can still be resumed)."""

    code = ErrorCode.CURSOR_EXPIRED

    def __init__(self, message: str, *, oldest_cursor: int):
        super().__init__(message, field=("after",))
        self.oldest_cursor = oldest_cursor


class SubscriberTooSlow(DomainError):
    """The client fell too far behind the live stream; it may resume from `last_cursor`."""

    code = ErrorCode.SUBSCRIBER_TOO_SLOW

    def __init__(self, message: str, *, last_cursor: int | None):
        super().__init__(message)
        self.last_cursor = last_cursor


class ServiceUnavailable(DomainError):
    """The database did not answer in time (unreachable, frozen, electing a primary). Nothing the
    caller did is wrong: the same request may succeed after `retry_after_seconds`. A write that
    failed this way may still have committed if the commit itself was in flight, so retry only
    what is safe to repeat (captureOrder is: its external id makes a retry return the same order)."""

    code = ErrorCode.SERVICE_UNAVAILABLE

    def __init__(self, message: str, *, retry_after_seconds: int):
        super().__init__(message)
        self.retry_after_seconds = retry_after_seconds


class InvalidInput(DomainError):
    """Carries every issue found, so a client can fix all of them in one round trip."""

    code = ErrorCode.INVALID_INPUT

    def __init__(self, issues: list[FieldIssue] | tuple[FieldIssue, ...]):
        if not issues:
            raise ValueError("InvalidInput needs at least one issue")
        first = issues[0]
        super().__init__(first.message, code=first.code, field=first.field)
        self.issues = tuple(issues)


@dataclass
class Validator:
    """Collects issues; `raise_if_any()` at the end of validation."""

    issues: list[FieldIssue] = field(default_factory=list)

    def add(self, message: str, *field_path: str | int, code: ErrorCode = ErrorCode.INVALID_INPUT) -> None:
        self.issues.append(FieldIssue(code=code, message=message, field=tuple(str(p) for p in field_path)))

    def check(self, ok: bool, message: str, *field_path: str | int, code: ErrorCode = ErrorCode.INVALID_INPUT) -> bool:
        if not ok:
            self.add(message, *field_path, code=code)
        return ok

    def raise_if_any(self) -> None:
        if self.issues:
            raise InvalidInput(self.issues)
