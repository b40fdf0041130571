"""Who is asking. Services check scope and ownership against a Principal, whatever the transport."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum

from app.domain.errors import Forbidden, Unauthenticated
from app.domain.events import Actor


class Role(StrEnum):
    ADMIN = "ADMIN"
    CSR = "CSR"
    STORE_STAFF = "STORE_STAFF"
    WAREHOUSE = "WAREHOUSE"
    CHANNEL = "CHANNEL"
    CUSTOMER = "CUSTOMER"


@dataclass(frozen=True, slots=True)
class Principal:
    """An authenticated caller. Scopes narrow what the role may touch:

    - STORE_STAFF / WAREHOUSE: `location_ids`
    - CHANNEL: `channel_id`
    - CUSTOMER: `customer_id`
    """

    subject: str
    role: Role
    location_ids: frozenset[str] = frozenset()
    channel_id: str | None = None
    customer_id: str | None = None

    @property
    def sees_all_orders(self) -> bool:
        return self.role in (Role.ADMIN, Role.CSR)

    def can_see_customer(self, customer_id: str) -> bool:
        if self.role in (Role.ADMIN, Role.CSR):
            return True
        return self.role is Role.CUSTOMER and self.customer_id is not None and self.customer_id == customer_id

    def can_see_order(self, *, customer_id: str, channel_id: str, location_ids: frozenset[str] | set[str]) -> bool:
        if self.sees_all_orders:
            return True
        if self.role is Role.CUSTOMER:
            return self.customer_id is not None and self.customer_id == customer_id
        if self.role is Role.CHANNEL:
            return self.channel_id is not None and self.channel_id == channel_id
        if self.role in (Role.STORE_STAFF, Role.WAREHOUSE):
            return bool(self.location_ids & set(location_ids))
        return False

    def can_work_location(self, location_id: str) -> bool:
        if self.role is Role.ADMIN:
            return True
        return self.role in (Role.STORE_STAFF, Role.WAREHOUSE) and location_id in self.location_ids

    def require_location(self, location_id: str) -> None:
        if not self.can_work_location(location_id):
            raise Forbidden(f"not allowed to act at location {location_id}")

    def require_role(self, *roles: Role) -> None:
        if self.role not in roles:
            raise Forbidden(f"role {self.role} may not do this")


def scope_problems(
    role: Role, *, location_ids: frozenset[str], channel_id: str | None, customer_id: str | None
) -> list[tuple[str, str]]:
    """(field, message) for every scope a role needs but lacks: a scoped role without its scope
    would otherwise see nothing at best, and at worst be read as unscoped somewhere."""
    problems: list[tuple[str, str]] = []
    if role in (Role.STORE_STAFF, Role.WAREHOUSE) and not location_ids:
        problems.append(("locations", f"{role} needs at least one location"))
    if role is Role.CHANNEL and not channel_id:
        problems.append(("channel", "CHANNEL needs a channel"))
    if role is Role.CUSTOMER and not customer_id:
        problems.append(("customer", "CUSTOMER needs a customer"))
    return problems


# The one scope each scoped role uses; ADMIN and CSR are unscoped.
SCOPE_OF_ROLE: Mapping[Role, str] = {
    Role.STORE_STAFF: "locations",
    Role.WAREHOUSE: "locations",
    Role.CHANNEL: "channel",
    Role.CUSTOMER: "customer",
}


def stray_scopes(role: Role, given: set[str] | frozenset[str]) -> list[tuple[str, str]]:
    """(field, message) for every scope given that the role does not use: refused rather than
    dropped, so a key is never made believing it is narrower (or other) than it is."""
    uses = SCOPE_OF_ROLE.get(role)
    why = f"{role} keys are scoped by {uses} only" if uses else f"{role} keys are not scoped"
    return [(name, f"does not apply: {why}") for name in sorted(given) if name != uses]


def principal_from_claims(claims: Mapping[str, object], *, prefix: str = "oms_") -> Principal:
    """A verified token's claims → Principal. Claims (with the default prefix):

    - `sub`: who (required);
    - `oms_role`: ADMIN, CSR, STORE_STAFF, WAREHOUSE, CHANNEL or CUSTOMER (required);
    - `oms_locations`: list of location codes (STORE_STAFF, WAREHOUSE);
    - `oms_channel`: channel code (CHANNEL);
    - `oms_customer`: customer id (CUSTOMER).
    """
    subject = claims.get("sub")
    role_name = claims.get(f"{prefix}role")
    if not isinstance(subject, str) or not subject:
        raise Unauthenticated("token has no subject")
    if not isinstance(role_name, str) or role_name not in Role.__members__:
        raise Unauthenticated("token has no valid role")
    locations = claims.get(f"{prefix}locations", [])
    channel = claims.get(f"{prefix}channel")
    customer = claims.get(f"{prefix}customer")
    if not isinstance(locations, list) or not all(isinstance(x, str) and x for x in locations):
        raise Unauthenticated("token locations must be a list of location codes")
    if (channel is not None and not isinstance(channel, str)) or (customer is not None and not isinstance(customer, str)):
        raise Unauthenticated("token channel and customer must be strings")
    role = Role(role_name)
    scope = {
        "location_ids": frozenset(locations) if role in (Role.STORE_STAFF, Role.WAREHOUSE) else frozenset(),
        "channel_id": channel if role is Role.CHANNEL else None,
        "customer_id": customer if role is Role.CUSTOMER else None,
    }
    if scope_problems(role, **scope):  # type: ignore[arg-type]
        raise Unauthenticated(f"token lacks the scope its role {role} needs")
    return Principal(subject=f"jwt:{subject}", role=role, **scope)  # type: ignore[arg-type]


SYSTEM = Principal(subject="system", role=Role.ADMIN)
# Stands in for an unauthenticated caller wherever a principal is needed: scoped to nothing, sees nothing.
NOBODY = Principal(subject="anonymous", role=Role.CUSTOMER)
ANONYMOUS_ADMIN = Principal(subject="anonymous-dev-admin", role=Role.ADMIN)


def actor_of(principal: Principal) -> Actor:
    """Who to record in events for a change this principal made."""
    return Actor(subject=principal.subject, role=principal.role.value)
