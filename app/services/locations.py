"""Onboarding locations: create or change one, deactivate and reactivate it (ADMIN; audited), and keep
the copies inventory documents hold of it current.

Each write is one transaction: read the stored location, write the new version (guarded on the
stored one) and append its `Location*` event. Nothing else is in it, so a retry repeats exactly
that.

**Inventory copies.** `storeAvailability` is one `$geoNear` on `inventory`, so every inventory
document copies its location's point, kind and active flag (InventoryRepository.location_copy).
A location may hold 100,000 of them, more than one transaction should write (rewriting 100,000
copies took 10–23 s on the busy 2-core machine, bench/location_move.py), so they are refreshed
after the commit instead, by one `update_many` in a background task, made safe by versions:
- the location's `copies_version` goes up with every change of a copied field, and the same
  transaction marks the location `copies_pending`;
- every inventory document records the `copies_version` it copied; a refresh rewrites only
  documents behind the location's, and a stock change writing a copy never replaces a newer one,
  so refreshes may repeat, race or run late without putting an old point back;
- once a refresh is through, the pending mark is cleared (unless the location changed again).
The mutation waits up to REFRESH_WAIT_SECONDS for the refresh (a store's few thousand levels take
well under a second) and says whether the copies are current; a bigger one finishes in the
background. If the process dies or the database fails first, the mark stays and the next refresh
(after any location write, and at start-up) finishes the job. One window remains: a stock change
that creates a level from a location read before the change and commits after the refresh leaves
that document behind until the location's next change (its version says so). Routing never reads
the copies: it reads the locations themselves.
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
from dataclasses import dataclass, replace

from app.domain.clock import utcnow
from app.domain.events import Actor
from app.domain.errors import FieldIssue, InvalidInput, NotFound, Validator
from app.domain.geocoding import Geocoded
from app.domain.location_drafts import LocationDraft, normalized_draft, validate_location
from app.domain.locations import (
    LOCATION_CREATED,
    LOCATION_DEACTIVATED,
    LOCATION_REACTIVATED,
    LOCATION_UPDATED,
    Location,
    LocationInUse,
    changed_fields,
    copied_fields_changed,
    location_event,
    with_active,
    with_state_of,
)
from app.domain.principals import Principal, Role, actor_of
from app.repositories.database import Mongo, Session
from app.repositories.events import EventRepository
from app.repositories.inventory import InventoryRepository
from app.repositories.locations import LocationRepository
from app.services.geocoding import Geocoder

log = logging.getLogger("oms.locations")

MAX_REASON_LENGTH = 500
REFRESH_WAIT_SECONDS = 2.0  # how long a write waits for its inventory copies before answering


@dataclass(frozen=True, slots=True)
class LocationWrite:
    """What a write did: the location now stored, whether it was new, and which fields (API names)
    changed; `changed` is empty when the input matched what was stored (nothing written).
    `copies_current`: inventory's copies of it (what storeAvailability reads) are up to date."""

    location: Location
    created: bool
    changed: tuple[str, ...]
    copies_current: bool = True


