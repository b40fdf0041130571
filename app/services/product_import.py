"""The product importer: rows validated like `upsertProducts` items, written through
`ProductService.write_batch` (one transaction per batch, a `ProductCreated` / `ProductUpdated`
event per written product, nothing for unchanged ones).

`write_batch` refuses a whole batch that repeats a SKU or a barcode, or gives a barcode that a
product outside the batch holds. So a batch of rows is cut, in file order, into parts without
repeats (a SKU given twice ends as its last row says, as in the stock import), and a part refused
for taken barcodes is written again without the rows at fault, which are rejected: a row is written
with its event, or not at all, and the other rows of its part still go in.
"""

from __future__ import annotations

from collections.abc import Sequence

from app.domain.errors import Conflict, InvalidInput
from app.domain.gtin import gtin14
from app.domain.imports import ImportKind, RowIssue, SourceRow
from app.domain.product_import import PRODUCT_COLUMNS, draft_product
from app.domain.products import MAX_BATCH, Product
from app.services.imports import BatchOutcome, Drafted, ImportRun
from app.services.products import ProductService

# A barcode taken by a concurrent write between the check and the write: the part is tried again.
MAX_ATTEMPTS = 3


class ProductImporter:
    kind = ImportKind.PRODUCTS
    columns = PRODUCT_COLUMNS

    def __init__(self, *, products: ProductService):
        self._products = products

    def draft(self, row: SourceRow) -> Product | list[RowIssue]:
        return draft_product(row)

    async def write(self, batch: Sequence[Drafted[Product]], run: ImportRun) -> BatchOutcome:
        written = unchanged = 0
        rejected: list[RowIssue] = []
        for part in _without_repeats(batch):
            part_written, part_unchanged, part_rejected = await self._write_part(part, run)
            written += part_written
            unchanged += part_unchanged
            rejected += part_rejected
        return BatchOutcome(written=written, unchanged=unchanged, rejected=tuple(rejected))

    async def _write_part(self, part: list[Drafted[Product]], run: ImportRun) -> tuple[int, int, list[RowIssue]]:
        rejected: list[RowIssue] = []
        attempts = 0
        while part:
            try:
                upsert = await self._products.write_batch(run.principal, [item.draft for item in part], reason=run.reason)
            except InvalidInput as exc:
                at_fault = _rows_at_fault(part, exc)
                if not at_fault:
                    raise
                rejected += at_fault.values()
                part = [item for index, item in enumerate(part) if index not in at_fault]
                continue
            except Conflict:
                attempts += 1
                if attempts >= MAX_ATTEMPTS:
                    raise
                continue
            return len(upsert.created) + len(upsert.updated), len(upsert.unchanged), rejected
        return 0, 0, rejected


def _without_repeats(batch: Sequence[Drafted[Product]]) -> list[list[Drafted[Product]]]:
    """Consecutive parts of the batch, each without a repeated SKU or barcode and at most
    MAX_BATCH long (`--batch-size` may be larger than a write_batch takes)."""
    parts: list[list[Drafted[Product]]] = [[]]
    skus: set[str] = set()
    barcodes: set[str] = set()
    for item in batch:
        barcode = gtin14(item.draft.barcode) if item.draft.barcode else None
        repeated = item.draft.sku in skus or (barcode is not None and barcode in barcodes)
        if repeated or len(parts[-1]) >= MAX_BATCH:
            parts.append([])
            skus.clear()
            barcodes.clear()
        parts[-1].append(item)
        skus.add(item.draft.sku)
        if barcode is not None:
            barcodes.add(barcode)
    return [part for part in parts if part]


def _rows_at_fault(part: list[Drafted[Product]], refused: InvalidInput) -> dict[int, RowIssue]:
    """The part's rows named by the refusal's issues (paths ("products", "<index>", <field>))."""
    out: dict[int, RowIssue] = {}
    for issue in refused.issues:
        path = issue.field
        if len(path) >= 2 and path[0] == "products" and path[1].isdigit() and int(path[1]) < len(part):
            index = int(path[1])
            out.setdefault(index, RowIssue(part[index].line, path[2] if len(path) > 2 else "", issue.message, issue.code))
    return out
