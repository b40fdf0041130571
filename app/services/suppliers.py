"""Suppliers and their catalogue: admin maintenance (audited), reads."""

from __future__ import annotations

from dataclasses import asdict, replace

from app.domain.clock import utcnow
from app.domain.errors import ErrorCode, NotFound, Validator
from app.domain.events import DomainEvent, field_changes
from app.domain.ids import new_id
from app.domain.principals import Principal, Role, actor_of
from app.domain.suppliers import Supplier, SupplierItem, check_item, check_supplier
from app.repositories.database import Mongo, Session
from app.repositories.events import EventRepository
from app.repositories.products import ProductRepository
from app.repositories.suppliers import SupplierRepository


def _event(type_: str, aggregate_id: str, principal: Principal, payload: dict[str, object], sku: str | None = None) -> DomainEvent:
    return DomainEvent(
        id=new_id(), type=type_, aggregate_type="Supplier", aggregate_id=aggregate_id, at=utcnow(),
        actor=actor_of(principal), payload=payload, sku=sku,
    )


class SupplierService:
    def __init__(self, *, mongo: Mongo, suppliers: SupplierRepository, products: ProductRepository, events: EventRepository):
        self._mongo = mongo
        self._suppliers = suppliers
        self._products = products
        self._events = events

    async def all(self, principal: Principal) -> list[Supplier]:
        principal.require_role(Role.ADMIN)
        return await self._suppliers.all()

    async def by_codes(self, principal: Principal, codes: list[str]) -> list[Supplier]:
        """For nested fields: staff who receive a PO see its supplier."""
        principal.require_role(Role.ADMIN, Role.WAREHOUSE, Role.STORE_STAFF)
        return await self._suppliers.by_codes(codes)

    async def items_for_skus(self, principal: Principal, skus: list[str]) -> list[SupplierItem]:
        principal.require_role(Role.ADMIN)
        return await self._suppliers.items_for_skus(skus)

    async def items_of(self, principal: Principal, supplier_code: str) -> list[SupplierItem]:
        principal.require_role(Role.ADMIN)
        return await self._suppliers.items_of(supplier_code)

    async def save(self, principal: Principal, supplier: Supplier) -> Supplier:
        """Creates or updates by code (SupplierCreated / SupplierUpdated); nothing is written when unchanged."""
        principal.require_role(Role.ADMIN)
        check_supplier(supplier)

        async def work(session: Session) -> Supplier:
            found = await self._suppliers.by_codes([supplier.code], session=session)
            before = found[0] if found else None
            after = replace(supplier, version=(before.version + 1) if before else 1, updated_at=utcnow())
            if before is not None:
                changes = field_changes(_fields(before), _fields(after))
                if not changes:
                    return before
                event = _event("SupplierUpdated", supplier.code, principal, {"changes": changes})
            else:
                event = _event("SupplierCreated", supplier.code, principal, {"supplier": _fields(after)})
            await self._suppliers.save(after, session=session)
            await self._events.append([event], session=session)
            return after

        return await self._mongo.transaction(work)

    async def save_item(self, principal: Principal, item: SupplierItem) -> SupplierItem:
        """Puts a SKU in a supplier's catalogue or changes its terms (SupplierItemSet)."""
        principal.require_role(Role.ADMIN)
        check_item(item)
        check = Validator()
        check.check(bool(await self._suppliers.by_codes([item.supplier_code])), f"unknown supplier {item.supplier_code!r}",
                    "supplier", code=ErrorCode.NOT_FOUND)
        check.check(bool(await self._products.by_skus([item.sku])), f"unknown SKU {item.sku!r}", "sku", code=ErrorCode.UNKNOWN_SKU)
        check.raise_if_any()

        async def work(session: Session) -> SupplierItem:
            before = await self._suppliers.save_item(item, session=session)
            if before != item:
                payload = {"item": asdict(item), "before": asdict(before) if before else None}
                await self._events.append([_event("SupplierItemSet", item.supplier_code, principal, payload, sku=item.sku)], session=session)
            return item

        return await self._mongo.transaction(work)

    async def supplier(self, code: str, *, session: Session | None = None) -> Supplier:
        found = await self._suppliers.by_codes([code], session=session)
        if not found:
            raise NotFound(f"unknown supplier {code!r}", field=("supplier",))
        return found[0]


def _fields(supplier: Supplier) -> dict[str, object]:
    return {
        "name": supplier.name,
        "contactEmail": supplier.contact_email,
        "contactPhone": supplier.contact_phone,
        "leadTimeDays": supplier.lead_time_days,
        "orderCutoff": supplier.order_cutoff,
        "minOrderValueCents": supplier.min_order_value_cents,
        "currency": supplier.currency,
    }
