"""One process's real-time machinery: broadcaster, fan-out hub, sequencer, dashboard feed.

`memory://` (one process, or several sharing a database): the leader publishes what it stamps to
its own broadcaster; the other processes follow the relay state and publish to theirs.
`redis://...`, or `local+unix://...` (the broker `oms serve --workers N` runs for its workers):
only the leader publishes, once; every process subscribes. Either way each process delivers each
event to its subscribers once.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass

from broadcaster import Broadcast

from app.domain.events import DomainEvent, encode_envelope
from app.services.container import Services
from app.services.sequencer import LEASE_SECONDS, Sequencer
from subscriptions.dashboard import DashboardFeed
from subscriptions.hub import CHANNEL, EventHub
from subscriptions.local_broker import SCHEME as LOCAL_BROKER_SCHEME
from subscriptions.local_broker import broker_group
from subscriptions.local_broker_backend import LocalBrokerBackend
from subscriptions.redis_backend import RedisPubSubBackend
from subscriptions.shared_results import SharedResults

log = logging.getLogger("oms.realtime")


def broadcast_for(url: str) -> Broadcast:
    if url.startswith(("redis://", "rediss://")):
        return Broadcast(backend=RedisPubSubBackend(url))
    if url.startswith(LOCAL_BROKER_SCHEME):
        return Broadcast(backend=LocalBrokerBackend(url))
    return Broadcast(url)


@dataclass(frozen=True, slots=True)
class RealtimeOptions:
    broadcast_url: str = "memory://"
    subscriber_queue_size: int = 1_000
    # Bytes a WebSocket connection may have unsent (its write buffer plus the kernel's send queue)
    # before its subscriptions end with SUBSCRIBER_TOO_SLOW; 0 turns the check off. Bounds what a
    # client that stops reading costs, whatever the kernel would buffer (subscriptions/backlog.py).
    subscriber_send_limit_bytes: int = 1 << 20
    lease_seconds: float = LEASE_SECONDS
    relay: bool = True
    dashboard_interval_seconds: float = 5.0
    tail_check_seconds: float = 5.0

    @property
    def shared_broadcast(self) -> bool:
        return not self.broadcast_url.startswith("memory:")


class Realtime:
    def __init__(self, services: Services, options: RealtimeOptions):
        self._services = services
        self._options = options
        self.send_limit_bytes = options.subscriber_send_limit_bytes
        self.broadcast = broadcast_for(options.broadcast_url)
        self.hub = EventHub(
            self.broadcast,
            services.events,
            queue_size=options.subscriber_queue_size,
            tail_check_seconds=options.tail_check_seconds,
        )
        # Live results computed once per event for every alike subscription (graphql_schema/live_frames.py).
        self.shared_results = SharedResults()
        self.dashboard = DashboardFeed(services.dashboard, self.hub, interval=options.dashboard_interval_seconds)
        self.sequencer: Sequencer | None = None
        self._sequencer_task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        await self.broadcast.connect()
        await self.hub.start()
        if self._options.relay:
            local_broker = self._options.broadcast_url.startswith(LOCAL_BROKER_SCHEME)
            self.sequencer = self._services.sequencer(
                on_sequenced=self.hub.publish,
                # With a shared broker the leader's single publish reaches every process. The local
                # broker is shared by one serve's workers only: they follow a leader outside it.
                follow=not self._options.shared_broadcast or local_broker,
                lease_seconds=self._options.lease_seconds,
                fanout_group=broker_group(self._options.broadcast_url) if local_broker else None,
            )
            self._sequencer_task = asyncio.create_task(self.sequencer.run(), name="sequencer")

    async def stop(self) -> None:
        if self._sequencer_task is not None:
            self._sequencer_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._sequencer_task
        await self.dashboard.stop()
        await self.hub.stop()
        await self.broadcast.disconnect()


async def run_relay(services: Services, options: RealtimeOptions, *, stop: asyncio.Event) -> None:
    """`oms relay`: sequence and publish only, no HTTP. With memory:// it still stamps (so a
    deployment can keep sequencing out of its API processes); the API processes then follow."""
    async with broadcast_for(options.broadcast_url) as broadcast:

        async def publish(events: list[DomainEvent]) -> None:
            await broadcast.publish(CHANNEL, encode_envelope(events))

        sequencer = services.sequencer(on_sequenced=publish, follow=False, lease_seconds=options.lease_seconds)
        task = asyncio.create_task(sequencer.run(), name="sequencer")
        try:
            await stop.wait()
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
