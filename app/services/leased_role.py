"""A job that one process of all those sharing the database does at a time: whoever holds its
named lease (the sequencer's leasing, app/repositories/sequencer.py). The others keep trying for
the lease, so when the holder dies another takes the job over within about a lease's length."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable

from app.repositories.sequencer import Lease, LeaseRepository

log = logging.getLogger("oms.leases")


class LeasedRole:
    def __init__(self, leases: LeaseRepository, name: str, owner: str, lease_seconds: float):
        self._leases = leases
        self.name = name
        self.owner = owner
        self.lease_seconds = lease_seconds
        self.leading = asyncio.Event()

    async def run(self, lead: Callable[[Lease], Awaitable[None]]) -> None:
        """`lead` while holding the lease (it ends when the lease is lost), else keep trying for
        the lease. Runs until cancelled."""
        retry = self.lease_seconds / 8
        while True:
            try:
                lease = await self._leases.acquire(self.name, self.owner, self.lease_seconds)
            except Exception:  # noqa: BLE001 - a database hiccup: try again on the next round
                log.exception("could not reach the %s lease", self.name)
                lease = None
            if lease is None:
                await asyncio.sleep(retry)
                continue
            log.info("%s leads", self.name, extra={"owner": self.owner, "epoch": lease.epoch})
            self.leading.set()
            try:
                await lead(lease)
            except Exception:  # noqa: BLE001 - lost the lease or the database: step down, retry
                log.exception("%s stepped down", self.name)
                await asyncio.sleep(retry)
            finally:
                self.leading.clear()
                with contextlib.suppress(Exception):
                    await asyncio.shield(self._leases.release(self.name, lease))

    async def keep(self, lease: Lease) -> None:
        """Renews the lease until another process has taken it over, then raises."""
        while True:
            await asyncio.sleep(self.lease_seconds / 3)
            if not await self._leases.renew(self.name, lease, self.lease_seconds):
                raise RuntimeError(f"{self.name} lease taken over")