class LocationService:
    def __init__(
        self,
        *,
        mongo: Mongo,
        locations: LocationRepository,
        inventory: InventoryRepository,
        events: EventRepository,
        geocoder: Geocoder,
    ):
        self._mongo = mongo
        self._locations = locations
        self._inventory = inventory
        self._events = events
        self._geocoder = geocoder
        self._refresh: asyncio.Task[bool] | None = None
        self._refresh_again = False

    async def prepare(self, draft: LocationDraft) -> Location | tuple[FieldIssue, ...]:
        """One draft → the Location to save, or its issues (paths relative to the draft). Writes
        nothing and checks no permission: an importer calls it per row, then `save`.

        Without a point, the stored location's point is kept when the address is unchanged (a feed
        without coordinates does not replace surveyed ones with a postal-code centre); otherwise the
        address is geocoded offline (postal code, else city), and refused on ("address", "postalCode")
        (US) or ("address", "city") if nothing matches."""
        draft = normalized_draft(draft)
        geocoded: Geocoded | None = None
        if draft.point is None:
            stored = await self._locations.get(draft.code) if draft.code else None
            if stored is not None and stored.address == draft.address:
                geocoded = Geocoded(stored.point, stored.point_source)
            else:
                geocoded = await self._geocoder.locate_async(draft.address)
        return validate_location(draft, geocoded=geocoded)

    async def upsert(self, principal: Principal, draft: LocationDraft, *, reason: str | None = None) -> LocationWrite:
        """Create the location or change it, by code (ADMIN). InvalidInput with every issue when the
        draft is refused; nothing written then, nor when nothing changed."""
        principal.require_role(Role.ADMIN)
        _check_reason(reason, required=False)
        prepared = await self.prepare(draft)
        if not isinstance(prepared, Location):
            raise InvalidInput(prepared)
        return await self.save(principal, prepared, reason=reason)

    async def save(self, principal: Principal, location: Location, *, reason: str | None = None) -> LocationWrite:
        """Store a prepared location (ADMIN): new ones active at version 1, existing ones keep their
        active flag. One transaction: the location and its `LocationCreated` / `LocationUpdated`
        event; no write and no event when nothing changed. Then inventory copies are refreshed."""
        principal.require_role(Role.ADMIN)
        actor = actor_of(principal)

        async def work(session: Session) -> LocationWrite:
            stored = await self._locations.get(location.id, session=session)
            after = with_state_of(location, stored)
            if after == stored:
                return LocationWrite(location=after, created=False, changed=())
            copies_changed = stored is not None and copied_fields_changed(stored, after)
            await self._locations.save(
                after, previous_version=None if stored is None else stored.version, copies_changed=copies_changed, session=session
            )
            kind = LOCATION_CREATED if stored is None else LOCATION_UPDATED
            event = location_event(kind, stored, after, actor=actor, at=utcnow(), reason=reason)
            await self._events.append([event], session=session)
            return LocationWrite(location=after, created=stored is None, changed=changed_fields(stored, after))

        written = await self._mongo.transaction(work)
        return replace(written, copies_current=await self._refreshed()) if written.changed else written

    async def deactivate(self, principal: Principal, location_id: str, reason: str) -> LocationWrite:
        """Never route to the location again (ADMIN). Refused with LocationInUse (CONFLICT, with the
        count) while orders hold open allocations there: they must be fulfilled, cancelled or
        re-routed first. Already inactive: returned as is, nothing written. Audited as
        `LocationDeactivated` with the reason."""
        principal.require_role(Role.ADMIN)
        _check_reason(reason, required=True)
        actor = actor_of(principal)

        async def work(session: Session) -> LocationWrite:
            stored = await self._require(location_id, session)
            if not stored.active:
                return LocationWrite(location=stored, created=False, changed=())
            # In the same snapshot as the write: an allocation committed before it is counted. One
            # placed by a capture that read the location as active just before this commits can
            # still land (no write conflict between them); it is fulfilled like any other.
            open_allocations = await self._locations.count_open_allocations(location_id, session=session)
            if open_allocations:
                raise LocationInUse(location_id, open_allocations)
            return await self._write_active(stored, False, LOCATION_DEACTIVATED, actor=actor, reason=reason, session=session)

        written = await self._mongo.transaction(work)
        return replace(written, copies_current=await self._refreshed()) if written.changed else written

    async def reactivate(self, principal: Principal, location_id: str, reason: str | None = None) -> LocationWrite:
        """Route to the location again (ADMIN). Already active: returned as is, nothing written.
        Audited as `LocationReactivated`."""
        principal.require_role(Role.ADMIN)
        _check_reason(reason, required=False)
        actor = actor_of(principal)

        async def work(session: Session) -> LocationWrite:
            stored = await self._require(location_id, session)
            if stored.active:
                return LocationWrite(location=stored, created=False, changed=())
            return await self._write_active(stored, True, LOCATION_REACTIVATED, actor=actor, reason=reason, session=session)

        written = await self._mongo.transaction(work)
        return replace(written, copies_current=await self._refreshed()) if written.changed else written

    def refresh_copies_soon(self) -> asyncio.Task[bool]:
        """Starts refreshing the inventory copies of every location marked pending, in the
        background (one refresh per process at a time; a request during one makes it look again
        when done). Outside the caller's context: a request's database deadline does not apply."""
        if self._refresh is None or self._refresh.done():
            self._refresh = asyncio.get_running_loop().create_task(self._refresh_until_settled(), context=contextvars.Context())
        else:
            self._refresh_again = True
        return self._refresh

    async def repair_inventory_copies(self) -> bool:
        """Refreshes the inventory copies of every location marked pending, now. True when none is
        owed any more; a failure is logged, not raised (the change it follows has committed, and
        the mark stays for the next run)."""
        try:
            for location in await self._locations.with_pending_copies():
                refreshed = await self._inventory.refresh_location_copies(location)
                await self._locations.copies_done(location.id, location.copies_version)
                log.info("inventory copies refreshed", extra={"location_id": location.id, "documents": refreshed})
        except Exception:  # noqa: BLE001 - whatever failed, the pending mark makes the next run retry
            log.warning("inventory copies of a location could not be refreshed yet; retried on the next run", exc_info=True)
            return False
        return True

    async def stop(self) -> None:
        """Ends a refresh in progress (the pending mark stays: the next start-up finishes it)."""
        if self._refresh is not None and not self._refresh.done():
            self._refresh.cancel()
            await asyncio.gather(self._refresh, return_exceptions=True)

    async def _refresh_until_settled(self) -> bool:
        while True:
            self._refresh_again = False
            settled = await self.repair_inventory_copies()
            if not self._refresh_again:
                return settled

    async def _refreshed(self) -> bool:
        """Refresh now, waiting at most REFRESH_WAIT_SECONDS: whether the copies are current."""
        refresh = self.refresh_copies_soon()
        done, _ = await asyncio.wait({refresh}, timeout=REFRESH_WAIT_SECONDS)  # never cancels the refresh
        return refresh in done and not refresh.cancelled() and refresh.result()

    async def _require(self, location_id: str, session: Session) -> Location:
        stored = await self._locations.get(location_id, session=session)
        if stored is None:
            raise NotFound(f"unknown location {location_id}", field=("locationId",))
        return stored

    async def _write_active(
        self, stored: Location, active: bool, kind: str, *, actor: Actor, reason: str | None, session: Session
    ) -> LocationWrite:
        after = with_active(stored, active)
        await self._locations.save(after, previous_version=stored.version, copies_changed=True, session=session)
        await self._events.append([location_event(kind, stored, after, actor=actor, at=utcnow(), reason=reason)], session=session)
        return LocationWrite(location=after, created=False, changed=("active",))


def _check_reason(reason: str | None, *, required: bool) -> None:
    check = Validator()
    if reason is None or not reason.strip():
        check.check(not required, "give a reason", "reason")
    else:
        check.check(len(reason) <= MAX_REASON_LENGTH, f"is longer than {MAX_REASON_LENGTH} characters", "reason")
    check.raise_if_any()
