"""The customer importer: each row through `CustomerService.import_customer`, one transaction per
row (match by identity, email or phone; create or update; its `CustomerCreated` /
`CustomerUpdated` event; nothing when unchanged).

Rows run several at a time (import_lanes.py), but rows that share an email, a phone or a channel
identity go one after another in file order: two rows may describe one person (matched by email on
one and by identity on the next), so the second must see the first. (Two rows with no key in common
that match one stored customer, by email and by identity, may apply in either order.) A row the service refuses (an
unknown channel, an email or identity another customer holds, a clash on a channel) is rejected
with the column at fault; the rest of the batch goes on.
"""

from __future__ import annotations

from collections.abc import Sequence

from app.domain.customer_import import CUSTOMER_COLUMNS, CustomerRow, customer_keys_of, draft_customer
from app.domain.errors import Conflict, FieldIssue, InvalidInput
from app.domain.imports import ImportKind, RowIssue, SourceRow
from app.services.customers import CustomerService
from app.services.import_lanes import in_lanes
from app.services.imports import BatchOutcome, Drafted, ImportRun, tallied


class CustomerImporter:
    kind = ImportKind.CUSTOMERS
    columns = CUSTOMER_COLUMNS

    def __init__(self, *, customers: CustomerService):
        self._customers = customers

    def draft(self, row: SourceRow) -> CustomerRow | list[RowIssue]:
        return draft_customer(row)

    async def write(self, batch: Sequence[Drafted[CustomerRow]], run: ImportRun) -> BatchOutcome:
        return tallied(
            await in_lanes(batch, lambda item: customer_keys_of(item.draft.draft), lambda item: self._write_row(item, run))
        )

    async def _write_row(self, item: Drafted[CustomerRow], run: ImportRun) -> bool | list[RowIssue]:
        """True when written, False when unchanged, else the row's issues."""
        try:
            upsert = await self._customers.import_customer(run.principal, item.draft.draft, reason=run.reason)
        except InvalidInput as exc:
            return item.draft.issues(item.line, exc.issues)
        except Conflict as exc:
            return item.draft.issues(item.line, [FieldIssue(exc.code, exc.message, exc.field)])
        return bool(upsert.changed)
