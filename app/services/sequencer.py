"""The sequencer: gives every committed event its `seq`, in commit order, exactly once.

Writers insert events without a seq (a global counter document would serialize every write). One
leader among the instances, elected through a lease, tails a change stream of inserts (commit order)
and stamps consecutive seqs in batches; each batch's transaction also stores the stream's resume
token and checks the leader's epoch (fencing), so a restart resumes exactly where the last committed
batch ended and a deposed leader cannot stamp. After each commit the stamped events are handed to
`on_sequenced` (the fan-out). In memory mode, instances that do not lead follow the relay state and
hand the newly stamped events to their own fan-out. Instances that share a fan-out with the leader
(a `fanout_group`: the workers of one `oms serve` on its local broker) receive its publishes and
follow only while the leader is outside their group (another host, or `oms relay`).

Degraded mode: when the stored token has left the oplog (or on first start), the leader opens a
fresh stream, then stamps every still-unstamped event in `_id` order before continuing with the
stream. Nothing is lost or stamped twice; only the backlog's order is insertion rather than commit
order, which no client can observe since none of it was delivered before.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace

from app import metrics
from app.domain.events import DomainEvent
from app.repositories.database import Mongo, Session
from app.repositories.events import EventRepository, HistoryLost, InsertFeed, ResumeToken
from app.repositories.sequencer import SEQUENCER, Lease, LeaseRepository, RelayStateRepository

log = logging.getLogger("oms.sequencer")

OnSequenced = Callable[[list[DomainEvent]], Awaitable[None]]


class LostLeadership(Exception):
    pass


class _StampedBefore(Exception):
    """Some events of a batch had their seq already (the backlog scan's): stamp it again, looking."""


@dataclass(frozen=True, slots=True)
class _Term:
    """One leadership: its lease, and the one session all its stamping transactions run in, named in
    the lease so that a successor can abort a transaction this leader left open by dying."""

    lease: Lease
    session: Session


# How long a leader's silence lasts before another process takes over: the longest pause in
# delivery after a leader dies (plus one retry interval, an eighth of it). Renewed every third.
LEASE_SECONDS = 2.0


def instance_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


class Sequencer:
    def __init__(
        self,
        *,
        mongo: Mongo,
        events: EventRepository,
        leases: LeaseRepository,
        relay_state: RelayStateRepository,
        on_sequenced: OnSequenced,
        follow: bool,
        owner: str | None = None,
        lease_seconds: float = LEASE_SECONDS,
        batch_size: int = 500,
        fanout_group: str | None = None,
    ):
        self._mongo = mongo
        self._events = events
        self._leases = leases
        self._relay_state = relay_state
        self._on_sequenced = on_sequenced
        self._follow = follow
        # The group ends the owner's id, so a candidate sees from the lease whether its leader is a sibling.
        self._group_suffix = f":{fanout_group}" if fanout_group else None
        self.owner = owner or instance_id() + (self._group_suffix or "")
        self._lease_seconds = lease_seconds
        self._batch_size = batch_size
        self._next_seq = 1
        self._followed: int | None = None
        self._follower: asyncio.Task[None] | None = None
        self.leading = asyncio.Event()

    @property
    def following(self) -> bool:
        """Whether this candidate is reading the leader's batches back from MongoDB right now."""
        return self._follower is not None and not self._follower.done()

    async def run(self) -> None:
        """Lead when the lease is free, otherwise follow (memory mode) and keep trying. Runs until cancelled."""
        retry = self._lease_seconds / 8
        try:
            while True:
                lease = await self._try_acquire()
                if lease is None:
                    if self._follow and await self._leader_outside_group():
                        if not self.following:
                            self._follower = asyncio.create_task(self._follow_stamps())
                    elif self.following:
                        # A sibling leads and publishes to our fan-out: stop reading it back (the hub fills any gap).
                        self._follower = await _cancel(self._follower)
                        self._followed = None
                    await asyncio.sleep(retry)
                    continue
                self._follower = await _cancel(self._follower)
                try:
                    await self._lead(lease)
                except LostLeadership as exc:
                    log.warning("sequencer lost its lease", extra={"owner": self.owner, "why": str(exc)})
                except Exception:  # noqa: BLE001 - database trouble: step down, retry after a pause
                    log.exception("sequencer failed; stepping down")
                    await asyncio.sleep(retry)
                finally:
                    if self.leading.is_set():
                        metrics.SEQUENCER_LEADER.set(0)
                    self.leading.clear()
                    with contextlib.suppress(Exception):
                        await asyncio.shield(self._leases.release(SEQUENCER, lease))
        finally:
            self._follower = await _cancel(self._follower)

    async def _leader_outside_group(self) -> bool:
        if self._group_suffix is None:
            return True
        try:
            holder = await self._leases.holder(SEQUENCER)
        except Exception:  # noqa: BLE001 - a database hiccup: decide on the next round
            return self.following
        return holder is not None and holder.owner is not None and not holder.owner.endswith(self._group_suffix)

    async def _try_acquire(self) -> Lease | None:
        try:
            return await self._leases.acquire(SEQUENCER, self.owner, self._lease_seconds)
        except Exception:  # noqa: BLE001 - a database hiccup: try again on the next round
            log.exception("sequencer could not reach its lease")
            return None

    async def _follow_stamps(self) -> None:
        """Hand on what the leader stamps, read back by seq (a follower never stamps)."""
        try:
            async with self._relay_state.progress() as progress:
                # Read after the stream opened, so no batch falls between the two.
                current = await self._relay_state.last_seq()
                if self._followed is None:
                    self._followed = current
                await self._hand_on_upto(current)
                async for upto in progress:
                    await self._hand_on_upto(upto)
        except Exception:  # noqa: BLE001 - restarted by run() on its next round
            log.exception("following the sequencer failed")

    async def _hand_on_upto(self, upto: int) -> None:
        last = self._followed or 0
        while last < upto:
            chunk_end = min(upto, last + self._batch_size)
            chunk = await self._events.seq_range(last, chunk_end)
            last = self._followed = chunk_end
            if chunk:
                await self._hand_on(chunk)

    async def _lead(self, lease: Lease) -> None:
        await self._abort_predecessor(lease)
        state = await self._relay_state.fence(lease.epoch)
        if state.epoch != lease.epoch:
            raise LostLeadership(f"epoch {lease.epoch} is behind {state.epoch}")
        # Read after fencing: every batch of an older leader has either committed (and is counted) or will abort.
        self._next_seq = max(await self._events.newest_seq(), state.last_seq) + 1
        async with self._mongo.session() as session:
            if not await self._leases.record_session(SEQUENCER, lease, session.session_id):
                raise LostLeadership("lease taken over")
            term = _Term(lease, session)
            self.leading.set()
            metrics.SEQUENCER_LEADER.set(1)
            metrics.SEQUENCER_LEADERSHIPS.inc()
            log.info("sequencer leads", extra={"owner": self.owner, "epoch": lease.epoch, "next_seq": self._next_seq})
            keeper = asyncio.create_task(self._keep_lease(lease))
            stamper = asyncio.create_task(self._stamp_from(state.resume_token, term))
            try:
                done, _ = await asyncio.wait({keeper, stamper}, return_when=asyncio.FIRST_COMPLETED)
                for task in done:
                    task.result()
            finally:
                await _cancel(keeper)
                await _cancel(stamper)

    async def _abort_predecessor(self, lease: Lease) -> None:
        """A leader killed mid-batch leaves its transaction open, holding the relay state's lock for up
        to a minute; end it now so the takeover is not stalled behind it."""
        session_id = await self._leases.predecessor_session(SEQUENCER, lease)
        if session_id is None:
            return
        metrics.SEQUENCER_TAKEOVERS.inc()
        try:
            await self._mongo.kill_session(session_id)
        except Exception:  # noqa: BLE001 - e.g. not authorized: the server reaps it at its lifetime limit
            log.warning("could not end the previous leader's session", exc_info=True)

    async def _keep_lease(self, lease: Lease) -> None:
        while True:
            await asyncio.sleep(self._lease_seconds / 3)
            if not await self._leases.renew(SEQUENCER, lease, self._lease_seconds):
                raise LostLeadership("lease taken over")

    async def _stamp_from(self, token: ResumeToken | None, term: _Term) -> None:
        if token is not None:
            try:
                async with self._events.inserts(token) as feed:
                    await self._stamp_stream(feed, term)
                return
            except HistoryLost:
                log.warning("resume token left the oplog; stamping the backlog in _id order (degraded mode)")
        async with self._events.inserts(None) as feed:
            await self._stamp_backlog(feed.start_token, term)
            await self._stamp_stream(feed, term)

    async def _stamp_backlog(self, token: ResumeToken | None, term: _Term) -> None:
        while backlog := await self._events.unstamped(limit=self._batch_size):
            await self._stamp_and_hand_on(backlog, token, term)

    async def _stamp_stream(self, feed: InsertFeed, term: _Term) -> None:
        # A reader task keeps pulling while a batch commits, so batches grow with the load.
        queue: asyncio.Queue[tuple[DomainEvent, ResumeToken] | BaseException] = asyncio.Queue(self._batch_size * 4)

        async def read() -> None:
            try:
                async for item in feed:
                    await queue.put(item)
            except Exception as exc:  # noqa: BLE001 - re-raised by the stamper
                await queue.put(exc)

        reader = asyncio.create_task(read())
        try:
            while True:
                batch = [await queue.get()]
                while len(batch) < self._batch_size and not queue.empty():
                    batch.append(queue.get_nowait())
                failure = next((item for item in batch if isinstance(item, BaseException)), None)
                changes = [item for item in batch if not isinstance(item, BaseException)]
                if changes:
                    await self._stamp_and_hand_on([e for e, _ in changes], changes[-1][1], term)
                if failure is not None:
                    raise failure
        finally:
            reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await reader

    async def _stamp_and_hand_on(self, batch: list[DomainEvent], token: ResumeToken | None, term: _Term) -> None:
        ids = [event.id for event in batch]

        async def work(session: Session, *, look_up: bool) -> list[tuple[DomainEvent, int]]:
            # Events the backlog scan already stamped reappear in the stream: skip them, keep seqs dense.
            # Only a backlog scan stamps ahead of the stream, so a batch is first stamped without
            # looking (a stamped event matches no update); when one did not match, the batch is
            # undone and stamped again from a look-up. One round trip less per batch.
            fresh = await self._events.unstamped_among(ids, session=session) if look_up else set(ids)
            assigned: list[tuple[DomainEvent, int]] = []
            seq = self._next_seq
            for event in batch:
                if event.id in fresh:
                    fresh.discard(event.id)
                    assigned.append((event, seq))
                    seq += 1
            stamped = await self._events.stamp([(event.id, s) for event, s in assigned], session=session)
            if stamped != len(assigned) and not look_up:
                raise _StampedBefore
            if not await self._relay_state.save(term.lease.epoch, seq - 1, token, session=session):
                raise LostLeadership("fenced by a newer epoch")
            return assigned

        try:
            assigned = await self._mongo.transaction(lambda session: work(session, look_up=False), session=term.session)
        except _StampedBefore:
            assigned = await self._mongo.transaction(lambda session: work(session, look_up=True), session=term.session)
        self._next_seq += len(assigned)
        if assigned:
            metrics.EVENTS_STAMPED.inc(len(assigned))
            metrics.STAMPED_SEQ.set(self._next_seq - 1)
            await self._hand_on([replace(event, seq=seq) for event, seq in assigned])

    async def _hand_on(self, events: list[DomainEvent]) -> None:
        try:
            await self._on_sequenced(events)
        except Exception:  # noqa: BLE001 - stamps are committed; subscribers' hubs fill gaps from the log
            log.exception("publishing sequenced events failed", extra={"first_seq": events[0].seq})


async def _cancel(task: asyncio.Task[None] | None) -> None:
    if task is not None and not task.done():
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
    return None


def build_sequencer(
    mongo: Mongo,
    *,
    on_sequenced: OnSequenced,
    follow: bool,
    lease_seconds: float = LEASE_SECONDS,
    owner: str | None = None,
    fanout_group: str | None = None,
) -> Sequencer:
    db = mongo.db
    return Sequencer(
        mongo=mongo,
        events=EventRepository(db),
        leases=LeaseRepository(db),
        relay_state=RelayStateRepository(db),
        on_sequenced=on_sequenced,
        follow=follow,
        owner=owner,
        lease_seconds=lease_seconds,
        fanout_group=fanout_group,
    )
