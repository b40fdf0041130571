"""Refunds survive a refusing provider and a crash between the provider and the record: a refusal
is recorded FAILED with its amount released; a refund the provider accepted but that was never
settled is completed by the scheduler's sweep, once, with the same idempotency key."""

from __future__ import annotations

import asyncio
import base64
from dataclasses import replace
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
from tests.refunds_world import card, counter_return, fw, paid_order, restock  # noqa: F401 - fixture

pytestmark = pytest.mark.usefixtures("reservations_consistent")

CLERK = Principal("csr", Role.CSR)


class ScriptedProvider:
    """Records every refund asked for; refuses while `refuse`, raises after accepting while `crash`."""

    code = "stripe"

    def __init__(self) -> None:
        self.refunds: list[ProviderRequest] = []
        self.refuse = False
        self.refuse_references: set[str] = set()
        self.crash = False

    async def refund(self, request: ProviderRequest) -> ProviderResult:
        self.refunds.append(request)
        if self.refuse or request.payment_reference in self.refuse_references:
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


async def test_a_refund_refused_by_one_of_two_payments_keeps_what_went_back_and_releases_the_rest(
    fw: FulfilmentWorld, gql: GraphQLClient, mongo: Mongo
) -> None:
    provider = ScriptedProvider()
    services = build_services(mongo, payment_providers=PaymentProviders([provider]), scheduler_interval_seconds=0)
    order = await paid_order(fw, [("SKU-SHOE", 1, DC.id)])
    order = replace(order, payments=(card(1000, "ch_gift"), card(order.totals.total.cents - 1000, "ch_card")))
    await fw.world.orders.upsert_many([order])
    ret = await counter_return(gql, order, [restock("1", 1)])
    return_id = base64.b64decode(ret["id"]).decode().split(":", 1)[1]
    db = mongo.db

    provider.refuse_references = {"ch_card"}
    refund = await services.refunds.issue(CLERK, RefundRequest(return_id=return_id))
    assert refund.status is RefundStatus.PARTIALLY_ISSUED
    assert (refund.amount.cents, refund.refused and refund.refused.cents) == (1000, 1500)
    assert [s.reference for s in refund.splits] == ["ch_gift"]
    stored = await db.refunds.find_one({"_id": refund.id})
    assert (stored["status"], stored["amount_cents"], stored["refused_cents"], stored["return_id"]) == ("PARTIALLY_ISSUED", 1000, 1500, return_id)
    tally = (await db.orders.find_one({"_id": order.id}))["refund_tally"]
    assert (tally["total_cents"], tally["refunded_cents"], tally["count"]) == (1000, 1000, 1)
    assert sum(tally["lines"].values()) + tally.get("shipping_cents", 0) == 1000
    assert (await db.returns.find_one({"_id": return_id}))["status"] == "REFUNDED"
    assert await db.events.count_documents({"type": "RefundPartiallyIssued", "order_id": order.id}) == 1
    assert await db.events.count_documents({"type": {"$in": ["RefundIssued", "RefundFailed"]}, "order_id": order.id}) == 0
    with pytest.raises(Exception) as again:  # the return's refund happened: no second one
        await services.refunds.issue(CLERK, RefundRequest(return_id=return_id))
    assert getattr(again.value, "code", None) == "ALREADY_REFUNDED"

    # The refused part is back under the ceiling: customer service can give it back another way.
    provider.refuse_references = set()
    rest = await services.refunds.issue(CLERK, RefundRequest(order_id=order.id, amount_cents=1500, reason="rest of return"))
    assert rest.status is RefundStatus.ISSUED and [s.reference for s in rest.splits] == ["ch_card"]
    tally = (await db.orders.find_one({"_id": order.id}))["refund_tally"]
    assert (tally["refunded_cents"], tally["count"]) == (2500, 2)


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


async def test_a_return_whose_refund_is_pending_cannot_be_closed_and_the_sweep_refunds_it(
    fw: FulfilmentWorld, gql: GraphQLClient, mongo: Mongo
) -> None:
    provider = ScriptedProvider()
    services = build_services(mongo, payment_providers=PaymentProviders([provider]), scheduler_interval_seconds=0)
    order_id, return_id = await _inspected_return(fw, gql)
    db = mongo.db

    provider.crash = True
    pending = await services.refunds.issue(CLERK, RefundRequest(return_id=return_id))
    assert pending.status is RefundStatus.PENDING
    with pytest.raises(Exception) as closing:
        await services.returns.close(CLERK, return_id, "customer took store credit")
    assert getattr(closing.value, "code", None) == "CONFLICT" and "being issued" in str(closing.value)
    assert (await db.returns.find_one({"_id": return_id}))["status"] == "INSPECTED"

    provider.crash = False
    await db.refunds.update_one({"_id": pending.id}, {"$set": {"created_at": utcnow() - timedelta(minutes=2)}})
    assert await services.scheduler.complete_refunds() == 1
    assert (await db.refunds.find_one({"_id": pending.id}))["status"] == "ISSUED"
    assert (await db.returns.find_one({"_id": return_id}))["status"] == "REFUNDED"
    assert await services.scheduler.complete_refunds() == 0
