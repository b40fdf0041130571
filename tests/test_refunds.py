"""refundPreview and issueRefund: amounts from what was received and its disposition, providers,
the return moving to REFUNDED, audit events, and typed refusals that write nothing."""

from __future__ import annotations

import pytest

from app.domain.principals import Role
from app.services.container import Services
from tests.conftest import GraphQLClient
from tests.fulfilment_world import DC, FulfilmentWorld
from tests.refunds_world import (
    PREVIEW,
    counter_return,
    fw,  # noqa: F401 - fixture
    issue,
    money_state,
    order_money,
    paid_order,
    restock,
    set_policy,
    token,
)
from tests.returns_world import REQUEST, gid, line, request_input

pytestmark = pytest.mark.usefixtures("reservations_consistent")


async def preview(gql: GraphQLClient, return_id: str) -> dict:
    return (await gql.data(PREVIEW, {"id": return_id}))["refundPreview"]


async def test_an_inspected_return_is_previewed_refunded_through_the_payment_and_marked_refunded(
    fw: FulfilmentWorld, gql: GraphQLClient
) -> None:
    await set_policy(gql, restockingFeeBasisPoints=1000)
    order = await paid_order(fw, [("SKU-SHOE", 2, DC.id)], tax_cents=400)  # 2 × 25.00 + 4.00 tax + 5.99 shipping
    ret = await counter_return(gql, order, [restock("1", 1, "SIZE_FIT")])
    assert ret["status"] == "INSPECTED"

    shown = await preview(gql, ret["id"])
    assert shown["final"] is True
    assert [(x["kind"], x["amount"]["cents"]) for x in shown["lines"]] == [("GOODS", 2500), ("TAX", 200), ("RESTOCKING_FEE", -250)]
    assert shown["total"]["cents"] == 2450 and shown["refundable"]["cents"] == 5999

    result = await issue(gql, returnId=ret["id"])
    assert result["__typename"] == "IssueRefundPayload", result
    refund = result["refund"]
    assert (refund["kind"], refund["status"], refund["amount"]["cents"]) == ("RETURN", "ISSUED", 2450)
    assert refund["payments"] == [
        {"provider": "stripe", "paymentReference": "ch_1", "amount": {"cents": 2450}, "providerRefundId": refund["payments"][0]["providerRefundId"]}
    ]
    assert refund["payments"][0]["providerRefundId"].startswith("re_")
    assert refund["return"]["status"] == "REFUNDED" and gid("Refund", refund["return"]["refundId"]) == refund["id"]

    money = await order_money(gql, order)
    assert money["payments"][0]["refunded"] == {"cents": 2450}
    assert money["refundSummary"] == {
        "paid": {"cents": 5999}, "refunded": {"cents": 2450}, "exchangeCredit": {"cents": 0}, "refundable": {"cents": 3549}, "refundCount": 1,
    }
    assert [r["kind"] for r in money["refunds"]] == ["RETURN"]
    [event] = await fw.events(type="RefundIssued")
    assert (event["order_id"], event["customer_id"], event["channel_id"]) == (order.id, order.customer_id, order.channel_id)
    assert event["payload"]["amountCents"] == 2450 and event["payload"]["returnId"] == fw_id(ret)
    refunded = [e for e in await fw.events(aggregate_type="Return") if e["payload"].get("to") == "REFUNDED"]
    assert len(refunded) == 1


def fw_id(ret: dict) -> str:
    import base64

    return base64.b64decode(ret["id"]).decode().split(":", 1)[1]


async def test_returns_that_are_not_the_shoppers_doing_get_shipping_back_and_no_fee(fw: FulfilmentWorld, gql: GraphQLClient) -> None:
    await set_policy(gql, restockingFeeBasisPoints=1000)
    order = await paid_order(fw, [("SKU-SHOE", 2, DC.id)])  # shipping 5.99 for 2 units
    ret = await counter_return(gql, order, [line("1", 1, "DAMAGED", disposition="DAMAGED", dispositionNote="torn sole")])

    shown = await preview(gql, ret["id"])
    assert [(x["kind"], x["amount"]["cents"]) for x in shown["lines"]] == [("GOODS", 2500), ("SHIPPING", 299)]
    assert (await issue(gql, returnId=ret["id"]))["refund"]["amount"]["cents"] == 2799


async def test_goods_damaged_in_the_shoppers_care_give_nothing_back(fw: FulfilmentWorld, gql: GraphQLClient) -> None:
    order = await paid_order(fw, [("SKU-SHOE", 1, DC.id)])
    ret = await counter_return(gql, order, [line("1", 1, "NO_LONGER_NEEDED", disposition="DAMAGED", dispositionNote="worn")])
    shown = await preview(gql, ret["id"])
    assert [(x["kind"], x["amount"]["cents"]) for x in shown["lines"]] == [("NOT_REFUNDED", 0)] and shown["total"]["cents"] == 0
    before = await money_state(fw)
    refused = await issue(gql, returnId=ret["id"])
    assert (refused["__typename"], refused["code"]) == ("ConflictError", "NOT_REFUNDABLE")
    assert await money_state(fw) == before


