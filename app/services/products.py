"""The catalogue as reference data: upserting products in batches (ADMIN, audited) and finding them.

A batch is one transaction: it reads the stored versions of its SKUs and the holders of its
barcodes, writes only the products that are new or differ, and appends one `ProductCreated` or
`ProductUpdated` per written product. Re-sending the same batch writes nothing and appends nothing,
so it is safe to retry. Nothing is ever deleted: `active: false` discontinues a product while
orders, stock and events keep referring to it.

A bulk importer calls `app.domain.products.validate_product` per row, then `write_batch` with the
valid ones: the same rules and the same audit trail as the mutation.
"""

from __future__ import annotations

from collections.abc import Sequence

from app.domain.clock import utcnow
from app.domain.errors import Validator
from app.domain.pagination import Page, PageRequest
from app.domain.principals import Principal, Role, actor_of
from app.domain.products import (
    Product,
    ProductDraft,
    ProductFilter,
    ProductUpsert,
    barcode_taken_issues,
    check_batch,
    check_filter,
    plan_upsert,
    upsert_events,
    validate_products,
)
from app.repositories.database import Mongo, Session
from app.repositories.events import EventRepository
from app.repositories.products import ProductRepository


class ProductService:
    def __init__(self, *, mongo: Mongo, products: ProductRepository, events: EventRepository):
        self._mongo = mongo
        self._products = products
        self._events = events

    async def index_unsearchable(self) -> int:
        """Start-up: products stored before search existed become searchable."""
        return await self._products.index_unsearchable()

    async def page(self, selection: ProductFilter, page: PageRequest) -> Page[Product]:
        """Products by SKU. Reference data: readable by every authenticated caller."""
        check_filter(selection)
        return await self._products.page(selection, page)

    async def upsert(self, principal: Principal, drafts: Sequence[ProductDraft], *, reason: str | None = None) -> ProductUpsert:
        """ADMIN only (Forbidden otherwise). Validates every draft (InvalidInput with paths
        ("products", "<index>", <field>); nothing written when any item is invalid), then `write_batch`."""
        principal.require_role(Role.ADMIN)
        return await self.write_batch(principal, validate_products(drafts), reason=reason)

    async def write_batch(
        self, principal: Principal, products: Sequence[Product], *, reason: str | None = None
    ) -> ProductUpsert:
        """Create or replace already-validated products (from `validate_product`) by SKU, in one
        transaction with their events; unchanged ones are neither written nor evented. ADMIN only.
        Refuses the whole batch (InvalidInput at ("products", "<index>", "sku"|"barcode")) when a SKU
        or barcode repeats within it, or a barcode belongs to a product outside it; 1 to 500 products."""
        principal.require_role(Role.ADMIN)
        check_batch(products)
        batch = list(products)
        actor = actor_of(principal)

        async def work(session: Session) -> ProductUpsert:
            stored = {p.sku: p for p in await self._products.by_skus([p.sku for p in batch], session=session)}
            outcome = plan_upsert(batch, stored)
            changed = set(outcome.created) | set(outcome.updated)
            written = [p for p in batch if p.sku in changed]
            holders = await self._products.holders_of([p.barcode for p in written if p.barcode], session=session)
            # Once the batch is written, its own products hold the barcodes it gives them.
            holders = {key: sku for key, sku in holders.items() if sku not in changed}
            check = Validator(barcode_taken_issues(batch, holders))
            check.raise_if_any()
            await self._products.write(written, session=session)
            await self._events.append(upsert_events(outcome, stored, actor=actor, at=utcnow(), reason=reason), session=session)
            return outcome

        return await self._mongo.transaction(work)
