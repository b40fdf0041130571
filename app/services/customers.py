"""Customer 360°: profile, identities across channels and lifetime figures, scoped to the caller."""

from __future__ import annotations

from app.domain.customers import Customer, LifetimeFigures
from app.domain.errors import Forbidden
from app.domain.pagination import Page, PageRequest
from app.domain.principals import Principal, Role
from app.repositories.customers import CustomerRepository


class CustomerService:
    def __init__(self, *, customers: CustomerRepository):
        self._customers = customers

    async def by_ids(self, principal: Principal, ids: list[str]) -> list[Customer]:
        """Only the customers the caller may see; the rest are simply absent (no existence leak)."""
        visible = [customer_id for customer_id in ids if principal.can_see_customer(customer_id)]
        return await self._customers.by_ids(visible) if visible else []

    async def search(self, principal: Principal, text: str | None, page: PageRequest) -> Page[Customer]:
        if principal.role not in (Role.ADMIN, Role.CSR):
            raise Forbidden("only customer service and admins may search customers")
        return await self._customers.search(text, page)

    async def lifetime_figures(self, principal: Principal, ids: list[str]) -> dict[str, LifetimeFigures]:
        visible = [customer_id for customer_id in ids if principal.can_see_customer(customer_id)]
        return await self._customers.lifetime_figures(visible) if visible else {}
