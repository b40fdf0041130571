"""Who is asking. Services check scope and ownership against a Principal, whatever the transport."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from app.domain.errors import Forbidden
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


SYSTEM = Principal(subject="system", role=Role.ADMIN)
# Stands in for an unauthenticated caller wherever a principal is needed: scoped to nothing, sees nothing.
NOBODY = Principal(subject="anonymous", role=Role.CUSTOMER)
ANONYMOUS_ADMIN = Principal(subject="anonymous-dev-admin", role=Role.ADMIN)


def actor_of(principal: Principal) -> Actor:
    """Who to record in events for a change this principal made."""
    return Actor(subject=principal.subject, role=principal.role.value)
