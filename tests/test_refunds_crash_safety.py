"""Refunds survive a refusing provider and a crash between the provider and the record: a refusal
is recorded FAILED with its amount released; a refund the provider accepted but that was never
settled is completed by the scheduler's sweep, once, with the same idempotency key."""

from __future__ import annotations

import asyncio
import base64
from datetime import timedelta

import pytest

from app.domain.clock import utcnow
from app.domain.money import Money
from app.domain.payment_providers import PaymentProviders, ProviderRequest, ProviderResult
from app.domain.principals import Principal, Role
from app.domain.refunds import RefundRequest, RefundStatus
from app.repositories.database import Mongo
from app.services.container import build_services
from tests.conftest import GraphQLClient
from tests.fulfilment_world import DC, FulfilmentWorld
from tests.refunds_world import counter_return, fw, paid_order, restock  # noqa: F401 - fixture

pytestmark = pytest.mark.usefixtures("reservations_consistent")

CLERK = Principal("csr", Role.CSR)


class ScriptedProvider:
    """Records every refund asked for; refuses while `refuse`, raises after accepting while `crash`."""

    code = "stripe"

    def __init__(self) -> None:
        self.refunds: list[ProviderRequest] = []
        self.refuse = False
        self.crash = False

    async def refund(self, request: ProviderRequest) -> ProviderResult:
        self.refunds.append(request)
        if self.refuse:
            return ProviderResult(accepted=False, provider_reference="", message="card expired")
        if self.crash:
            raise ConnectionError("the process died after the provider accepted")
        return ProviderResult(accepted=True, provider_reference=f"re_{request.idempotency_key}")

    async def charge(self, request: ProviderRequest) -> ProviderResult:
        raise AssertionError("no charges here")


async def _inspected_return(fw: FulfilmentWorld, gql: GraphQLClient) -> tuple[str, str]:
    order = await paid_order(fw, [("SKU-SHOE", 1, DC.id)])
    ret = await counter_return(gql, order, [restock("1", 1)])
    return order.id, base64.b64decode(ret["id"]).decode().split(":", 1)[1]


async def test_a_refused_refund_is_failed_released_and_may_be_issued_again(fw: FulfilmentWorld, gql: GraphQLClient, mongo: Mongo) -> None:
    provider = ScriptedProvider()
    services = build_services(mongo, payment_providers=PaymentProviders([provider]), scheduler_interval_seconds=0)
    order_id, return_id = await _inspected_return(fw, gql)
    db = mongo.db

    provider.refuse = True
    with pytest.raises(Exception) as refused:
        await services.refunds.issue(CLERK, RefundRequest(return_id=return_id))
    assert getattr(refused.value, "code", None) == "PAYMENT_FAILED"
    failed = await db.refunds.find_one({"order_id": order_id})
    assert failed["status"] == "FAILED" and "return_id" not in failed and failed["failed_return_id"] == return_id
    tally = (await db.orders.find_one({"_id": order_id}))["refund_tally"]
    assert (tally["refunded_cents"], tally["count"]) == (0, 0)
    assert (await db.returns.find_one({"_id": return_id}))["status"] == "INSPECTED"
    assert await db.events.count_documents({"type": "RefundFailed", "order_id": order_id}) == 1
    assert await db.events.count_documents({"type": "RefundIssued", "order_id": order_id}) == 0

    provider.refuse = False
    issued = await services.refunds.issue(CLERK, RefundRequest(return_id=return_id))
    assert issued.status is RefundStatus.ISSUED and issued.id != failed["_id"]
    tally = (await db.orders.find_one({"_id": order_id}))["refund_tally"]
    assert (tally["refunded_cents"], tally["count"]) == (2500, 1)
    assert (await db.returns.find_one({"_id": return_id}))["status"] == "REFUNDED"
    assert (await services.refunds.for_returns(CLERK, [return_id]))[return_id].id == issued.id


async def test_a_crash_after_the_provider_accepted_is_completed_once_by_the_sweep(
    fw: FulfilmentWorld, gql: GraphQLClient, mongo: Mongo
) -> None:
    provider = ScriptedProvider()
    # Two instances, so two schedulers with their own lease owners sweep at once.
    first = build_services(mongo, payment_providers=PaymentProviders([provider]), scheduler_interval_seconds=0)
    second = build_services(mongo, payment_providers=PaymentProviders([provider]), scheduler_interval_seconds=0)
    order_id, return_id = await _inspected_return(fw, gql)
    db = mongo.db

    provider.crash = True
    pending = await first.refunds.issue(CLERK, RefundRequest(return_id=return_id))
    assert pending.status is RefundStatus.PENDING
    assert (await db.refunds.find_one({"_id": pending.id}))["status"] == "PENDING"
    assert (await db.returns.find_one({"_id": return_id}))["status"] == "INSPECTED"
    # A retry by the client is refused: the pending refund holds the return (no second refund id).
    with pytest.raises(Exception) as again:
        await first.refunds.issue(CLERK, RefundRequest(return_id=return_id))
    assert getattr(again.value, "code", None) == "ALREADY_REFUNDED"

    provider.crash = False
    assert await first.scheduler.complete_refunds() == 0  # younger than a minute: its request may still settle it
    await db.refunds.update_one({"_id": pending.id}, {"$set": {"created_at": utcnow() - timedelta(minutes=2)}})
    done = await asyncio.gather(first.scheduler.complete_refunds(), second.scheduler.complete_refunds())
    assert sum(done) == 1
    assert await first.scheduler.complete_refunds() == 0

    stored = await db.refunds.find_one({"_id": pending.id})
    assert stored["status"] == "ISSUED" and stored["splits"][0]["provider_refund_id"] == f"re_{pending.id}-0"
    assert (await db.returns.find_one({"_id": return_id}))["status"] == "REFUNDED"
    assert await db.events.count_documents({"type": "RefundIssued", "order_id": order_id}) == 1
    assert {r.idempotency_key for r in provider.refunds} == {f"{pending.id}-0"}
    assert len(provider.refunds) == 2  # the crashed call and the sweep's, under one key
    tally = (await db.orders.find_one({"_id": order_id}))["refund_tally"]
    assert (tally["refunded_cents"], tally["count"]) == (2500, 1)


async def test_the_built_in_provider_answers_a_repeated_key_alike() -> None:
    provider = PaymentProviders().get("recorded")
    request = ProviderRequest(provider="recorded", payment_reference="pi_1", amount=Money(100, "USD"), idempotency_key="r1-0")
    assert await provider.refund(request) == await provider.refund(request)

