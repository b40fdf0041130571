"""Reading shipments, narrowed to what the caller's role and scope allow."""

from __future__ import annotations

import dataclasses

from app.domain.errors import Forbidden
from app.domain.pagination import Page, PageRequest
from app.domain.principals import Principal, Role
from app.domain.shipments import Shipment, ShipmentFilter
from app.repositories.shipments import ShipmentRepository


def can_see_shipment(principal: Principal, shipment: Shipment) -> bool:
    """Whoever may see the order may see the shipment; location staff only their locations' ones."""
    return principal.can_see_order(
        customer_id=shipment.customer_id, channel_id=shipment.channel_id, location_ids={shipment.location_id}
    )


def scoped_filter(principal: Principal, selection: ShipmentFilter) -> ShipmentFilter:
    """AND the caller's scope into a filter: it can only narrow a selection."""
    match principal.role:
        case Role.ADMIN | Role.CSR:
            return selection
        case Role.STORE_STAFF | Role.WAREHOUSE:
            wanted = set(selection.location_ids) or set(principal.location_ids)
            if not principal.location_ids or not wanted <= principal.location_ids:
                raise Forbidden("not allowed to list shipments of other locations", field=("filter", "locations"))
            return dataclasses.replace(selection, location_ids=tuple(sorted(wanted)))
        case Role.CUSTOMER:
            if principal.customer_id is None or selection.customer_id not in (None, principal.customer_id):
                raise Forbidden("customers may only list their own shipments")
            return dataclasses.replace(selection, customer_id=principal.customer_id)
        case Role.CHANNEL:
            if principal.channel_id is None or (selection.channel_ids and set(selection.channel_ids) != {principal.channel_id}):
                raise Forbidden("a channel may only list its own shipments", field=("filter", "channels"))
            return dataclasses.replace(selection, channel_ids=(principal.channel_id,))
    raise Forbidden("not allowed to list shipments")


class ShipmentQueryService:
    def __init__(self, *, shipments: ShipmentRepository):
        self._shipments = shipments

    async def by_ids(self, principal: Principal, ids: list[str]) -> list[Shipment]:
        return [s for s in await self._shipments.by_ids(ids) if can_see_shipment(principal, s)]

    async def get(self, principal: Principal, shipment_id: str) -> Shipment | None:
        found = await self.by_ids(principal, [shipment_id])
        return found[0] if found else None

    async def for_orders(self, principal: Principal, order_ids: list[str]) -> dict[str, list[Shipment]]:
        """One query for many orders (the `Order.shipments` DataLoader)."""
        found = await self._shipments.for_orders(order_ids)
        return {order_id: [s for s in shipments if can_see_shipment(principal, s)] for order_id, shipments in found.items()}

    async def page(self, principal: Principal, selection: ShipmentFilter, page: PageRequest) -> Page[Shipment]:
        return await self._shipments.page(scoped_filter(principal, selection), page)
