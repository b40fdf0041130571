"""What a database holds, for `oms seed`: it loads demo data only into an empty database, or wipes
one first when told to (`--reset`)."""

from __future__ import annotations

from pymongo.asynchronous.database import AsyncDatabase

# Coordination between running processes, not business data: a running server writes these
# (its heartbeat, the sequencer's lease and position, webhook replay nonces, the clients' shared
# rate-limit buckets) into an empty database, and a reset keeps them, so event cursors keep counting
# up and nothing a live process holds vanishes.
PROCESS_STATE = frozenset({"instances", "leases", "relay_state", "webhook_nonces", "rate_limit_buckets"})


class DatabaseContents:
    def __init__(self, db: AsyncDatabase):
        self.db = db

    async def counts(self) -> dict[str, int]:
        """Documents per collection holding data, by name; collections added later count too."""
        names = sorted(
            name
            for name in await self.db.list_collection_names()
            if name not in PROCESS_STATE and not name.startswith("system.")
        )
        counts = {name: await self.db[name].count_documents({}) for name in names}
        return {name: count for name, count in counts.items() if count}

    async def delete_all(self, names: list[str]) -> None:
        """Empties the collections but keeps them and their indexes: dropping one would end the
        change streams a running server tails."""
        for name in names:
            if name in PROCESS_STATE:
                raise ValueError(f"{name} is process state, not data")
            await self.db[name].delete_many({})
