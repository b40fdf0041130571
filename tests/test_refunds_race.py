"""Concurrent refunds: two issueRefund of one return, or appeasements that together exceed what was
paid, cannot both succeed; the loser gets a typed refusal and never reaches the provider."""

from __future__ import annotations

import asyncio
import base64

import pytest

from app.domain.payment_providers import PaymentProviders, ProviderRequest, ProviderResult
from app.domain.principals import Principal, Role
from app.domain.refunds import RefundRequest
from app.repositories.database import Mongo
from app.services.container import build_services
from tests.conftest import GraphQLClient
from tests.fulfilment_world import DC, FulfilmentWorld
from tests.refunds_world import ISSUE, counter_return, fw, paid_order, restock  # noqa: F401 - fixture
from tests.returns_world import gid

pytestmark = pytest.mark.usefixtures("reservations_consistent")


async def test_two_concurrent_refunds_of_one_return_issue_exactly_one(fw: FulfilmentWorld, gql: GraphQLClient) -> None:
    for _ in range(3):
        order = await paid_order(fw, [("SKU-SHOE", 1, DC.id)])
        ret = await counter_return(gql, order, [restock("1", 1)])
        given = {"input": {"returnId": ret["id"]}}

        first, second = await asyncio.gather(gql.data(ISSUE, given), gql.data(ISSUE, given))

        results = [first["issueRefund"], second["issueRefund"]]
        won = [r for r in results if r["__typename"] == "IssueRefundPayload"]
        lost = [r for r in results if r["__typename"] != "IssueRefundPayload"]
        assert len(won) == 1 and len(lost) == 1, results
        assert (lost[0]["__typename"], lost[0]["code"]) == ("ConflictError", "ALREADY_REFUNDED")
        db = fw.mongo.db
        assert await db.refunds.count_documents({"order_id": order.id}) == 1
        assert await db.events.count_documents({"type": "RefundIssued", "order_id": order.id}) == 1
        stored = await db.orders.find_one({"_id": order.id})
        assert stored["refund_tally"]["refunded_cents"] == 2500 and stored["refund_tally"]["count"] == 1


class CountingProvider:
    """Records every refund it is asked for: the losing racer must never get this far."""

    code = "stripe"

    def __init__(self) -> None:
        self.refunds: list[ProviderRequest] = []

    async def refund(self, request: ProviderRequest) -> ProviderResult:
        self.refunds.append(request)
        await asyncio.sleep(0)  # let the other racer run
        return ProviderResult(accepted=True, provider_reference=f"re_{request.idempotency_key}")

    async def charge(self, request: ProviderRequest) -> ProviderResult:
        raise AssertionError("no charges here")


async def test_the_losing_racer_never_reaches_the_provider(fw: FulfilmentWorld, gql: GraphQLClient, mongo: Mongo) -> None:
    provider = CountingProvider()
    services = build_services(mongo, payment_providers=PaymentProviders([provider]), scheduler_interval_seconds=0)
    clerk = Principal("csr", Role.CSR)
    for _ in range(3):
        order = await paid_order(fw, [("SKU-SHOE", 1, DC.id)])
        ret = await counter_return(gql, order, [restock("1", 1)])
        plain = base64.b64decode(ret["id"]).decode().split(":", 1)[1]
        outcomes = await asyncio.gather(
            *[services.refunds.issue(clerk, RefundRequest(return_id=plain)) for _ in range(4)], return_exceptions=True
        )
        issued = [o for o in outcomes if not isinstance(o, BaseException)]
        refused = [o for o in outcomes if isinstance(o, BaseException)]
        assert len(issued) == 1 and len(refused) == 3, outcomes
        assert {getattr(e, "code", None) for e in refused} == {"ALREADY_REFUNDED"}
    # One provider call per refund issued, whatever the transaction retried.
    assert len({r.idempotency_key for r in provider.refunds}) == 3


async def test_concurrent_appeasements_never_exceed_what_was_paid(fw: FulfilmentWorld, gql: GraphQLClient) -> None:
    order = await paid_order(fw, [("SKU-SHOE", 2, DC.id)])  # 55.99 paid
    given = {"input": {"orderId": gid("Order", order.id), "amountCents": 4000, "reason": "goodwill"}}
    results = [r["issueRefund"] for r in await asyncio.gather(*[gql.data(ISSUE, given) for _ in range(3)])]
    won = [r for r in results if r["__typename"] == "IssueRefundPayload"]
    assert len(won) == 1, results
    assert {r["code"] for r in results if r["__typename"] != "IssueRefundPayload"} == {"REFUND_EXCEEDS_PAID"}
    stored = await fw.mongo.db.orders.find_one({"_id": order.id})
    assert stored["refund_tally"]["refunded_cents"] == 4000
