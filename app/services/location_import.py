"""The location importer: each row through `LocationService.prepare` (validation and offline
geocoding, as `upsertLocation`) and `save` (one transaction: the location and its
`LocationCreated` / `LocationUpdated` event; nothing when it is unchanged).

A row is its own transaction: locations are few (hundreds, rarely thousands), and each one's
geocoding and inventory-copy refresh is per location anyway. Rows run several at a time
(import_lanes.py); rows sharing a code are written in file order, so the last one wins. A row that moves a location (point, kind) leaves the inventory
copies `storeAvailability` reads to a refresh after its commit; the batch ends by finishing any
refresh still owed, so copies are current when the import reports (and a short-lived `oms import`
process does not exit with a refresh half done).
"""

from __future__ import annotations

from collections.abc import Sequence

from app.domain.errors import Conflict
from app.domain.imports import ImportKind, RowIssue, SourceRow
from app.domain.location_drafts import LocationDraft
from app.domain.location_import import LOCATION_COLUMNS, draft_location, location_row_issues
from app.domain.locations import Location
from app.services.import_lanes import in_lanes
from app.services.imports import BatchOutcome, Drafted, ImportRun, tallied
from app.services.locations import LocationService

# A concurrent upsertLocation of the same code between the read and the guarded write: read again.
MAX_ATTEMPTS = 3


class LocationImporter:
    kind = ImportKind.LOCATIONS
    columns = LOCATION_COLUMNS

    def __init__(self, *, locations: LocationService):
        self._locations = locations

    def draft(self, row: SourceRow) -> LocationDraft | list[RowIssue]:
        return draft_location(row)

    async def write(self, batch: Sequence[Drafted[LocationDraft]], run: ImportRun) -> BatchOutcome:
        outcomes = await in_lanes(batch, lambda item: [item.draft.code.strip()], lambda item: self._write_row(item, run))
        await self._locations.repair_inventory_copies()
        return tallied(outcomes)

    async def _write_row(self, item: Drafted[LocationDraft], run: ImportRun) -> bool | list[RowIssue]:
        """True when written, False when unchanged, else the row's issues."""
        for attempt in range(MAX_ATTEMPTS):
            prepared = await self._locations.prepare(item.draft)
            if not isinstance(prepared, Location):
                return location_row_issues(item.line, item.draft, prepared)
            try:
                saved = await self._locations.save(run.principal, prepared, reason=run.reason)
            except Conflict as exc:
                if attempt == MAX_ATTEMPTS - 1:
                    return [RowIssue(item.line, "code", exc.message, exc.code)]
                continue
            return bool(saved.changed)
        raise AssertionError("unreachable")
