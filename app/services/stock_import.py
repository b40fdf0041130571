"""The stock importer: sets on hand (and optionally safety stock, reorder point and quantity, bin)
per SKU × location through the inventory path, a batch per transaction.

One batch: the SKUs and locations are checked (two reads; unknown ones reject their rows), the
batch's SKUs are queued in-process (the per-SKU `KeyedLocks` that captures and stock changes use),
then one transaction reads the batch's levels in its snapshot, refuses rows whose count is below
what is reserved, skips rows that change nothing, writes the rest with guarded updates that never
touch `reserved`, appends one `StockLevelChanged` (cause `IMPORT`, with the import's id and the
row's line) per written row, and lets backorders waiting for those SKUs take what became
available. A transient error (a write conflict with a capture) retries the whole transaction, so
a batch commits entirely or not at all; repeating it changes nothing.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import datetime

from app.domain.clock import utcnow
from app.domain.errors import ErrorCode
from app.domain.events import Actor
from app.domain.imports import ImportKind, RowIssue, SourceRow
from app.domain.inventory import InventoryLevel, StockChangeCause, empty_level, stock_level_changed
from app.domain.locations import Location
from app.domain.stock_import import STOCK_COLUMNS, StockDraft, below_reserved, draft_stock, imported_level, same_stock
from app.repositories.database import Mongo, Session
from app.repositories.events import EventRepository
from app.repositories.inventory import InventoryRepository
from app.repositories.locations import LocationRepository
from app.repositories.orders import OrderRepository
from app.repositories.products import ProductRepository
from app.services.backorders import BackorderService
from app.services.contention import KeyedLocks
from app.services.imports import BatchOutcome, Drafted, ImportRun

# A guard that fails means a level changed between the snapshot read and the write, which the
# transaction's own conflict detection should already have caught; retry from a fresh read.
MAX_GUARD_RETRIES = 5


class _StaleLevels(Exception):
    pass


class StockImporter:
    kind = ImportKind.STOCK
    columns = STOCK_COLUMNS

    def __init__(
        self,
        *,
        mongo: Mongo,
        inventory: InventoryRepository,
        products: ProductRepository,
        locations: LocationRepository,
        orders: OrderRepository,
        events: EventRepository,
        backorders: BackorderService,
        queue: KeyedLocks,
    ):
        self._mongo = mongo
        self._inventory = inventory
        self._products = products
        self._locations = locations
        self._orders = orders
        self._events = events
        self._backorders = backorders
        self._queue = queue

    def draft(self, row: SourceRow) -> StockDraft | list[RowIssue]:
        return draft_stock(row)

    async def write(self, batch: Sequence[Drafted[StockDraft]], run: ImportRun) -> BatchOutcome:
        known_skus, found = await asyncio.gather(
            self._products.existing_skus(sorted({item.draft.sku for item in batch})),
            self._locations.by_ids(sorted({item.draft.location_id for item in batch})),
        )
        locations = {location.id: location for location in found}
        refused: list[RowIssue] = []
        valid: list[Drafted[StockDraft]] = []
        for item in batch:
            before = len(refused)
            if item.draft.sku not in known_skus:
                refused.append(RowIssue(item.line, "sku", f"unknown SKU {item.draft.sku!r}", ErrorCode.UNKNOWN_SKU))
            if item.draft.location_id not in locations:
                refused.append(
                    RowIssue(item.line, "location", f"unknown location {item.draft.location_id!r}", ErrorCode.NOT_FOUND)
                )
            if len(refused) == before:
                valid.append(item)
        if not valid:
            return BatchOutcome(rejected=tuple(refused))

        async def work(session: Session) -> BatchOutcome:
            return await self._apply(session, valid, locations, run, tuple(refused))

        async with self._queue.hold({item.draft.sku for item in valid}):
            for attempt in range(MAX_GUARD_RETRIES):
                try:
                    return await self._mongo.transaction(work)
                except _StaleLevels:
                    if attempt == MAX_GUARD_RETRIES - 1:
                        raise
        raise AssertionError("unreachable")

    async def _apply(
        self,
        session: Session,
        batch: list[Drafted[StockDraft]],
        locations: dict[str, Location],
        run: ImportRun,
        refused: tuple[RowIssue, ...],
    ) -> BatchOutcome:
        at = utcnow()
        keys = sorted({item.draft.key for item in batch})
        current = {(level.sku, level.location_id): level for level in await self._inventory.by_keys(keys, session=session)}
        rejected = list(refused)
        unchanged = 0
        # In file order: a key that appears twice ends as its last row says, with an event per change.
        changes: list[tuple[int, InventoryLevel, InventoryLevel, Location | None]] = []
        for item in batch:
            draft = item.draft
            stored = current.get(draft.key)
            before = stored or empty_level(draft.sku, draft.location_id)
            refusal = below_reserved(item.line, before, draft)
            if refusal is not None:
                rejected.append(refusal)
                continue
            after = imported_level(before, draft)
            if stored is not None and same_stock(before, after):
                unchanged += 1
                continue
            changes.append((item.line, before, after, None if stored is not None else locations[draft.location_id]))
            current[draft.key] = after
        if not changes:
            return BatchOutcome(unchanged=unchanged, rejected=tuple(rejected))
        written = await self._inventory.write_imported(
            [(after, location) for _, _, after, location in changes], at=at, session=session
        )
        if not written:
            raise _StaleLevels()
        actor = run.actor
        await self._events.append(
            [
                stock_level_changed(
                    before,
                    after,
                    cause=StockChangeCause.IMPORT,
                    actor=actor,
                    at=at,
                    reason=run.reason,
                    details={"importId": run.id, "importLine": line},
                )
                for line, before, after, _ in changes
            ],
            session=session,
        )
        filled = await self._fill_backorders(session, changes, actor=actor, at=at)
        return BatchOutcome(written=len(changes), unchanged=unchanged, rejected=tuple(rejected), backorders_filled=filled)

    async def _fill_backorders(
        self,
        session: Session,
        changes: list[tuple[int, InventoryLevel, InventoryLevel, Location | None]],
        *,
        actor: Actor,
        at: datetime,
    ) -> int:
        """Orders waiting for SKUs whose availability grew take it, in this transaction: one query finds
        which SKUs anyone waits for, so a batch of thousands of new levels costs one read, not thousands."""
        grown = sorted({(after.sku, after.location_id) for _, before, after, _ in changes if after.available > before.available})
        if not grown:
            return 0
        waiting = await self._orders.skus_waiting(sorted({sku for sku, _ in grown}), session=session)
        keys = [key for key in grown if key[0] in waiting]
        if not keys:
            return 0
        return len(await self._backorders.fill(session, keys, actor=actor, at=at))
