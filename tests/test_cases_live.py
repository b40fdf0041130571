"""caseUpdated: queue screens by assignee or case, resumable after a cursor without gaps or duplicates;
customers receive their own cases' customer-visible changes only, never internal notes."""

from __future__ import annotations

import pytest

from app.domain.cases import EntryKind
from app.domain.principals import Role
from app.services.container import Services
from app.settings import Settings
from tests.cases_world import CSR, CaseWorld, case_world, gid
from tests.factories import World
from tests.realtime import GraphQLWs, realtime_settings, serve

CASE_UPDATED = """
subscription($caseId: ID, $customerId: ID, $assignee: String, $after: String) {
  caseUpdated(caseId: $caseId, customerId: $customerId, assignee: $assignee, after: $after) {
    cursor caseId status priority assignee event { type payload }
  }
}
"""


@pytest.fixture
async def cw(world: World, services: Services) -> CaseWorld:
    return await case_world(world, services)


async def test_case_updated_follows_a_customers_cases_and_resumes_after_a_cursor(
    cw: CaseWorld, settings: Settings, admin_token: str, services: Services
) -> None:
    shopper_token = await cw.token(Role.CUSTOMER, customer_id=cw.ada.id)
    async with serve(realtime_settings(settings)) as server:
        async with GraphQLWs.connect(server.ws_url, admin_token) as staff, GraphQLWs.connect(server.ws_url, shopper_token) as shopper:
            await staff.subscribe(CASE_UPDATED, {"customerId": gid("Customer", cw.ada.id)})
            await shopper.subscribe(CASE_UPDATED, {})
            await server.subscribed(2)
            case = await cw.case()
            await cw.case(cw.bob)  # another customer's: neither subscriber gets it
            await services.cases.add_entry(CSR, case.id, EntryKind.NOTE, "internal: VIP, be generous")
            await services.cases.add_entry(CSR, case.id, EntryKind.MESSAGE, "Sorry! A replacement is on its way.")
            seen = await staff.take("caseUpdated", 4)
            theirs = await shopper.take("caseUpdated", 3)
            await shopper.nothing_more()
        assert [s["event"]["type"] for s in seen] == ["CaseOpened", "CaseEntryAdded", "CaseEntryAdded", "CaseStatusChanged"]
        assert {s["caseId"] for s in seen} == {gid("Case", case.id)} and seen[-1]["status"] == "OPEN"
        assert [t["event"]["type"] for t in theirs] == ["CaseOpened", "CaseEntryAdded", "CaseStatusChanged"]
        assert "VIP" not in str(theirs) and theirs[1]["event"]["payload"]["body"] == "Sorry! A replacement is on its way."
        # While nobody listens: the case is assigned; then resume after the second event seen.
        await services.cases.assign(CSR, case.id, "csr:sam")
        async with GraphQLWs.connect(server.ws_url, admin_token) as staff:
            await staff.subscribe(CASE_UPDATED, {"customerId": gid("Customer", cw.ada.id), "after": seen[1]["cursor"]})
            resumed = await staff.take("caseUpdated", 3)
            await staff.nothing_more()
        assert [r["event"]["type"] for r in resumed] == ["CaseEntryAdded", "CaseStatusChanged", "CaseAssigned"]
        cursors = [int(x["cursor"]) for x in seen[:2] + resumed]
        assert cursors == sorted(cursors) and len(set(cursors)) == len(cursors)
        assert resumed[-1]["assignee"] == "csr:sam"


async def test_a_reps_queue_screen_gets_their_cases_and_a_customer_cannot_follow_anothers_case(
    cw: CaseWorld, settings: Settings, admin_token: str, services: Services
) -> None:
    mine = await cw.case()
    other = await cw.case()
    bobs = await cw.case(cw.bob)
    shopper_token = await cw.token(Role.CUSTOMER, customer_id=cw.ada.id)
    async with serve(realtime_settings(settings)) as server:
        async with GraphQLWs.connect(server.ws_url, admin_token) as rep, GraphQLWs.connect(server.ws_url, shopper_token) as shopper:
            await rep.subscribe(CASE_UPDATED, {"assignee": "csr:sam"})
            await shopper.subscribe(CASE_UPDATED, {"caseId": gid("Case", bobs.id)})
            refused = await shopper.error()
            await server.subscribed(1)
            await services.cases.assign(CSR, other.id, "csr:riley")
            await services.cases.assign(CSR, mine.id, "csr:sam")
            [got] = await rep.take("caseUpdated", 1)
            await rep.nothing_more()
        assert got["caseId"] == gid("Case", mine.id) and got["event"]["type"] == "CaseAssigned" and got["assignee"] == "csr:sam"
        assert "FORBIDDEN" in str(refused)
