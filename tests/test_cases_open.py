"""openCase (links, idempotency, typed refusals), the thread (messages vs internal notes), the status machine."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from app.domain.clock import utcnow
from app.domain.principals import Role
from app.services.container import Services
from tests.cases_world import ENTRY, GET, OPEN, STATUS, CaseWorld, case_world, gid, open_input
from tests.conftest import GraphQLClient
from tests.factories import World


@pytest.fixture
async def cw(world: World, services: Services) -> CaseWorld:
    return await case_world(world, services)


async def counts(cw: CaseWorld) -> tuple[int, int]:
    db = cw.world.mongo.db
    return await db.cases.count_documents({}), await db.events.count_documents({"aggregate_type": "Case"})


async def test_a_rep_opens_a_case_about_a_customers_order_with_sla_due_times(cw: CaseWorld, gql: GraphQLClient) -> None:
    before = utcnow()
    body = await gql.data(OPEN, open_input(cw.ada.id, orders=[cw.ada_order], priority="HIGH"))

    result = body["openCase"]
    assert result["__typename"] == "OpenCasePayload" and not result["replayed"], result
    case = result["case"]
    assert case["status"] == "NEW" and case["priority"] == "HIGH" and case["contactChannel"] == "PHONE" and case["assignee"] is None
    assert case["channelCode"] == "web" and case["number"].startswith("C-")
    assert case["orders"] == [{"externalId": cw.ada_order.external_id, "status": "CREATED"}]
    assert case["entries"] == [
        {"kind": "MESSAGE", "body": "It was due on Monday and has not arrived.", "fromCustomer": True, "action": None,
         "author": case["openedBy"], "order": None}
    ]
    # HIGH defaults: first response within 4 hours, resolution within 24.
    opened = datetime.fromisoformat(case["sla"]["firstResponseDue"]) - timedelta(hours=4)
    assert before - timedelta(seconds=1) <= opened <= utcnow()
    assert datetime.fromisoformat(case["sla"]["resolutionDue"]) - datetime.fromisoformat(case["sla"]["firstResponseDue"]) == timedelta(hours=20)
    [event] = await cw.events()
    assert event["type"] == "CaseOpened" and event["customer_id"] == cw.ada.id and event["order_id"] == cw.ada_order.id
    assert event["channel_id"] == "web" and event["payload"]["status"] == "NEW" and event["payload"]["priority"] == "HIGH"


async def test_a_replay_returns_the_same_case_and_other_content_under_the_key_is_refused(cw: CaseWorld, gql: GraphQLClient) -> None:
    variables = open_input(cw.ada.id, orders=[cw.ada_order], key="call-42")
    first = (await gql.data(OPEN, variables))["openCase"]
    before = await counts(cw)

    again = (await gql.data(OPEN, variables))["openCase"]
    other = (await gql.data(OPEN, open_input(cw.ada.id, key="call-42", subject="Something else")))["openCase"]

    assert again["replayed"] and again["case"]["id"] == first["case"]["id"]
    assert other["__typename"] == "ConflictError" and other["code"] == "DUPLICATE_CLIENT_KEY" and other["field"] == ["clientKey"]
    assert await counts(cw) == before


async def test_links_must_be_the_customers_and_bad_input_writes_nothing(cw: CaseWorld, gql: GraphQLClient) -> None:
    before = await counts(cw)

    foreign = (await gql.data(OPEN, open_input(cw.ada.id, orders=[cw.ada_order, cw.bob_order])))["openCase"]
    blank = (await gql.data(OPEN, open_input(cw.ada.id, subject="  ", clientKey=" ")))["openCase"]
    nobody = (await gql.data(OPEN, open_input(None)))["openCase"]
    wrong_type = await gql(OPEN, open_input(cw.ada.id, orderIds=[gid("Customer", cw.bob.id)]))

    assert foreign["__typename"] == "NotFoundError" and foreign["field"] == ["orderIds", "1"]
    assert blank["__typename"] == "InvalidInputError" and {tuple(i["field"]) for i in blank["issues"]} == {("clientKey",), ("subject",)}
    assert nobody["__typename"] == "NotFoundError" and nobody["field"] == ["customerId"]
    assert wrong_type["data"]["openCase"]["__typename"] == "InvalidInputError"
    assert await counts(cw) == before


async def test_a_customer_opens_their_own_case_and_never_sees_internal_notes(cw: CaseWorld, gql: GraphQLClient) -> None:
    shopper = gql.as_(await cw.token(Role.CUSTOMER, customer_id=cw.ada.id))
    opened = (await shopper.data(OPEN, open_input(None, orders=[cw.ada_order], contactChannel="WEB")))["openCase"]["case"]
    case_id = opened["id"]

    note = (await gql.data(ENTRY, {"input": {"caseId": case_id, "kind": "NOTE", "body": "Carrier says lost; refund if not found"}}))
    reply = (await gql.data(ENTRY, {"input": {"caseId": case_id, "body": "We are checking with the carrier."}}))
    customer_note = (await shopper.data(ENTRY, {"input": {"caseId": case_id, "kind": "NOTE", "body": "sneaky"}}))["addCaseEntry"]

    staff_view = reply["addCaseEntry"]["case"]
    assert [e["kind"] for e in staff_view["entries"]] == ["MESSAGE", "NOTE", "MESSAGE"]
    assert note["addCaseEntry"]["case"]["status"] == "NEW"  # a note is not an answer to the customer
    assert staff_view["status"] == "OPEN" and staff_view["sla"]["firstRespondedAt"] is not None
    assert customer_note["__typename"] == "PermissionDeniedError"
    mine = (await shopper.data(GET, {"id": case_id}))["case"]
    assert [(e["kind"], e["fromCustomer"]) for e in mine["entries"]] == [("MESSAGE", True), ("MESSAGE", False)]
    assert "Carrier says lost" not in str(mine)
    # Nor in the events a channel could read: an internal entry's event carries no text.
    [note_event] = [e for e in await cw.events(type="CaseEntryAdded") if e["payload"]["kind"] == "NOTE"]
    assert note_event["payload"]["internal"] is True and "body" not in note_event["payload"]
    # Another customer cannot see it at all.
    other = gql.as_(await cw.token(Role.CUSTOMER, customer_id=cw.bob.id))
    assert (await other.data(GET, {"id": case_id}))["case"] is None


async def test_the_status_machine_is_enforced_audited_and_reopens_only_within_the_window(cw: CaseWorld, gql: GraphQLClient) -> None:
    case = await cw.case()
    case_id = gid("Case", case.id)

    async def move(status: str, **extra: str) -> dict:
        return (await gql.data(STATUS, {"input": {"caseId": case_id, "status": status, **extra}}))["setCaseStatus"]

    illegal = await move("CLOSED")
    waiting = await move("PENDING_CUSTOMER", reason="asked for a photo")
    customer = gql.as_(await cw.token(Role.CUSTOMER, customer_id=cw.ada.id))
    answered = (await customer.data(ENTRY, {"input": {"caseId": case_id, "body": "Photo attached"}}))["addCaseEntry"]["case"]
    resolved = await move("RESOLVED", reason="replacement sent")
    reopened = await move("OPEN", reason="still broken")
    await move("RESOLVED")

    assert illegal["__typename"] == "ConflictError" and illegal["code"] == "ILLEGAL_TRANSITION"
    assert waiting["case"]["status"] == "PENDING_CUSTOMER" and waiting["case"]["sla"]["pausedSince"] is not None
    assert answered["status"] == "OPEN" and answered["sla"]["pausedSince"] is None  # the customer's answer resumes the clock
    assert resolved["case"]["status"] == "RESOLVED" and resolved["case"]["sla"]["resolutionDue"] is None
    assert reopened["case"]["status"] == "OPEN" and reopened["case"]["sla"]["resolutionDue"] is not None
    # Resolved long ago: too late to reopen; closing is still allowed.
    await cw.world.mongo.db.cases.update_one({"_id": case.id}, {"$set": {"resolved_at": utcnow() - timedelta(days=30)}})
    late = await move("OPEN")
    closed = await move("CLOSED")
    after_close = (await gql.data(ENTRY, {"input": {"caseId": case_id, "body": "hello?"}}))["addCaseEntry"]
    assert late["__typename"] == "ConflictError" and late["code"] == "ILLEGAL_TRANSITION" and "reopened" in late["message"]
    assert closed["case"]["status"] == "CLOSED"
    assert after_close["code"] == "ILLEGAL_TRANSITION"
    moves = [(e["payload"]["from"], e["payload"]["to"], e["reason"]) for e in await cw.events(type="CaseStatusChanged")]
    assert moves == [
        ("NEW", "PENDING_CUSTOMER", "asked for a photo"), ("PENDING_CUSTOMER", "OPEN", None), ("OPEN", "RESOLVED", "replacement sent"),
        ("RESOLVED", "OPEN", "still broken"), ("OPEN", "RESOLVED", None), ("RESOLVED", "CLOSED", None),
    ]
    assert all(e["actor"]["subject"] for e in await cw.events(type="CaseStatusChanged"))


async def test_store_staff_open_cases_at_their_store_and_channels_about_their_orders(cw: CaseWorld, gql: GraphQLClient, world: World) -> None:
    from tests.factories import BOSTON, location

    await world.add_locations(location("ST-A", BOSTON), location("ST-B", BOSTON))
    staff = gql.as_(await cw.token(Role.STORE_STAFF, location_ids=frozenset({"ST-A"})))
    amazon = gql.as_(await cw.token(Role.CHANNEL, channel_id="amazon"))

    at_store = (await staff.data(OPEN, open_input(cw.ada.id, contactChannel="STORE")))["openCase"]
    elsewhere = (await staff.data(OPEN, open_input(cw.ada.id, contactChannel="STORE", location="ST-B")))["openCase"]
    from_marketplace = (await amazon.data(OPEN, open_input(None, orders=[cw.bob_order], contactChannel="MARKETPLACE")))["openCase"]
    not_its_order = (await amazon.data(OPEN, open_input(None, orders=[cw.ada_order], contactChannel="MARKETPLACE")))["openCase"]

    assert at_store["case"]["locationCode"] == "ST-A"
    assert elsewhere["__typename"] == "PermissionDeniedError"
    assert from_marketplace["case"]["channelCode"] == "amazon" and from_marketplace["case"]["entries"][0]["fromCustomer"]
    assert not_its_order["__typename"] == "NotFoundError"
