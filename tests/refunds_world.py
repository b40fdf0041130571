"""Paid, delivered orders with inspected returns, and the GraphQL documents the refunds and exchanges
tests share (on top of tests/returns_world.py)."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from app.domain.money import Money
from app.domain.orders import Order, OrderTotals
from app.domain.payments import Payment, PaymentMethod
from app.domain.principals import Role
from app.services.container import Services
from tests.conftest import GraphQLClient
from tests.factories import World
from tests.fulfilment_world import BOS, FulfilmentWorld
from tests.returns_world import ERRORS, REQUEST, delivered_order, gid, line, request_input

REFUND_FIELDS = """
  id kind status amount { cents } reason createdBy
  lines { kind amount { cents } orderLineId returnLineId sku quantity description }
  payments { provider paymentReference amount { cents } providerRefundId }
"""
ISSUE = f"""
mutation($input: IssueRefundInput!) {{
  issueRefund(input: $input) {{ __typename ... on IssueRefundPayload {{ refund {{ {REFUND_FIELDS} return {{ status refundId }} }} }} {ERRORS} }}
}}
"""
PREVIEW = """
query($id: ID!) {
  refundPreview(returnId: $id) { total { cents } refundable { cents } final lines { kind amount { cents } quantity description } }
}
"""
ORDER_MONEY = """
query($id: ID!) {
  order(id: $id) {
    payments { provider reference amount { cents } refunded { cents } }
    refundSummary { paid { cents } refunded { cents } exchangeCredit { cents } refundable { cents } refundCount }
    refunds { kind amount { cents } }
  }
}
"""
SET_POLICY = f"""
mutation($input: SetReturnPolicyInput!) {{
  setReturnPolicy(input: $input) {{ __typename {ERRORS} }}
}}
"""


@pytest.fixture
async def fw(world: World, services: Services) -> FulfilmentWorld:
    w = FulfilmentWorld(world, services)
    await w.setup()
    return w


async def token(services: Services, role: Role, **scope: Any) -> str:
    return (await services.auth.create_api_key(name=f"refunds-{role}", role=role, **scope))[1]


def card(amount: int, reference: str = "ch_1", provider: str = "stripe", method: PaymentMethod = PaymentMethod.CARD) -> Payment:
    return Payment(provider=provider, method=method, reference=reference, amount=Money(amount))


async def paid_order(
    fw: FulfilmentWorld,
    lines: list[tuple[str, int, str]],
    *,
    payments: tuple[Payment, ...] | None = None,
    tax_cents: int = 0,
    shipping_cents: int | None = None,
    **kw: Any,
) -> Order:
    """A delivered order (tests/returns_world.delivered_order) with tax, shipping and payments; paid in
    full by one card unless `payments` says otherwise (`()`: captured without payments)."""
    order = await delivered_order(fw, lines, **kw)
    totals = order.totals
    totals = OrderTotals(
        subtotal=totals.subtotal,
        shipping=Money(totals.shipping.cents if shipping_cents is None else shipping_cents),
        tax=Money(tax_cents),
    )
    order = replace(order, totals=totals)
    order = replace(order, payments=(card(totals.total.cents),) if payments is None else payments)
    await fw.world.orders.upsert_many([order])
    return order


async def counter_return(gql: GraphQLClient, order: Order, lines: list[dict[str, Any]], *, store: str = BOS.id) -> dict[str, Any]:
    """A return taken at a store counter by an admin: received, and inspected when every line has a disposition."""
    body = await gql.data(REQUEST, request_input(order, lines, method="IN_STORE", location=store))
    result = body["requestReturn"]
    assert result["__typename"] == "RequestReturnPayload", result
    return result["return"]


def restock(order_line_id: str, quantity: int, reason: str = "SIZE_FIT", **extra: Any) -> dict[str, Any]:
    return line(order_line_id, quantity, reason, disposition="RESTOCK", **extra)


async def set_policy(gql: GraphQLClient, channel: str = "web", **policy: Any) -> None:
    result = (await gql.data(SET_POLICY, {"input": {"channel": channel, "policy": policy}}))["setReturnPolicy"]
    assert result["__typename"] == "SetReturnPolicyPayload", result


async def issue(gql: GraphQLClient, **given: Any) -> dict[str, Any]:
    return (await gql.data(ISSUE, {"input": given}))["issueRefund"]


async def order_money(gql: GraphQLClient, order: Order) -> dict[str, Any]:
    return (await gql.data(ORDER_MONEY, {"id": gid("Order", order.id)}))["order"]


async def money_state(fw: FulfilmentWorld) -> tuple[Any, ...]:
    """What a refused refund must leave untouched: refunds, order tallies, returns' states, refund events."""
    db = fw.mongo.db
    return (
        await db.refunds.count_documents({}),
        [doc.get("refund_tally") async for doc in db.orders.find({}, {"refund_tally": 1}).sort("_id", 1)],
        [(doc["status"], doc.get("refund_id")) async for doc in db.returns.find({}, {"status": 1, "refund_id": 1}).sort("_id", 1)],
        await db.events.count_documents({"type": "RefundIssued"}),
    )

