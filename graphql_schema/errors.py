"""Typed errors. Mutations return them as union members; queries raise them as GraphQL errors
whose `extensions` carry the same code and field. The one mapping from domain errors lives here."""

from __future__ import annotations

from typing import Annotated

import strawberry
from graphql import GraphQLError

from app.domain.errors import (
    AUTHENTICATION_CODES,
    DomainError,
    ErrorCode as DomainErrorCode,
    InvalidInput,
    ServiceUnavailable,
)
from app.domain.locations import LocationInUse
from app.domain.order_capture import PickupUnavailable
from graphql_schema.types.routing import PickupAlternative

ErrorCode = strawberry.enum(DomainErrorCode, description="Stable, machine-readable error codes.")


@strawberry.interface(description="Something the client can fix or must know about. Never a server fault.")
class Error:
    code: ErrorCode = strawberry.field(description="Stable machine-readable code.")
    message: str = strawberry.field(description="Human-readable explanation, safe to show to staff.")
    field: list[str] | None = strawberry.field(
        description="Path of the input field at fault, e.g. [\"lines\", \"2\", \"quantity\"]; null when no single field is."
    )


@strawberry.type(description="One problem with one input field.")
class FieldError:
    code: ErrorCode
    message: str
    field: list[str]


@strawberry.type(description="The input was refused; nothing was written. `issues` lists every problem found.")
class InvalidInputError(Error):
    issues: list[FieldError] = strawberry.field(description="Every problem found, so all can be fixed at once.")


@strawberry.type(description="The referenced object does not exist or is not visible to the caller.")
class NotFoundError(Error):
    pass


@strawberry.type(description="The request conflicts with the current state (duplicate, illegal transition, stock).")
class ConflictError(Error):
    pass


@strawberry.type(description="The caller is not allowed to do this; nothing was written.")
class PermissionDeniedError(Error):
    pass


@strawberry.type(description="The pick-up store cannot hand over the whole order now; nothing was written.")
class PickupUnavailableError(Error):
    nearby_stores: list[PickupAlternative] = strawberry.field(
        description="Pick-up stores near the chosen one that can fill every line now, nearest first."
    )


@strawberry.type(description="The location still holds open allocations (code CONFLICT); nothing was written.")
class LocationInUseError(Error):
    open_allocations: int = strawberry.field(
        description="Open allocations at the location: fulfil, cancel or re-route them first."
    )


def error_from_domain(
    exc: DomainError,
) -> InvalidInputError | NotFoundError | ConflictError | PermissionDeniedError | PickupUnavailableError | LocationInUseError:
    """A mutation's typed error. SERVICE_UNAVAILABLE is not one: the request failed, not the input,
    so it is raised again and answered as a GraphQL error with `retryAfterSeconds` (and HTTP 503
    when nothing else in the request succeeded)."""
    if isinstance(exc, ServiceUnavailable):
        raise exc
    code = ErrorCode(exc.code)
    field = list(exc.field) or None
    if isinstance(exc, PickupUnavailable):
        nearby = [PickupAlternative.from_domain(store) for store in exc.nearby]
        return PickupUnavailableError(code=code, message=exc.message, field=field, nearby_stores=nearby)
    if isinstance(exc, LocationInUse):
        return LocationInUseError(code=code, message=exc.message, field=field, open_allocations=exc.open_allocations)
    if isinstance(exc, InvalidInput):
        issues = [FieldError(code=ErrorCode(i.code), message=i.message, field=list(i.field)) for i in exc.issues]
        return InvalidInputError(code=code, message=exc.message, field=field, issues=issues)
    if exc.code in (DomainErrorCode.NOT_FOUND, DomainErrorCode.UNKNOWN_SKU):
        return NotFoundError(code=code, message=exc.message, field=field)
    if exc.code is DomainErrorCode.FORBIDDEN or exc.code in AUTHENTICATION_CODES:
        return PermissionDeniedError(code=code, message=exc.message, field=field)
    return ConflictError(code=code, message=exc.message, field=field)


def graphql_error_from_domain(exc: DomainError, original: GraphQLError) -> GraphQLError:
    """The same code and field, as a GraphQL error for query fields (which have no union result)."""
    extensions: dict[str, object] = {"code": exc.code.value}
    if exc.field:
        extensions["field"] = list(exc.field)
    if isinstance(exc, InvalidInput):
        extensions["issues"] = [
            {"code": i.code.value, "message": i.message, "field": list(i.field)} for i in exc.issues
        ]
    if isinstance(exc, ServiceUnavailable):
        extensions["retryAfterSeconds"] = exc.retry_after_seconds
    return GraphQLError(exc.message, nodes=original.nodes, path=original.path, extensions=extensions)


# Union members every mutation may return besides its success payload.
CommonErrors = InvalidInputError | NotFoundError | ConflictError | PermissionDeniedError
MutationError = Annotated[CommonErrors, strawberry.union("MutationError")]
