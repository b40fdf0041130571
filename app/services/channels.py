"""Sales channels as reference data: creating and changing them (ADMIN, audited).

One transaction reads the stored channel, replaces it when the input differs, and appends
`ChannelCreated` or `ChannelUpdated`; the same input again writes and appends nothing. A channel is
never deleted (orders, API keys and routing policies name it): `active: false` stops capture.
"""

from __future__ import annotations

from dataclasses import dataclass

from app.domain.channels import Channel, upsert_event, validate_channel
from app.domain.clock import utcnow
from app.domain.principals import Principal, Role, actor_of
from app.repositories.channels import ChannelRepository
from app.repositories.database import Mongo, Session
from app.repositories.events import EventRepository


@dataclass(frozen=True, slots=True)
class ChannelUpsert:
    channel: Channel
    created: bool  # it did not exist before
    changed: bool  # it was written (created or different from what was stored)


class ChannelService:
    def __init__(self, *, mongo: Mongo, channels: ChannelRepository, events: EventRepository):
        self._mongo = mongo
        self._channels = channels
        self._events = events

    async def upsert(self, principal: Principal, channel: Channel, *, reason: str | None = None) -> ChannelUpsert:
        """ADMIN only (Forbidden otherwise). Create or replace by code; InvalidInput at ("code",) or
        ("name",) for a bad code or name, nothing written then."""
        principal.require_role(Role.ADMIN)
        wanted = validate_channel(channel)
        actor = actor_of(principal)

        async def work(session: Session) -> ChannelUpsert:
            found = await self._channels.by_ids([wanted.id], session=session)
            before = found[0] if found else None
            event = upsert_event(before, wanted, actor=actor, at=utcnow(), reason=reason)
            if event is not None:
                await self._channels.put(wanted, session=session)
                await self._events.append([event], session=session)
            return ChannelUpsert(channel=wanted, created=before is None, changed=event is not None)

        return await self._mongo.transaction(work)
