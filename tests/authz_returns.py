"""The returns rows of the authorization table (tests/authz_table.py explains rows and outcomes).

Every mutation row gets a fresh target per caller from `Seed.returns` (`ReturnsSeed`): an order of
ada (web) or bob (amazon) whose 2 × SKU-1 were delivered yesterday from DC-A, or a return of one in a
given state. A MAIL return of either is routed to ST-A (both live in Boston, where ST-A is), so the
STORE_STAFF caller (ST-A) receives it and the WAREHOUSE caller (DC-A) cannot see it.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import timedelta
from typing import Any

from app.domain.clock import utcnow
from app.domain.ids import new_id
from app.domain.orders import Allocation, AllocationStatus, Order, OrderStatus
from app.domain.principals import SYSTEM
from app.domain.return_rules import new_return, request_hash
from app.domain.returns import ReceivedLine, Return, ReturnLineRequest, ReturnMethod, ReturnReason, ReturnRequest
from app.domain.shipments import FulfilmentMethod, Shipment, ShipmentLine, ShipmentStatus
from app.repositories.database import Mongo
from app.repositories.returns import ReturnRepository
from app.repositories.shipments import ShipmentRepository
from app.services.container import Services
from tests.authz_table import ALLOW, DENY, HIDE, Row, Seed, SubscriptionRow, everyone, gid, mutation
from tests.factories import World, order


@dataclass
class ReturnsSeed:
    world: World
    mongo: Mongo
    services: Services
    ada: str
    bob: str

    async def delivered(self, *, who: str = "ada") -> Order:
        """ada's web order or bob's amazon order of 2 × SKU-1, delivered yesterday from DC-A."""
        customer_id, channel_id = (self.ada, "web") if who == "ada" else (self.bob, "amazon")
        at = utcnow() - timedelta(days=1)
        made = replace(
            order(customer_id, channel_id=channel_id, status=OrderStatus.DELIVERED, lines=[("SKU-1", 2, 1000)], created_at=at),
            allocations=(Allocation(id=new_id(), line_id="1", sku="SKU-1", location_id="DC-A", quantity=2, status=AllocationStatus.FULFILLED),),
        )
        await self.world.add_orders(made)
        shipment = Shipment(
            id=new_id(), number=f"{made.external_id}-1", order_id=made.id, customer_id=customer_id, channel_id=channel_id,
            location_id="DC-A", method=FulfilmentMethod.SHIP, status=ShipmentStatus.DELIVERED,
            lines=(ShipmentLine(made.allocations[0].id, "1", "SKU-1", "SKU-1", 2, picked_quantity=2),),
            created_at=at, updated_at=at, status_at=at, extra={"delivered_at": at},
        )
        await ShipmentRepository(self.mongo.db).insert_many([shipment], session=None)
        return made

    async def make(self, stage: str, *, who: str = "ada", method: ReturnMethod = ReturnMethod.MAIL, store: str | None = None) -> Return:
        """A return of a fresh delivered order: REQUESTED (waiting for approval), AUTHORIZED or INSPECTED."""
        made = await self.delivered(who=who)
        asked = ReturnRequest(made.id, f"seed-{new_id()}", method, (ReturnLineRequest("1", 1, ReturnReason.SIZE_FIT),), location_id=store)
        if stage == "REQUESTED":  # as a channel wanting approval leaves it: stored, no decision yet
            ret = new_return(asked, made, return_id=new_id(), sequence=1, requested_by="seed", digest=request_hash(asked), at=utcnow())
            await self.mongo.transaction(lambda session: ReturnRepository(self.mongo.db).insert(ret, session=session))
            return ret
        ret = (await self.services.returns.request(SYSTEM, asked)).ret
        if stage == "INSPECTED":
            ret = (await self.services.return_receiving.receive(SYSTEM, ret.id, [ReceivedLine("1", 1)])).ret
        return ret


def _request(who: str, method: str = "MAIL", location: str | None = None) -> Any:
    async def build(seed: Seed) -> dict[str, Any]:
        made = await seed.returns.delivered(who=who)
        lines = [{"orderLineId": "1", "quantity": 1, "reason": "SIZE_FIT"}]
        extra = {"location": location} if location else {}
        return {"input": {"orderId": gid("Order", made.id), "clientKey": new_id(), "method": method, "lines": lines, **extra}}

    return build


def _on(stage: str, build_input: Any, **kw: Any) -> Any:
    async def build(seed: Seed) -> dict[str, Any]:
        ret = await seed.returns.make(stage, **kw)
        return {"input": build_input(gid("Return", ret.id))}

    return build


def _read(who: str, **kw: Any) -> Any:
    async def build(seed: Seed) -> dict[str, Any]:
        ret = await seed.returns.make("AUTHORIZED", who=who, **kw)
        return {"id": gid("Return", ret.id)}

    return build


async def _both(seed: Seed) -> dict[str, Any]:
    """One return of ada's at ST-A, one of bob's at ST-B (per caller: the list grows, scope must hold)."""
    await seed.returns.make("AUTHORIZED", who="ada")
    await seed.returns.make("AUTHORIZED", who="bob", method=ReturnMethod.IN_STORE, store="ST-B")
    return {}


def _scoped_list(value: Any, seed: Seed, caller: str) -> bool:
    nodes = [edge["node"] for edge in value["edges"]]
    seen = {(n["channelCode"], n["locationCode"]) for n in nodes}
    expected = {
        "ADMIN": {("web", "ST-A"), ("amazon", "ST-B")}, "CSR": {("web", "ST-A"), ("amazon", "ST-B")},
        "STORE_STAFF": {("web", "ST-A")}, "CHANNEL": {("web", "ST-A")}, "CUSTOMER": {("web", "ST-A")},
    }[caller]
    return bool(nodes) and seen == expected


_RECEIVE = {"lines": [{"returnLineId": "1", "quantity": 1}]}
_RETURN = "query($id: ID!) { return(id: $id) { number } }"
_LIST = "{ returns(first: 100) { edges { node { channelCode locationCode } } } }"
SEEN_BY_ORDER = ("CSR", "CHANNEL", "CUSTOMER")

RETURN_ROWS: list[Row] = [
    # --- reads -----------------------------------------------------------------------------------
    Row("return_own", "returns: read", _RETURN, everyone(ALLOW, WAREHOUSE=HIDE), variables=_read("ada")),
    Row(
        "return_other_customer", "returns: read", _RETURN, everyone(HIDE, ADMIN=ALLOW, CSR=ALLOW),
        variables=_read("bob", method=ReturnMethod.IN_STORE, store="ST-B"),
    ),
    Row(
        "node_return_other_customer", "returns: read", "query($id: ID!) { node(id: $id) { ... on Return { number } } }",
        everyone(HIDE, ADMIN=ALLOW, CSR=ALLOW), variables=_read("bob", method=ReturnMethod.IN_STORE, store="ST-B"),
    ),
    Row("returns_list_scoped", "returns: read", _LIST, everyone(ALLOW, WAREHOUSE=HIDE), variables=_both, check=_scoped_list),
    Row(
        "returns_filter_other_location", "returns: read", '{ returns(filter: {locations: ["ST-B"]}) { edges { node { number } } } }',
        everyone(HIDE, ADMIN=ALLOW, CSR=ALLOW, STORE_STAFF=DENY, WAREHOUSE=DENY),
        variables=lambda s: _read("bob", method=ReturnMethod.IN_STORE, store="ST-B")(s),
    ),
    Row("return_policy", "returns: policy", '{ returnPolicy(channel: "amazon") { windowDays } }', everyone()),
    Row(
        "set_return_policy", "returns: policy", mutation("setReturnPolicy", "SetReturnPolicyInput"), {"ADMIN": ALLOW},
        variables=lambda s: {"input": {"channel": "web", "policy": {"windowDays": 45}, "reason": "authz test"}},
    ),
    # --- requestReturn ---------------------------------------------------------------------------
    Row(
        "request_return_own_order", "returns: request", mutation("requestReturn", "RequestReturnInput"),
        everyone(ALLOW, STORE_STAFF=DENY, WAREHOUSE=DENY), variables=_request("ada"),
        codes={"STORE_STAFF": "FORBIDDEN", "WAREHOUSE": "FORBIDDEN"},
    ),
    Row(
        "request_return_other_customer", "returns: request", mutation("requestReturn", "RequestReturnInput"),
        {"ADMIN": ALLOW, "CSR": ALLOW}, variables=_request("bob"),
        codes={"CHANNEL": "NOT_FOUND", "CUSTOMER": "NOT_FOUND", "STORE_STAFF": "FORBIDDEN", "WAREHOUSE": "FORBIDDEN"},
    ),
    Row(
        # At the ST-A counter: staff there take any order's return (the shopper brings the receipt);
        # others announce a visit to that store.
        "request_return_in_store_own_store", "returns: request", mutation("requestReturn", "RequestReturnInput"),
        {"ADMIN": ALLOW, "CSR": ALLOW, "STORE_STAFF": ALLOW}, variables=_request("bob", "IN_STORE", "ST-A"),
        codes={"CHANNEL": "NOT_FOUND", "CUSTOMER": "NOT_FOUND", "WAREHOUSE": "FORBIDDEN"},
    ),
    Row(
        "request_return_in_store_other_store", "returns: request", mutation("requestReturn", "RequestReturnInput"),
        everyone(ALLOW, STORE_STAFF=DENY, WAREHOUSE=DENY), variables=_request("ada", "IN_STORE", "ST-B"),
        codes={"STORE_STAFF": "FORBIDDEN"},
    ),
    # --- receiving and decisions -----------------------------------------------------------------
    Row(
        "receive_return", "returns: receive", mutation("receiveReturn", "ReceiveReturnInput"),
        {"ADMIN": ALLOW, "STORE_STAFF": ALLOW}, variables=_on("AUTHORIZED", lambda rid: {"returnId": rid, **_RECEIVE}),
        codes={**{c: "FORBIDDEN" for c in SEEN_BY_ORDER}, "WAREHOUSE": "NOT_FOUND"},
    ),
    Row(
        "authorize_return", "returns: decide", mutation("authorizeReturn", "AuthorizeReturnInput"),
        {"ADMIN": ALLOW, "CSR": ALLOW}, variables=_on("REQUESTED", lambda rid: {"returnId": rid}),
        codes={"CHANNEL": "FORBIDDEN", "CUSTOMER": "FORBIDDEN", "STORE_STAFF": "NOT_FOUND", "WAREHOUSE": "NOT_FOUND"},
    ),
    Row(
        "reject_return", "returns: decide", mutation("rejectReturn", "RejectReturnInput"),
        {"ADMIN": ALLOW, "CSR": ALLOW}, variables=_on("REQUESTED", lambda rid: {"returnId": rid, "reason": "authz test"}),
        codes={"CHANNEL": "FORBIDDEN", "CUSTOMER": "FORBIDDEN", "STORE_STAFF": "NOT_FOUND", "WAREHOUSE": "NOT_FOUND"},
    ),
    Row(
        "cancel_own_return", "returns: decide", mutation("cancelReturn", "CancelReturnInput"),
        everyone(ALLOW, STORE_STAFF=DENY, WAREHOUSE=DENY), variables=_on("AUTHORIZED", lambda rid: {"returnId": rid}),
        codes={"STORE_STAFF": "FORBIDDEN", "WAREHOUSE": "NOT_FOUND"},
    ),
    Row(
        "close_return", "returns: decide", mutation("closeReturn", "CloseReturnInput"),
        {"ADMIN": ALLOW, "CSR": ALLOW}, variables=_on("INSPECTED", lambda rid: {"returnId": rid, "reason": "authz test"}),
        codes={"CHANNEL": "FORBIDDEN", "CUSTOMER": "FORBIDDEN", "STORE_STAFF": "FORBIDDEN", "WAREHOUSE": "NOT_FOUND"},
    ),
]

RETURN_SUBSCRIPTION_ROWS: list[SubscriptionRow] = [
    SubscriptionRow("return_updated_unfiltered", "subscriptions: returns", "subscription { returnUpdated { cursor } }", everyone()),
    SubscriptionRow(
        "return_updated_other_order", "subscriptions: returns",
        "subscription($o: ID) { returnUpdated(orderId: $o) { cursor } }",
        {"ADMIN": ALLOW, "CSR": ALLOW}, variables=lambda s: {"o": gid("Order", s.b1.id)},
    ),
    SubscriptionRow(
        "return_updated_other_location", "subscriptions: returns",
        'subscription { returnUpdated(location: "ST-B") { cursor } }', everyone(STORE_STAFF=DENY, WAREHOUSE=DENY),
    ),
]
