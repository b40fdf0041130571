"""Queues: cases(filter, order, first, after), text search without operator injection, assignCase, and
claimNextCase giving concurrent reps distinct cases."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from app.domain.cases import CaseFilter, CasePriority, CaseStatus, CaseTopic, ContactChannel, EntryKind
from app.domain.principals import Principal, Role
from app.services.container import Services
from tests.cases_world import CLAIM, CSR, LIST, CaseWorld, case_world, gid
from tests.conftest import GraphQLClient
from tests.factories import World


@pytest.fixture
async def cw(world: World, services: Services) -> CaseWorld:
    return await case_world(world, services)


def subjects(body: dict[str, Any]) -> list[str]:
    return [edge["node"]["subject"] for edge in body["cases"]["edges"]]


async def test_cases_filter_by_every_criterion_newest_first(cw: CaseWorld, gql: GraphQLClient) -> None:
    late = await cw.case(subject="Late parcel", orders=(cw.ada_order.id,))
    await cw.case(subject="Wrong size", topic=CaseTopic.RETURN, channel=ContactChannel.EMAIL, priority=CasePriority.HIGH)
    await cw.case(cw.bob, subject="Refund missing", topic=CaseTopic.BILLING, priority=CasePriority.URGENT)
    await cw.services.cases.assign(CSR, late.id, "csr:riley")
    await cw.services.cases.set_status(CSR, late.id, CaseStatus.PENDING_CUSTOMER, None)

    async def listed(f: dict[str, Any]) -> list[str]:
        return subjects(await gql.data(LIST, {"f": f}))

    assert await listed({}) == ["Refund missing", "Wrong size", "Late parcel"]
    assert await listed({"statuses": ["PENDING_CUSTOMER"]}) == ["Late parcel"]
    assert await listed({"priorities": ["HIGH", "URGENT"]}) == ["Refund missing", "Wrong size"]
    assert await listed({"topics": ["RETURN"]}) == ["Wrong size"]
    assert await listed({"contactChannels": ["EMAIL"]}) == ["Wrong size"]
    assert await listed({"assignee": "csr:riley"}) == ["Late parcel"]
    assert await listed({"unassigned": True}) == ["Refund missing", "Wrong size"]
    assert await listed({"customerId": gid("Customer", cw.bob.id)}) == ["Refund missing"]
    assert await listed({"orderId": gid("Order", cw.ada_order.id)}) == ["Late parcel"]
    assert await listed({"channels": ["web"]}) == ["Late parcel"]
    assert await listed({"breached": True}) == []


async def test_text_search_matches_subject_and_thread_literally_and_customers_search_visible_text_only(cw: CaseWorld, gql: GraphQLClient) -> None:
    parcel = await cw.case(subject="Parcel (damaged) box", message="The box was crushed")
    await cw.case(subject="Billing question", message="Charged twice")
    await cw.services.cases.add_entry(CSR, parcel.id, EntryKind.NOTE, "suspect courier 7734")

    async def search(text: str, client: GraphQLClient = gql) -> list[str]:
        return subjects(await client.data(LIST, {"f": {"text": text}}))

    assert await search("CRUSHED") == ["Parcel (damaged) box"]
    assert await search("(damaged)") == ["Parcel (damaged) box"]  # regex characters are matched literally
    assert await search("twice") == ["Billing question"]
    assert await search("courier 7734") == ["Parcel (damaged) box"]
    assert await search(".*") == []
    assert await search("$where") == []
    shopper = gql.as_(await cw.token(Role.CUSTOMER, customer_id=cw.ada.id))
    assert await search("crushed", shopper) == ["Parcel (damaged) box"]
    assert await search("courier", shopper) == []  # internal notes are not searchable by customers
    # An operator object where text is expected is refused by the schema, not run.
    body = await gql(LIST, {"f": {"text": {"$ne": ""}}})
    assert body.get("errors") and not body.get("data")
    too_long = await gql(LIST, {"f": {"text": "x" * 101}})
    assert too_long["errors"][0]["extensions"]["code"] == "INVALID_INPUT"


async def test_most_urgent_first_pages_by_keyset_without_gaps_or_duplicates(cw: CaseWorld, gql: GraphQLClient) -> None:
    priorities = [CasePriority.LOW, CasePriority.URGENT, CasePriority.NORMAL, CasePriority.HIGH, CasePriority.URGENT, CasePriority.NORMAL, CasePriority.LOW]
    made = [await cw.case(subject=f"case {n}", priority=p) for n, p in enumerate(priorities)]

    seen: list[dict[str, Any]] = []
    after = None
    while True:
        page = (await gql.data(LIST, {"order": "MOST_URGENT", "first": 3, "after": after}))["cases"]
        seen += [edge["node"] for edge in page["edges"]]
        if not page["pageInfo"]["hasNextPage"]:
            break
        after = page["pageInfo"]["endCursor"]

    assert len(seen) == len(made) and len({s["number"] for s in seen}) == len(made)
    assert [s["priority"] for s in seen] == ["URGENT", "URGENT", "HIGH", "NORMAL", "NORMAL", "LOW", "LOW"]
    # Same priority: the earlier due time (the case opened first) comes first.
    assert [s["subject"] for s in seen[:2]] == ["case 1", "case 4"]
    newest = subjects(await gql.data(LIST, {"first": 2}))
    assert newest == ["case 6", "case 5"]


async def test_claim_next_case_gives_concurrent_reps_distinct_cases_most_urgent_first(cw: CaseWorld, services: Services) -> None:
    made = [await cw.case(subject=f"queue {n}", priority=[CasePriority.NORMAL, CasePriority.URGENT][n % 2]) for n in range(8)]
    reps = [Principal(subject=f"csr:rep{n}", role=Role.CSR) for n in range(12)]

    claimed = await asyncio.gather(*(services.cases.claim_next(rep, CaseFilter()) for rep in reps))

    got = [c for c in claimed if c is not None]
    assert len(got) == 8 and sum(c is None for c in claimed) == 4
    assert len({c.id for c in got}) == 8  # no case went to two reps
    for rep, case in zip(reps, claimed):
        if case is not None:
            assert case.assignee == rep.subject
    stored = {c.id: c.assignee for c in await services.case_queries.by_ids(CSR, [c.id for c in made])}
    assert sorted(stored.values()) == sorted(c.assignee for c in got)  # type: ignore[type-var]
    assigned = await cw.events(type="CaseAssigned")
    assert len(assigned) == 8 and len({e["aggregate_id"] for e in assigned}) == 8
    assert all(e["payload"]["claimed"] for e in assigned)


async def test_claim_takes_the_most_urgent_of_the_queue_asked_for_and_only_reps_claim(cw: CaseWorld, gql: GraphQLClient) -> None:
    await cw.case(subject="normal", priority=CasePriority.NORMAL)
    await cw.case(subject="urgent", priority=CasePriority.URGENT)
    await cw.case(subject="billing", priority=CasePriority.HIGH, topic=CaseTopic.BILLING)
    rep = gql.as_(await cw.token(Role.CSR))

    first = (await rep.data(CLAIM, {}))["claimNextCase"]["case"]
    billing = (await rep.data(CLAIM, {"input": {"filter": {"topics": ["BILLING"]}}}))["claimNextCase"]["case"]
    empty = (await rep.data(CLAIM, {"input": {"filter": {"topics": ["BILLING"]}}}))["claimNextCase"]
    shopper = gql.as_(await cw.token(Role.CUSTOMER, customer_id=cw.ada.id))
    refused = (await shopper.data(CLAIM, {}))["claimNextCase"]

    assert first["priority"] == "URGENT" and first["assignee"]
    assert billing["priority"] == "HIGH"
    assert empty == {"__typename": "ClaimNextCasePayload", "case": None}
    assert refused["__typename"] == "PermissionDeniedError"


async def test_assign_case_moves_a_case_between_reps_and_back_to_the_queue(cw: CaseWorld, gql: GraphQLClient) -> None:
    case = await cw.case()
    assign = """mutation($input: AssignCaseInput!) { assignCase(input: $input) {
      __typename ... on CasePayload { case { assignee } } ... on Error { code } } }"""

    to_sam = (await gql.data(assign, {"input": {"caseId": gid("Case", case.id), "assignee": "csr:sam"}}))["assignCase"]
    back = (await gql.data(assign, {"input": {"caseId": gid("Case", case.id), "assignee": None, "reason": "sam is out"}}))["assignCase"]
    staff = gql.as_(await cw.token(Role.CUSTOMER, customer_id=cw.ada.id))
    refused = (await staff.data(assign, {"input": {"caseId": gid("Case", case.id), "assignee": "me"}}))["assignCase"]

    assert to_sam["case"]["assignee"] == "csr:sam" and back["case"]["assignee"] is None
    assert refused == {"__typename": "PermissionDeniedError", "code": "FORBIDDEN"}
    moves = [(e["payload"]["from"], e["payload"]["to"]) for e in await cw.events(type="CaseAssigned")]
    assert moves == [(None, "csr:sam"), ("csr:sam", None)]


async def test_a_claim_whose_event_was_not_logged_is_logged_once_by_the_scheduler(cw: CaseWorld, services: Services) -> None:
    from datetime import timedelta

    from app.domain.cases import PendingClaim
    from app.domain.clock import utcnow
    from app.domain.ids import new_id
    from app.repositories.cases import CaseRepository

    case = await cw.case()
    # As if the rep's process died between the claim (one atomic update) and logging its event.
    claims = CaseRepository(cw.world.mongo.db)
    claimed = await claims.claim_next(CaseFilter(), "csr:gone", PendingClaim(new_id(), "CSR", utcnow() - timedelta(minutes=1)))
    assert claimed is not None and claimed.id == case.id and claimed.pending_claim is not None

    await asyncio.gather(services.scheduler.tick(sweep=False), services.scheduler.tick(sweep=False))
    await services.scheduler.tick(sweep=False)

    [event] = await cw.events(type="CaseAssigned")
    assert event["_id"] == claimed.pending_claim.event_id and event["actor"] == {"subject": "csr:gone", "role": "CSR"}
    assert event["payload"]["to"] == "csr:gone" and event["payload"]["claimed"]
    assert (await services.case_queries.by_ids(CSR, [case.id]))[0].pending_claim is None
