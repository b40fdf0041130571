"""SLAs: targets per priority and contact channel, breaches marked exactly once by concurrent leased
scheduler passes (CaseSlaBreached), the clock paused while the case waits for the customer, and the
dashboard's open cases by priority and breaches today."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta

import pytest

from app.domain.cases import CasePriority, CaseStatus, ContactChannel, EntryKind
from app.domain.clock import utcnow
from app.repositories.database import Mongo
from app.services.container import Services, build_services
from tests.cases_world import CSR, GET, CaseWorld, case_world, gid
from tests.conftest import GraphQLClient
from tests.factories import World


@pytest.fixture
async def cw(world: World, services: Services) -> CaseWorld:
    return await case_world(world, services)


async def overdue(mongo: Mongo, case_id: str, *, first_response: bool = True, resolution: bool = False) -> None:
    """Moves a case's due times into the past, as if it had been opened long ago."""
    past = utcnow() - timedelta(minutes=5)
    changes = {}
    if first_response:
        changes["sla.first_response_due"] = past
    if resolution:
        changes["sla.resolution_due"] = past
    await mongo.db.cases.update_one({"_id": case_id}, {"$set": changes})


async def test_breaches_are_marked_exactly_once_by_concurrent_scheduler_instances(cw: CaseWorld, mongo: Mongo, gql: GraphQLClient) -> None:
    late = await cw.case(priority=CasePriority.URGENT)
    answered = await cw.case()
    waiting = await cw.case()
    fine = await cw.case()
    await cw.services.cases.add_entry(CSR, answered.id, EntryKind.MESSAGE, "On it")
    await cw.services.cases.set_status(CSR, waiting.id, CaseStatus.PENDING_CUSTOMER, None)
    for case in (late, answered, waiting):
        await overdue(mongo, case.id, resolution=case is late)
    instances = [build_services(mongo, scheduler_interval_seconds=0) for _ in range(3)]

    reports = await asyncio.gather(*(s.scheduler.tick(sweep=False) for s in instances), cw.services.scheduler.tick(sweep=False))

    assert sum(r.sla_breaches for r in reports) == 2  # late: first response and resolution
    breaches = await cw.events(type="CaseSlaBreached")
    assert sorted((e["aggregate_id"], e["payload"]["sla"]) for e in breaches) == [(late.id, "FIRST_RESPONSE"), (late.id, "RESOLUTION")]
    assert all(e["actor"]["role"] == "SYSTEM" and e["payload"]["priority"] == "URGENT" for e in breaches)
    # Answered in time (a first response stops that clock), waiting (paused) and not yet due: untouched.
    shown = (await gql.data(GET, {"id": gid("Case", late.id)}))["case"]["sla"]
    assert shown["breached"] and shown["firstResponseBreachedAt"] and shown["resolutionBreachedAt"]
    for case in (answered, waiting, fine):
        assert not (await gql.data(GET, {"id": gid("Case", case.id)}))["case"]["sla"]["breached"]
    # Later ticks find nothing more to mark.
    assert (await cw.services.scheduler.tick(sweep=False)).sla_breaches == 0
    assert len(await cw.events(type="CaseSlaBreached")) == 2
    listed = await gql.data("{ cases(filter: {breached: true}) { edges { node { number } } } }")
    assert [e["node"]["number"] for e in listed["cases"]["edges"]] == [late.number]


async def test_waiting_for_the_customer_pauses_the_clock_and_moves_the_due_times_on(cw: CaseWorld, mongo: Mongo) -> None:
    case = await cw.case()
    paused = await cw.services.cases.set_status(CSR, case.id, CaseStatus.PENDING_CUSTOMER, "asked for the order number")
    # Pretend the customer took two hours to answer.
    two_hours_ago = utcnow() - timedelta(hours=2)
    await mongo.db.cases.update_one({"_id": case.id}, {"$set": {"sla.paused_at": two_hours_ago}})

    resumed = await cw.services.cases.set_status(CSR, case.id, CaseStatus.OPEN, None)

    assert paused.sla.paused_at is not None and paused.sla.next_due().year == 9999  # not in "most urgent" while paused
    assert resumed.sla.paused_at is None
    assert case.sla.resolution_due is not None and resumed.sla.resolution_due is not None
    moved = resumed.sla.resolution_due - case.sla.resolution_due
    assert timedelta(hours=2) - timedelta(seconds=5) <= moved <= timedelta(hours=2, seconds=5)


async def test_sla_targets_are_configurable_per_priority_and_contact_channel(cw: CaseWorld, gql: GraphQLClient) -> None:
    set_policy = """mutation($input: SetCaseSlaPolicyInput!) { setCaseSlaPolicy(input: $input) {
      __typename ... on SetCaseSlaPolicyPayload { policy { scope version targets { priority firstResponseMinutes resolutionMinutes } } }
      ... on Error { code field } ... on InvalidInputError { issues { field } } } }"""
    read = """query($c: ContactChannel) { caseSlaPolicy(contactChannel: $c) { scope version targets { priority firstResponseMinutes } } }"""

    changed = (await gql.data(set_policy, {"input": {"contactChannel": "PHONE", "reason": "phone callers wait less",
                                                     "targets": [{"priority": "NORMAL", "firstResponseMinutes": 15, "resolutionMinutes": 240}]}}))
    bad = (await gql.data(set_policy, {"input": {"targets": [{"priority": "LOW", "firstResponseMinutes": 600, "resolutionMinutes": 60}]}}))
    phone = (await gql.data(read, {"c": "PHONE"}))["caseSlaPolicy"]
    email = (await gql.data(read, {"c": "EMAIL"}))["caseSlaPolicy"]
    by_phone = await cw.case(channel=ContactChannel.PHONE)
    by_email = await cw.case(channel=ContactChannel.EMAIL)

    policy = changed["setCaseSlaPolicy"]["policy"]
    assert policy["scope"] == "PHONE" and policy["version"] == 1
    assert {t["priority"]: t["firstResponseMinutes"] for t in policy["targets"]} == {"URGENT": 60, "HIGH": 240, "NORMAL": 15, "LOW": 1440}
    assert bad["setCaseSlaPolicy"]["__typename"] == "InvalidInputError"
    assert {t["priority"]: t["firstResponseMinutes"] for t in phone["targets"]}["NORMAL"] == 15
    assert {t["priority"]: t["firstResponseMinutes"] for t in email["targets"]}["NORMAL"] == 480 and email["version"] == 0
    assert by_phone.sla.first_response_due - by_phone.created_at == timedelta(minutes=15)  # type: ignore[operator]
    assert by_email.sla.first_response_due - by_email.created_at == timedelta(hours=8)  # type: ignore[operator]
    [event] = await cw.world.mongo.db.events.find({"type": "CaseSlaPolicyChanged"}).to_list()
    assert event["reason"] == "phone callers wait less" and event["payload"]["scope"] == "PHONE"


async def test_the_dashboard_counts_open_cases_by_priority_and_breaches_today(cw: CaseWorld, mongo: Mongo) -> None:
    urgent = await cw.case(priority=CasePriority.URGENT)
    await cw.case(priority=CasePriority.URGENT)
    done = await cw.case(priority=CasePriority.LOW)
    await cw.services.cases.set_status(CSR, done.id, CaseStatus.RESOLVED, None)
    await overdue(mongo, urgent.id)
    await cw.services.scheduler.tick(sweep=False)

    figures = await cw.services.dashboard.figures()

    assert figures.open_cases_by_priority == {"URGENT": 2}
    assert figures.sla_breaches_today == 1
    assert isinstance(figures.at, datetime)
