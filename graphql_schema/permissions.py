"""Role checks, declared on fields. Scope and ownership are checked in services, for every transport."""

from __future__ import annotations

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
    """`permission_classes=[HasRole(Role.ADMIN, Role.CSR)]`."""
    allowed = frozenset(roles)
    names = ", ".join(sorted(r.value for r in roles))

    class _HasRole(BasePermission):
        message = f"Requires one of the roles: {names}."
        error_extensions = {"code": "FORBIDDEN"}

        def has_permission(self, source: Any, info: Info, **kwargs: Any) -> bool:
            principal = info.context.principal
            return principal is not None and principal.role in allowed

    _HasRole.__name__ = f"HasRole({names})"
    return _HasRole


STAFF = (Role.ADMIN, Role.CSR, Role.STORE_STAFF, Role.WAREHOUSE)