async def test_a_return_label_the_shopper_pays_is_deducted(fw: FulfilmentWorld, gql: GraphQLClient) -> None:
    await set_policy(gql, returnShippingPaidBy="CUSTOMER")
    order = await paid_order(fw, [("SKU-SHOE", 1, DC.id)])
    ret = (await gql.data(REQUEST, request_input(order, [line("1", 1, "SIZE_FIT")])))["requestReturn"]["return"]
    label = ret["label"]["cost"]["cents"]
    estimate = await preview(gql, ret["id"])
    assert estimate["final"] is False
    assert [(x["kind"], x["amount"]["cents"]) for x in estimate["lines"]] == [("GOODS", 2500), ("RETURN_LABEL", -label)]
    before = await money_state(fw)
    early = await issue(gql, returnId=ret["id"])
    assert (early["__typename"], early["code"]) == ("ConflictError", "NOT_REFUNDABLE")
    assert await money_state(fw) == before


async def test_a_partial_refund_needs_a_reason_and_is_never_more_than_computed(fw: FulfilmentWorld, gql: GraphQLClient) -> None:
    order = await paid_order(fw, [("SKU-SHOE", 1, DC.id)])
    ret = await counter_return(gql, order, [restock("1", 1)])
    before = await money_state(fw)
    no_reason = await issue(gql, returnId=ret["id"], amountCents=1000)
    assert (no_reason["__typename"], no_reason["field"]) == ("InvalidInputError", ["reason"])
    too_much = await issue(gql, returnId=ret["id"], amountCents=2501, reason="why not")
    assert (too_much["code"], too_much["field"]) == ("NOT_REFUNDABLE", ["amountCents"])
    assert await money_state(fw) == before

    refund = (await issue(gql, returnId=ret["id"], amountCents=2000, reason="tags removed"))["refund"]
    assert refund["amount"]["cents"] == 2000 and refund["reason"] == "tags removed"
    assert [(x["kind"], x["amount"]["cents"]) for x in refund["lines"]] == [("GOODS", 2500), ("ADJUSTMENT", -500)]
    again = await issue(gql, returnId=ret["id"], amountCents=500, reason="the rest")
    assert again["code"] == "ALREADY_REFUNDED"


async def test_refund_ceilings_hold_across_partial_refunds_and_appeasements(fw: FulfilmentWorld, gql: GraphQLClient) -> None:
    """3 × 25.00 + 5.99 shipping = 80.99, paid 50.00 by card and 30.99 by gift card."""
    from tests.refunds_world import card

    order = await paid_order(fw, [("SKU-SHOE", 3, DC.id)], payments=(card(5000), card(3099, "gc_1", "giftcards")))
    first = await counter_return(gql, order, [restock("1", 1)])
    assert (await issue(gql, returnId=first["id"]))["refund"]["amount"]["cents"] == 2500
    second = await counter_return(gql, order, [restock("1", 1)])
    refund = (await issue(gql, returnId=second["id"]))["refund"]
    assert [(p["provider"], p["amount"]["cents"]) for p in refund["payments"]] == [("stripe", 2500)]
    appeased = (await issue(gql, orderId=gid("Order", order.id), amountCents=3000, reason="late delivery"))["refund"]
    assert appeased["kind"] == "APPEASEMENT"
    assert [(p["provider"], p["amount"]["cents"]) for p in appeased["payments"]] == [("giftcards", 3000)]  # the card is used up

    third = await counter_return(gql, order, [restock("1", 1)])
    before = await money_state(fw)
    over = await issue(gql, returnId=third["id"])
    assert (over["__typename"], over["code"], over["field"]) == ("ConflictError", "REFUND_EXCEEDS_PAID", ["amountCents"])
    assert "0.99 left" in over["message"]
    assert await money_state(fw) == before
    last = (await issue(gql, returnId=third["id"], amountCents=99, reason="what was left"))["refund"]
    assert last["amount"]["cents"] == 99

    money = await order_money(gql, order)
    assert money["refundSummary"]["refunded"] == {"cents": 8099} and money["refundSummary"]["refundable"] == {"cents": 0}
    assert [p["refunded"]["cents"] for p in money["payments"]] == [5000, 3099]
    nothing_left = await issue(gql, orderId=gid("Order", order.id), amountCents=1, reason="one more cent")
    assert nothing_left["code"] == "REFUND_EXCEEDS_PAID"


async def test_a_line_never_gets_back_more_than_was_paid_for_it(fw: FulfilmentWorld, gql: GraphQLClient, services: Services) -> None:
    """Per-line ceiling: the line's goods and tax, whatever else the order paid."""
    from app.domain.payments import RefundExceedsPaid, TallyEntry, add
    from app.domain.refunds import ceilings

    order = await paid_order(fw, [("SKU-SHOE", 1, DC.id), ("SKU-KETTLE", 1, DC.id)], tax_cents=500)
    limits = ceilings(order)
    assert limits.lines == {"1": 2750, "2": 2750} and limits.total_cents == order.totals.total.cents
    with pytest.raises(RefundExceedsPaid, match="line 1"):
        add(order.refund_tally, TallyEntry(total_cents=2751, lines=(("1", 2751),)), limits)


