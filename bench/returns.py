"""Returns over real HTTP: requestReturn + receiveReturn + issueRefund round trips per second against a
raw-PyMongo baseline doing the same database work in the same run, and a double-refund race.

    python -m bench.returns            # full run
    python -m bench.returns --quick    # smoke test, about a minute
    make bench-returns

The server is `oms serve` in a subprocess (production mode); clients are concurrent httpx tasks in
this process. Each round trip returns one unit of a delivered, paid order: a MAIL return (routed to
the nearest location that takes returns, with a label from the built-in rate cards), received there
and restocked, then refunded through the order's payment. The baseline (bench/returns_baseline.py)
makes the same reads and writes per round trip with AsyncMongoClient and no layers. The race fires
two issueRefund of one inspected return at once, for many returns: exactly one must be issued each
time, the other refused with ALREADY_REFUNDED.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import random
from collections import Counter
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import httpx

from app.domain.cities import CITIES
from app.domain.geo import GeoPoint
from app.domain.ids import new_id
from app.domain.locations import Address
from app.domain.money import Money
from app.domain.orders import Allocation, AllocationStatus, Delivery, DeliveryMethod, Order, OrderLine, OrderStatus, order_totals
from app.domain.payments import Payment, PaymentMethod
from app.domain.principals import SYSTEM, Role
from app.domain.returns import ReceivedLine, ReturnLineRequest, ReturnMethod, ReturnReason, ReturnRequest
from app.domain.shipments import FulfilmentMethod, Shipment, ShipmentLine, ShipmentStatus
from app.repositories.database import Mongo, connect
from app.repositories.indexes import ensure_indexes
from app.repositories.inventory import InventoryRepository
from app.repositories.orders import OrderRepository
from app.repositories.shipments import ShipmentRepository
from app.services.container import build_services
from app.services.demo_seed import SeedSize, seed_demo
from bench.capture_order import drive, rss_mb
from bench.harness import mongodb, server
from bench.returns_baseline import ReturnsBaseline

DATABASE = "bench_returns"
ERR = "... on Error { code message }"
REQUEST = f"""
mutation($input: RequestReturnInput!) {{
  requestReturn(input: $input) {{ __typename ... on RequestReturnPayload {{ return {{ id status }} }} {ERR} }}
}}
"""
RECEIVE = f"""
mutation($input: ReceiveReturnInput!) {{
  receiveReturn(input: $input) {{ __typename ... on ReceiveReturnPayload {{ return {{ status }} }} {ERR} }}
}}
"""
ISSUE = f"""
mutation($input: IssueRefundInput!) {{
  issueRefund(input: $input) {{ __typename ... on IssueRefundPayload {{ refund {{ id amount {{ cents }} }} }} {ERR} }}
}}
"""


def gid(type_name: str, node_id: str) -> str:
    return base64.b64encode(f"{type_name}:{node_id}".encode()).decode()


async def delivered_orders(mongo: Mongo, rng: random.Random, count: int, prefix: str) -> list[Order]:
    """`count` paid web orders of one unit, delivered yesterday from a distribution centre to a city."""
    customers = [doc["_id"] async for doc in mongo.db["customers"].find({}, {"_id": 1})]
    products = [doc async for doc in mongo.db["products"].find({}, {"_id": 1, "name": 1, "price": 1})]
    dcs = [doc["_id"] async for doc in mongo.db["locations"].find({"kind": "DISTRIBUTION_CENTER"}, {"_id": 1})]
    at = datetime.now(timezone.utc) - timedelta(days=1)
    orders, shipments = [], []
    for n in range(count):
        product = rng.choice(products)
        city = rng.choice(CITIES)
        price = int(product["price"]["cents"])
        lines = (OrderLine(id="1", sku=product["_id"], name=product["name"], quantity=1, unit_price=Money(price)),)
        totals = order_totals(lines, Money(599))
        allocation = Allocation(id=new_id(), line_id="1", sku=product["_id"], location_id=rng.choice(dcs), quantity=1, status=AllocationStatus.FULFILLED)
        address = Address(line1=f"{n} Main St", city=city[0], region=city[1], postal_code=city[2])
        point = GeoPoint(city[3], city[4])
        order = Order(
            id=new_id(), channel_id="web", external_id=f"{prefix}-{n}", customer_id=rng.choice(customers), status=OrderStatus.DELIVERED,
            lines=lines, delivery=Delivery(method=DeliveryMethod.SHIP, address=address, point=point), totals=totals,
            created_at=at - timedelta(days=2), updated_at=at, allocations=(allocation,),
            payments=(Payment("stripe", PaymentMethod.CARD, f"ch_{prefix}_{n}", totals.total),),
        )
        orders.append(order)
        shipments.append(
            Shipment(
                id=new_id(), number=f"{order.external_id}-1", order_id=order.id, customer_id=order.customer_id, channel_id="web",
                location_id=allocation.location_id, method=FulfilmentMethod.SHIP, status=ShipmentStatus.DELIVERED,
                lines=(ShipmentLine(allocation.id, "1", product["_id"], product["name"], 1, picked_quantity=1),),
                created_at=order.created_at, updated_at=at, status_at=at, destination=address, destination_point=point,
                extra={"delivered_at": at},
            )
        )
    await OrderRepository(mongo.db).insert_many(orders)
    await ShipmentRepository(mongo.db).insert_many(shipments, session=None)
    return orders


async def prepare(uri: str, args: argparse.Namespace) -> dict[str, Any]:
    """The demo network, delivered orders for each run, inspected returns for the race, an admin key."""
    rng = random.Random(13)
    mongo = Mongo(connect(uri), DATABASE)
    try:
        await mongo.client.drop_database(DATABASE)
        await ensure_indexes(mongo.db)
        await seed_demo(mongo, SeedSize(locations=24, skus=200, customers=200, orders=0), seed=7)
        services = build_services(mongo, scheduler_interval_seconds=0)
        _, token = await services.auth.create_api_key(name="bench-admin", role=Role.ADMIN)
        runs = {
            name: [o.id for o in await delivered_orders(mongo, rng, size, name.upper())]
            for name, size in (("warm", args.warmup), ("bwarm", args.warmup), ("api", args.returns), ("raw", args.returns))
        }
        racing = await delivered_orders(mongo, rng, args.races, "RACE")
        inspected = []
        for order in racing:
            asked = ReturnRequest(order.id, f"race-{order.id}", ReturnMethod.MAIL, (ReturnLineRequest("1", 1, ReturnReason.SIZE_FIT),))
            ret = (await services.returns.request(SYSTEM, asked)).ret
            inspected.append((await services.return_receiving.receive(SYSTEM, ret.id, [ReceivedLine("1", 1)])).ret.id)
        return {"token": token, "runs": runs, "races": inspected}
    finally:
        await mongo.close()


async def race(http: httpx.AsyncClient, return_ids: list[str]) -> dict[str, Any]:
    """Two issueRefund of one return at once, for every return: exactly one must be issued."""
    issued_per_return: list[int] = []
    losers: Counter[str] = Counter()

    async def one() -> Any:
        return_id = return_ids.pop()
        given = {"query": ISSUE, "variables": {"input": {"returnId": gid("Return", return_id)}}}
        answers = await asyncio.gather(http.post("/graphql", json=given), http.post("/graphql", json=given))
        results = [a.json()["data"]["issueRefund"] for a in answers]
        issued_per_return.append(sum(r["__typename"] == "IssueRefundPayload" for r in results))
        losers.update(r.get("code", "?") for r in results if r["__typename"] != "IssueRefundPayload")

    total = len(return_ids)
    while return_ids:
        await asyncio.gather(*[one() for _ in range(min(4, len(return_ids)))])
    return {"returns": total, "exactly_one_issued_each": all(n == 1 for n in issued_per_return), "loser_codes": dict(losers)}


async def measure(args: argparse.Namespace, uri: str, base: str, pid: int, prepared: dict[str, Any]) -> dict[str, Any]:
    limits = httpx.Limits(max_connections=args.clients * 2, max_keepalive_connections=args.clients * 2)
    headers = {"Authorization": f"Bearer {prepared['token']}"}
    async with httpx.AsyncClient(base_url=base, headers=headers, limits=limits, timeout=120) as http:

        async def call(query: str, given: dict[str, Any], field: str) -> dict[str, Any]:
            body = (await http.post("/graphql", json={"query": query, "variables": {"input": given}})).json()
            if body.get("errors"):
                return {"__typename": "graphql-error", "code": body["errors"][0].get("extensions", {}).get("code", "?")}
            return body["data"][field]

        async def via_api(order_id: str) -> str:
            asked = await call(
                REQUEST,
                {"orderId": gid("Order", order_id), "clientKey": new_id(), "method": "MAIL",
                 "lines": [{"orderLineId": "1", "quantity": 1, "reason": "SIZE_FIT"}]},
                "requestReturn",
            )
            if asked["__typename"] != "RequestReturnPayload":
                return f"request:{asked.get('code')}"
            return_id = asked["return"]["id"]
            received = await call(RECEIVE, {"returnId": return_id, "lines": [{"returnLineId": "1", "quantity": 1}]}, "receiveReturn")
            if received["__typename"] != "ReceiveReturnPayload":
                return f"receive:{received.get('code')}"
            refunded = await call(ISSUE, {"returnId": return_id}, "issueRefund")
            return "ISSUED" if refunded["__typename"] == "IssueRefundPayload" else f"refund:{refunded.get('code')}"

        baseline = ReturnsBaseline(uri, DATABASE)
        runs = prepared["runs"]
        try:
            await drive("warm-up api", runs["warm"], args.clients, via_api)
            await drive("warm-up baseline", runs["bwarm"], args.clients, baseline.round_trip)
            api = await drive("api", runs["api"], args.clients, via_api)
            api_rss = rss_mb(pid)
            raw = await drive("baseline", runs["raw"], args.clients, baseline.round_trip)
        finally:
            await baseline.close()
        raced = await race(http, list(prepared["races"]))
    mongo = Mongo(connect(uri), DATABASE)
    try:
        mismatches = await InventoryRepository(mongo.db).reservation_mismatches()
        cursor = await mongo.db["refunds"].aggregate(
            [{"$match": {"return_id": {"$in": prepared["races"]}}}, {"$group": {"_id": "$return_id", "n": {"$sum": 1}}}]
        )
        refunds_per_race = [doc async for doc in cursor]
    finally:
        await mongo.close()
    raced["refund_documents_per_return"] = sorted({row["n"] for row in refunds_per_race})

    def rates(result: Any) -> dict[str, Any]:
        return result.summary() | {"round_trips_per_s": round(result.rate, 1), "http_requests_per_s": round(3 * result.rate, 1)}

    return {
        "run": "quick" if args.quick else "full",
        "clients": args.clients,
        "api": rates(api),
        "baseline": rates(raw),
        "ratio_api_to_baseline": round(api.rate / raw.rate, 2) if raw.rate else None,
        "server_rss_after_api": api_rss,
        "double_refund_race": raced,
        "invariant_reserved_equals_open_allocations": not mismatches,
    }


async def run(args: argparse.Namespace) -> dict[str, Any]:
    with mongodb() as uri:
        prepared = await prepare(uri, args)
        with server(uri, DATABASE, env={"OMS_ENV": "production"}) as (base, pid):
            return await measure(args, uri, base, pid, prepared)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="small run for smoke testing")
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--returns", type=int, default=1000, help="round trips per run (API and baseline each)")
    parser.add_argument("--races", type=int, default=200, help="returns refunded twice at once")
    parser.add_argument("--warmup", type=int, default=50)
    parser.add_argument("--json", type=Path, help="also write the report here")
    args = parser.parse_args(argv)
    if args.quick:
        args.clients, args.returns, args.races, args.warmup = 8, 150, 40, 20
    report = asyncio.run(run(args))
    text = json.dumps(report, indent=2)
    print(text)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(text + "\n")
    race_ok = report["double_refund_race"]["exactly_one_issued_each"] and report["double_refund_race"]["refund_documents_per_return"] == [1]
    if not race_ok or not report["invariant_reserved_equals_open_allocations"]:
        raise SystemExit("DOUBLE REFUND OR INVENTORY INVARIANT BROKEN")


if __name__ == "__main__":
    main()
