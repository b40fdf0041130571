"""Customer service cases over real HTTP: openCase + two entries (a message, an internal note) +
claimNextCase per round trip under 20 concurrent CSRs, against a raw-PyMongo baseline doing the same
database work in the same run, and a check that no case was claimed twice.

    python -m bench.cases            # full run
    python -m bench.cases --quick    # smoke test
    make bench-cases

The server is `oms serve` in a subprocess (production mode); each client is a CSR with its own API
key. The baseline makes the same reads and writes per round trip with AsyncMongoClient and no
layers: the customer and client-key reads, the case and its event in one transaction, each entry as
a read and a guarded `$push` with its event, the claim as one findOneAndUpdate on the most-urgent
index carrying its event id, then the event logged in a transaction guarded on it.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
from collections import Counter
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import httpx
from pymongo import ASCENDING, DESCENDING, AsyncMongoClient, ReturnDocument
from pymongo.read_concern import ReadConcern
from pymongo.write_concern import WriteConcern

from app.domain.ids import new_id
from app.domain.principals import Role
from app.repositories.database import Mongo, connect
from app.repositories.indexes import ensure_indexes
from app.services.container import build_services
from app.services.demo_seed import SeedSize, seed_demo
from bench.capture_order import RunResult, drive, rss_mb
from bench.harness import mongodb, server

DATABASE = "bench_cases"
ERR = "... on Error { code message }"
OPEN = f"mutation($i: OpenCaseInput!) {{ openCase(input: $i) {{ __typename ... on OpenCasePayload {{ case {{ id }} }} {ERR} }} }}"
ENTRY = f"mutation($i: AddCaseEntryInput!) {{ addCaseEntry(input: $i) {{ __typename ... on CasePayload {{ case {{ version }} }} {ERR} }} }}"
CLAIM = f"mutation {{ claimNextCase {{ __typename ... on ClaimNextCasePayload {{ case {{ id assignee }} }} {ERR} }} }}"
PRIORITIES = ("LOW", "NORMAL", "NORMAL", "HIGH", "URGENT")
RANK = {"LOW": 1, "NORMAL": 2, "HIGH": 3, "URGENT": 4}
TOPICS = ("WHERE_IS_MY_ORDER", "CHANGE_ORDER", "CANCEL", "RETURN", "DAMAGED", "BILLING")


def gid(type_name: str, node_id: str) -> str:
    import base64

    return base64.b64encode(f"{type_name}:{node_id}".encode()).decode()


def inputs(rng: random.Random, customers: list[str], count: int) -> list[dict[str, Any]]:
    return [
        {"customer": rng.choice(customers), "priority": rng.choice(PRIORITIES), "topic": rng.choice(TOPICS), "n": n}
        for n in range(count)
    ]


async def prepare(uri: str, args: argparse.Namespace) -> dict[str, Any]:
    mongo = Mongo(connect(uri), DATABASE)
    try:
        await mongo.client.drop_database(DATABASE)
        await ensure_indexes(mongo.db)
        await seed_demo(mongo, SeedSize(locations=8, skus=50, customers=500, orders=0), seed=7)
        services = build_services(mongo, scheduler_interval_seconds=0)
        tokens = [(await services.auth.create_api_key(name=f"bench-csr-{n}", role=Role.CSR))[1] for n in range(args.clients)]
        customers = [doc["_id"] async for doc in mongo.db["customers"].find({}, {"_id": 1})]
        return {"tokens": tokens, "customers": customers}
    finally:
        await mongo.close()


class CasesBaseline:
    """The same database work as one API round trip, straight through the driver."""

    def __init__(self, uri: str, database: str):
        self.client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(uri, tz_aware=True)
        db = self.client.get_database(database, write_concern=WriteConcern("majority"), read_concern=ReadConcern("majority"))
        self.cases, self.events, self.customers = db["bench_raw_cases"], db["bench_raw_events"], db["customers"]
        self.claims: list[tuple[str, str]] = []

    async def setup(self) -> None:
        await self.cases.create_index([("priority_rank", DESCENDING), ("next_due", ASCENDING), ("_id", ASCENDING)])
        await self.cases.create_index([("customer_id", ASCENDING), ("client_key", ASCENDING)], unique=True)

    async def _in_transaction(self, work: Any) -> Any:
        async with self.client.start_session() as session:
            return await session.with_transaction(work)

    def _event(self, case_id: str, kind: str, at: datetime, payload: dict[str, Any]) -> dict[str, Any]:
        return {"_id": new_id(), "type": kind, "aggregate_type": "Case", "aggregate_id": case_id, "at": at, "payload": payload, "seq": None}

    async def round_trip(self, given: dict[str, Any], csr: str) -> str:
        at = datetime.now(timezone.utc)
        case_id = new_id()
        doc = {
            "_id": case_id, "customer_id": given["customer"], "client_key": new_id(), "priority": given["priority"],
            "priority_rank": RANK[given["priority"]], "next_due": at + timedelta(hours=8), "status": "NEW", "assignee": None,
            "subject": "Where is my order?", "entries": [{"id": new_id(), "kind": "MESSAGE", "body": "Late", "at": at}],
            "created_at": at, "updated_at": at, "version": 1,
        }

        async def opened(session: Any) -> None:
            await self.cases.insert_one(doc, session=session)
            await self.events.insert_one(self._event(case_id, "CaseOpened", at, {"status": "NEW"}), session=session)

        # The same reads openCase makes first: the customer, and whether the client key was used.
        assert await self.customers.find_one({"_id": given["customer"]}, {"_id": 1}) is not None
        assert await self.cases.find_one({"customer_id": given["customer"], "client_key": doc["client_key"]}) is None
        await self._in_transaction(opened)
        for kind, body in (("MESSAGE", "We are on it."), ("NOTE", "check the carrier")):

            async def entry(session: Any, kind: str = kind, body: str = body) -> None:
                read = await self.cases.find_one({"_id": case_id}, session=session)
                assert read is not None
                await self.cases.update_one(
                    {"_id": case_id, "version": read["version"]},
                    {"$push": {"entries": {"id": new_id(), "kind": kind, "body": body, "at": at}}, "$inc": {"version": 1}},
                    session=session,
                )
                await self.events.insert_one(self._event(case_id, "CaseEntryAdded", at, {"kind": kind}), session=session)

            await self._in_transaction(entry)

        # The claim as the service makes it: one atomic update carrying its event, then the event logged.
        event_id = new_id()
        got = await self.cases.find_one_and_update(
            {"assignee": None, "status": {"$in": ["NEW", "OPEN"]}},
            {"$set": {"assignee": csr, "pending_claim": {"event_id": event_id, "at": at}}, "$inc": {"version": 1}},
            sort=[("priority_rank", -1), ("next_due", 1), ("_id", 1)], return_document=ReturnDocument.AFTER,
        )
        if got is None:
            return "empty"

        async def logged(session: Any) -> None:
            settled = await self.cases.update_one({"_id": got["_id"], "pending_claim.event_id": event_id}, {"$set": {"pending_claim": None}}, session=session)
            if settled.modified_count:
                await self.events.insert_one({**self._event(got["_id"], "CaseAssigned", at, {"to": csr}), "_id": event_id}, session=session)

        await self._in_transaction(logged)
        self.claims.append((got["_id"], csr))
        return "claimed"

    async def close(self) -> None:
        await self.client.close()


def claimed_once(claims: list[tuple[str, str]]) -> dict[str, Any]:
    per_case = Counter(case_id for case_id, _ in claims)
    return {"claims": len(claims), "distinct_cases": len(per_case), "no_case_claimed_twice": all(n == 1 for n in per_case.values())}


async def measure(args: argparse.Namespace, uri: str, base: str, pid: int, prepared: dict[str, Any]) -> dict[str, Any]:
    rng = random.Random(17)
    limits = httpx.Limits(max_connections=args.clients * 2, max_keepalive_connections=args.clients * 2)
    clients = [httpx.AsyncClient(base_url=base, headers={"Authorization": f"Bearer {t}"}, limits=limits, timeout=120) for t in prepared["tokens"]]
    pool: asyncio.Queue[int] = asyncio.Queue()
    for n in range(len(clients)):
        pool.put_nowait(n)
    claims: list[tuple[str, str]] = []

    async def call(http: httpx.AsyncClient, query: str, variables: dict[str, Any], field: str) -> dict[str, Any]:
        body = (await http.post("/graphql", json={"query": query, "variables": variables})).json()
        if body.get("errors"):
            return {"__typename": "graphql-error", "code": body["errors"][0].get("extensions", {}).get("code", "?")}
        return body["data"][field]

    async def via_api(given: dict[str, Any]) -> str:
        n = await pool.get()  # one CSR (one key, one connection pool) per concurrent client
        http = clients[n]
        try:
            opened = await call(http, OPEN, {"i": {
                "clientKey": new_id(), "contactChannel": "PHONE", "topic": given["topic"], "priority": given["priority"],
                "subject": "Where is my order?", "message": "Late", "customerId": gid("Customer", given["customer"]),
            }}, "openCase")
            if opened["__typename"] != "OpenCasePayload":
                return f"open:{opened.get('code')}"
            case_id = opened["case"]["id"]
            for kind, body in (("MESSAGE", "We are on it."), ("NOTE", "check the carrier")):
                added = await call(http, ENTRY, {"i": {"caseId": case_id, "kind": kind, "body": body}}, "addCaseEntry")
                if added["__typename"] != "CasePayload":
                    return f"entry:{added.get('code')}"
            claimed = await call(http, CLAIM, {}, "claimNextCase")
            if claimed["__typename"] != "ClaimNextCasePayload":
                return f"claim:{claimed.get('code')}"
            if claimed["case"] is None:
                return "empty"
            claims.append((claimed["case"]["id"], f"csr-{n}"))
            return "claimed"
        finally:
            pool.put_nowait(n)

    baseline = CasesBaseline(uri, DATABASE)
    await baseline.setup()
    raw_csr: asyncio.Queue[int] = asyncio.Queue()
    for n in range(args.clients):
        raw_csr.put_nowait(n)

    async def via_driver(given: dict[str, Any]) -> str:
        n = await raw_csr.get()
        try:
            return await baseline.round_trip(given, f"csr-{n}")
        finally:
            raw_csr.put_nowait(n)

    customers = prepared["customers"]
    try:
        await drive("warm-up api", inputs(rng, customers, args.warmup), args.clients, via_api)
        await drive("warm-up baseline", inputs(rng, customers, args.warmup), args.clients, via_driver)
        claims.clear()
        baseline.claims.clear()
        api = await drive("api", inputs(rng, customers, args.cases), args.clients, via_api)
        api_rss = rss_mb(pid)
        raw = await drive("baseline", inputs(rng, customers, args.cases), args.clients, via_driver)
    finally:
        await baseline.close()
        for http in clients:
            await http.aclose()
    mongo = Mongo(connect(uri), DATABASE)
    try:
        # Across every run: each case got at most one `claimed` CaseAssigned event, and its stored assignee is set once.
        rows = await mongo.db["events"].aggregate(
            [{"$match": {"type": "CaseAssigned", "payload.claimed": True}}, {"$group": {"_id": "$aggregate_id", "n": {"$sum": 1}}},
             {"$match": {"n": {"$gt": 1}}}]
        )
        claimed_twice_in_log = [row async for row in rows]
    finally:
        await mongo.close()

    def rates(result: RunResult) -> dict[str, Any]:
        summary = result.summary()
        summary["round_trips"] = summary.pop("orders")
        summary["round_trips_per_s"] = summary.pop("orders_per_s")
        return summary | {"http_requests_per_s": round(4 * result.rate, 1)}

    return {
        "run": "quick" if args.quick else "full",
        "clients": args.clients,
        "round_trip": "openCase + addCaseEntry (MESSAGE) + addCaseEntry (NOTE) + claimNextCase",
        "api": rates(api) | {"claims": claimed_once(claims)},
        "baseline": rates(raw) | {"claims": claimed_once(baseline.claims)},
        "ratio_api_to_baseline": round(api.rate / raw.rate, 2) if raw.rate else None,
        "p99_to_p50_api": round(api.pct(0.99) / api.pct(0.5), 2) if api.pct(0.5) else None,
        "server_rss_after_api": api_rss,
        "no_case_claimed_twice_in_event_log": not claimed_twice_in_log,
    }


async def run(args: argparse.Namespace) -> dict[str, Any]:
    with mongodb() as uri:
        prepared = await prepare(uri, args)
        with server(uri, DATABASE, env={"OMS_ENV": "production"}) as (base, pid):
            return await measure(args, uri, base, pid, prepared)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="small run for smoke testing")
    parser.add_argument("--clients", type=int, default=20, help="concurrent CSRs")
    parser.add_argument("--cases", type=int, default=1000, help="round trips per run (API and baseline each)")
    parser.add_argument("--warmup", type=int, default=60)
    parser.add_argument("--json", type=Path, help="also write the report here")
    args = parser.parse_args(argv)
    if args.quick:
        args.cases, args.warmup = 200, 20
    report = asyncio.run(run(args))
    text = json.dumps(report, indent=2)
    print(text)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(text + "\n")
    if not (report["api"]["claims"]["no_case_claimed_twice"] and report["baseline"]["claims"]["no_case_claimed_twice"]
            and report["no_case_claimed_twice_in_event_log"]):
        raise SystemExit("A CASE WAS CLAIMED TWICE")


if __name__ == "__main__":
    main()
