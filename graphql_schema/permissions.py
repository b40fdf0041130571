"""Role checks, declared on fields. Scope and ownership are checked in services, for every transport."""

from __future__ import annotations

import functools
from typing import Any

from strawberry.permission import BasePermission

from app.domain.principals import Role
from graphql_schema.context import Info


class IsAuthenticated(BasePermission):
    message = "Authentication required: send an API key or a bearer token."
    error_extensions = {"code": "UNAUTHENTICATED"}

    def has_permission(self, source: Any, info: Info, **kwargs: Any) -> bool:
        return info.context.principal is not None


def HasRole(*roles: Role) -> type[BasePermission]:  # noqa: N802 - reads as a class at the use site
    """`permission_classes=[HasRole(Role.ADMIN, Role.CSR)]`: the caller must be authenticated and
    have one of `roles`. Otherwise the field answers a FORBIDDEN error (UNAUTHENTICATED when there
    is no caller at all, which the operation guard already refuses). Scope (which locations,
    channel, customer) is the service's to check."""
    return _has_role(frozenset(roles))


@functools.lru_cache(maxsize=None)
def _has_role(allowed: frozenset[Role]) -> type[BasePermission]:
    # One class per role set: Strawberry derives a schema directive from each permission class,
    # and two classes of one name would clash.
    names = ", ".join(sorted(r.value for r in allowed))

    class _HasRole(BasePermission):
        message = f"Requires one of the roles: {names}."
        error_extensions = {"code": "FORBIDDEN"}

        def has_permission(self, source: Any, info: Info, **kwargs: Any) -> bool:
            principal = info.context.principal
            return principal is not None and principal.role in allowed

    _HasRole.__name__ = _HasRole.__qualname__ = "HasRole_" + "_".join(sorted(r.value for r in allowed))
    return _HasRole


STAFF = (Role.ADMIN, Role.CSR, Role.STORE_STAFF, Role.WAREHOUSE)
