"""Sequencer failover: how long events go unstamped (so undelivered) after kill -9 of the leader.

    python -m bench.relay_failover              # 10 kills
    python -m bench.relay_failover --kills 3    # quick

Two `oms relay` processes share a database; a writer here appends an event every 20 ms. Each round
kills the leader with SIGKILL (its lease and, often, an open stamping transaction stay behind) and
measures the pause: from the kill until an event written after the kill carries a seq. The killed
process is restarted as the standby for the next round. The pause is bounded by the lease
(OMS_RELAY_LEASE_SECONDS, default 2 s) plus a standby's retry interval (an eighth of it).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import threading
import time

from app.domain.events import Actor, DomainEvent
from app.domain.clock import utcnow
from app.domain.ids import new_id
from app.repositories.database import Mongo, connect
from app.repositories.events import EventRepository
from app.repositories.indexes import ensure_indexes
from app.repositories.sequencer import SEQUENCER
from bench.harness import ROOT, mongodb, percentile

WRITER = Actor(subject="bench", role="ADMIN")


def relay(uri: str, database: str) -> subprocess.Popen[bytes]:
    """`oms relay`, once it has said it is starting (a candidate from then on, so a kill always
    leaves a live standby: the pause measured is the takeover's, not a process start's)."""
    env = {**os.environ, "MONGODB_URI": uri, "OMS_DB_NAME": database, "OMS_LOG_LEVEL": "INFO"}
    process = subprocess.Popen([sys.executable, "-m", "app.cli", "relay"], cwd=ROOT, env=env, stderr=subprocess.PIPE)
    for line in process.stderr:  # type: ignore[union-attr]
        if b"relay starting" in line:
            break
    threading.Thread(target=process.stderr.read, daemon=True).start()  # type: ignore[union-attr]
    return process


def event(step: int) -> DomainEvent:
    return DomainEvent(
        id=new_id(), type="BenchTick", aggregate_type="Bench", aggregate_id="bench", at=utcnow(), actor=WRITER,
        payload={"step": step},
    )


async def run(uri: str, kills: int) -> dict[str, object]:
    database = f"bench_failover_{int(time.time())}"
    mongo = Mongo(connect(uri), database)
    await ensure_indexes(mongo.db)
    events = EventRepository(mongo.db)
    relays = [relay(uri, database), relay(uri, database)]
    step = 0
    stop = asyncio.Event()

    async def write() -> None:
        nonlocal step
        while not stop.is_set():
            step += 1
            await mongo.transaction(lambda session, s=step: events.append([event(s)], session=session))
            await asyncio.sleep(0.02)

    async def leader_pid() -> int:
        while True:
            lease = await mongo.db.leases.find_one({"_id": SEQUENCER})
            if lease and lease.get("owner"):
                pid = int(str(lease["owner"]).split(":")[1])
                if any(r.pid == pid and r.poll() is None for r in relays):
                    return pid
            await asyncio.sleep(0.05)

    writer = asyncio.create_task(write())
    pauses: list[float] = []
    takeovers: list[float] = []
    try:
        for _ in range(kills):
            await asyncio.sleep(1.0)  # steady stamping first
            pid = await leader_pid()
            victim = next(r for r in relays if r.pid == pid)
            epoch = (await mongo.db.leases.find_one({"_id": SEQUENCER}) or {}).get("epoch")
            victim.kill()
            killed_at, first_after, taken_over = time.monotonic(), step + 1, None
            while not await mongo.db.events.find_one({"payload.step": {"$gte": first_after}, "seq": {"$ne": None}}):
                if taken_over is None and (await mongo.db.leases.find_one({"_id": SEQUENCER}) or {}).get("epoch") != epoch:
                    taken_over = time.monotonic() - killed_at
                await asyncio.sleep(0.01)
            pauses.append(time.monotonic() - killed_at)
            takeovers.append(taken_over if taken_over is not None else pauses[-1])
            victim.wait()
            relays[relays.index(victim)] = relay(uri, database)
            print(f"  kill {len(pauses)}: lease taken over after {takeovers[-1]:.2f} s, stamping resumed after {pauses[-1]:.2f} s", file=sys.stderr)
    finally:
        stop.set()
        await writer
        for process in relays:
            process.kill()
            process.wait()
        seqs = [d["seq"] async for d in mongo.db.events.find({"seq": {"$ne": None}}, {"seq": 1})]
        await mongo.client.drop_database(database)
        await mongo.close()
    gapless = sorted(seqs) == list(range(1, len(seqs) + 1))
    return {
        "kills": kills,
        "pause_p50_s": round(percentile(pauses, 50), 2),
        "pause_max_s": round(max(pauses), 2),
        "takeover_p50_s": round(percentile(takeovers, 50), 2),
        "takeover_max_s": round(max(takeovers), 2),
        "events": len(seqs),
        "seqs_gap_free": gapless,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--kills", type=int, default=10)
    args = parser.parse_args()
    with mongodb() as uri:
        result = asyncio.run(run(uri, args.kills))
    print(json.dumps(result))
    if not result["seqs_gap_free"]:
        sys.exit(1)


if __name__ == "__main__":
    main()