async def test_an_order_captured_without_payments_is_refunded_as_manual(fw: FulfilmentWorld, gql: GraphQLClient) -> None:
    order = await paid_order(fw, [("SKU-SHOE", 1, DC.id)], payments=())
    ret = await counter_return(gql, order, [restock("1", 1)])
    refund = (await issue(gql, returnId=ret["id"]))["refund"]
    assert [(p["provider"], p["paymentReference"], p["amount"]["cents"]) for p in refund["payments"]] == [("MANUAL", None, 2500)]
    assert (await order_money(gql, order))["refundSummary"]["paid"] == {"cents": 3099}


async def test_appeasements_are_for_customer_service_up_to_their_roles_limit(
    fw: FulfilmentWorld, gql: GraphQLClient, services: Services
) -> None:
    order = await paid_order(fw, [("SKU-SHOE", 4, DC.id)])  # 100.00 + 5.99
    target = gid("Order", order.id)
    csr = gql.as_(await token(services, Role.CSR))
    clerk = gql.as_(await token(services, Role.STORE_STAFF, location_ids=frozenset({DC.id})))
    before = await money_state(fw)
    over = await issue(csr, orderId=target, amountCents=5001, reason="sorry")
    assert (over["__typename"], over["code"]) == ("ConflictError", "REFUND_LIMIT_EXCEEDED") and "50.00" in over["message"]
    no_reason = await issue(csr, orderId=target, amountCents=500)
    assert no_reason["__typename"] == "InvalidInputError" and no_reason["issues"][0]["field"] == ["reason"]
    denied = await issue(clerk, orderId=target, amountCents=500, reason="sorry")
    assert denied["code"] == "FORBIDDEN"
    assert await money_state(fw) == before

    assert (await issue(csr, orderId=target, amountCents=5000, reason="parcel was late"))["refund"]["createdBy"].startswith("apikey:")
    assert (await issue(gql, orderId=target, amountCents=5001, reason="box crushed"))["__typename"] == "IssueRefundPayload"
    [first, second] = await fw.events(type="RefundIssued")
    assert first["reason"] == "parcel was late" and first["actor"]["role"] == "CSR" and first["payload"]["limitCents"] == 5000


async def test_appeasement_limits_are_configurable(fw: FulfilmentWorld, mongo) -> None:  # type: ignore[no-untyped-def]
    from app.domain.principals import Principal
    from app.domain.refunds import AppeasementLimits, RefundLimitExceeded, RefundRequest
    from app.services.container import build_services
    from app.settings import Settings

    settings = Settings.from_env({"OMS_APPEASEMENT_LIMIT_CSR_CENTS": "100", "OMS_APPEASEMENT_LIMIT_ADMIN_CENTS": "900"})
    assert (settings.appeasement_limit_csr_cents, settings.appeasement_limit_admin_cents) == (100, 900)
    strict = build_services(mongo, appeasement_limits=AppeasementLimits(csr_cents=100, admin_cents=900), scheduler_interval_seconds=0)
    order = await paid_order(fw, [("SKU-SHOE", 1, DC.id)])
    with pytest.raises(RefundLimitExceeded):
        await strict.refunds.issue(Principal("csr", Role.CSR), RefundRequest(order_id=order.id, amount_cents=101, reason="x"))
    refund = await strict.refunds.issue(Principal("csr", Role.CSR), RefundRequest(order_id=order.id, amount_cents=100, reason="x"))
    assert refund.amount.cents == 100


async def test_who_may_refund_a_return(fw: FulfilmentWorld, gql: GraphQLClient, services: Services) -> None:
    order = await paid_order(fw, [("SKU-SHOE", 2, DC.id)])
    ret = await counter_return(gql, order, [restock("1", 2)])  # received at the Boston store
    shopper = gql.as_(await token(services, Role.CUSTOMER, customer_id=order.customer_id))
    elsewhere = gql.as_(await token(services, Role.STORE_STAFF, location_ids=frozenset({DC.id})))
    before = await money_state(fw)
    assert (await issue(shopper, returnId=ret["id"]))["code"] == "FORBIDDEN"
    assert (await issue(elsewhere, returnId=ret["id"]))["code"] == "NOT_FOUND"
    assert await money_state(fw) == before
    # The shopper may look at the preview of their own return.
    assert (await preview(shopper, ret["id"]))["total"]["cents"] == 5000
    from tests.fulfilment_world import BOS

    counter = gql.as_(await token(services, Role.STORE_STAFF, location_ids=frozenset({BOS.id})))
    assert (await issue(counter, returnId=ret["id"]))["refund"]["amount"]["cents"] == 5000
