"""Scheduled delivery: SCHEDULED until the release time, then released exactly once by any instance."""

from __future__ import annotations

import asyncio
import dataclasses
from datetime import date, datetime, time, timedelta, timezone

import pytest

from app.asgi import create_app
from app.domain.clock import utcnow
from app.domain.principals import SYSTEM
from app.services.container import Services, build_services
from app.settings import Settings
from tests.conftest import GraphQLClient, lifespan_of
from tests.factories import World
from tests.order_helpers import CAPTURE, capture_input, capture_request, network, reserved

pytestmark = pytest.mark.usefixtures("reservations_consistent")


async def _scheduled(gql: GraphQLClient, external_id: str = "W-S", days: int = 14, **kw: object) -> dict:
    wanted = (utcnow().date() + timedelta(days=days)).isoformat()
    result = (await gql.data(CAPTURE, {"input": capture_input(external_id, requestedDeliveryDate=wanted, **kw)}))["captureOrder"]
    assert result["__typename"] == "CaptureOrderPayload", result
    return result["order"]


async def _due_now(services: Services, external_id: str) -> None:
    await services.mongo.db["orders"].update_one({"external_id": external_id}, {"$set": {"release_at": utcnow() - timedelta(minutes=1)}})


async def test_a_far_delivery_date_schedules_the_order_and_reserves_at_capture(world: World, gql: GraphQLClient, services: Services) -> None:
    await network(world)
    order = await _scheduled(gql, days=14, lines=[{"sku": "SKU-1", "quantity": 8}])  # Boston has 5: all from Chicago
    assert order["status"] == "SCHEDULED"
    requested = utcnow().date() + timedelta(days=14)
    # Chicago → Boston is ~1,370 km: 2 transit days, plus 1 handling day.
    assert order["releaseAt"] == datetime.combine(requested - timedelta(days=3), time.min, tzinfo=timezone.utc).isoformat()
    assert await reserved(world) == {"SKU-1@DC-CHI": 8}

    soon = await _scheduled(gql, "W-SOON", days=1)
    assert (soon["status"], soon["releaseAt"]) == ("ALLOCATED", None)

    assert (await services.scheduler.tick()).released == 0
    await _due_now(services, "W-S")
    assert (await services.scheduler.tick()).released == 1
    stored = await services.mongo.db["orders"].find_one({"external_id": "W-S"})
    assert stored["status"] == "ALLOCATED" and "lease" not in stored
    released = await services.mongo.db["events"].find_one({"type": "OrderReleased"})
    assert released["actor"] == {"subject": "scheduler", "role": "SYSTEM"}


async def test_several_instances_release_each_order_once(world: World, gql: GraphQLClient, services: Services) -> None:
    await network(world)
    for i in range(6):
        await _scheduled(gql, f"W-{i}", lines=[{"sku": "SKU-3", "quantity": 1}])
        await _due_now(services, f"W-{i}")
    instances = [services] + [build_services(services.mongo, scheduler_interval_seconds=0) for _ in range(3)]
    reports = await asyncio.gather(*[s.scheduler.tick(sweep=False) for s in instances for _ in range(2)])
    assert sum(r.released for r in reports) == 6
    assert await services.mongo.db["events"].count_documents({"type": "OrderReleased"}) == 6
    assert await services.mongo.db["orders"].count_documents({"status": "ALLOCATED"}) == 6


async def test_a_lease_left_by_a_crashed_instance_expires_and_the_order_is_released(world: World, gql: GraphQLClient, services: Services) -> None:
    await network(world)
    await _scheduled(gql)
    await _due_now(services, "W-S")
    lease = {"owner": "crashed-host:123", "until": utcnow() + timedelta(minutes=1)}
    await services.mongo.db["orders"].update_one({"external_id": "W-S"}, {"$set": {"lease": lease}})
    assert (await services.scheduler.tick()).released == 0  # someone else holds it (for now)
    await services.mongo.db["orders"].update_one({"external_id": "W-S"}, {"$set": {"lease.until": utcnow() - timedelta(seconds=1)}})
    assert (await services.scheduler.tick()).released == 1


async def test_held_scheduled_order_is_not_released_until_the_hold_is_lifted(world: World, gql: GraphQLClient, services: Services) -> None:
    await network(world)
    order = await _scheduled(gql)
    hold = "mutation($id: ID!) { holdOrder(input: {orderId: $id, reason: \"address check\"}) { __typename } }"
    release = "mutation($id: ID!) { releaseOrderHold(input: {orderId: $id}) { ... on ReleaseOrderHoldPayload { order { status } } } }"
    await gql.data(hold, {"id": order["id"]})
    await _due_now(services, "W-S")
    assert (await services.scheduler.tick()).released == 0
    lifted = await gql.data(release, {"id": order["id"]})
    # Its release time passed while held: it goes straight on to fulfilment.
    assert lifted["releaseOrderHold"]["order"]["status"] == "ALLOCATED"


async def test_the_app_lifespan_runs_the_scheduler(world: World, settings: Settings, services: Services) -> None:
    await network(world)
    app = create_app(dataclasses.replace(settings, scheduler_interval_seconds=0.05))
    async with lifespan_of(app):
        wanted = (date.today() + timedelta(days=20)).isoformat()
        await services.order_capture.capture(SYSTEM, capture_request(capture_input("W-L", requestedDeliveryDate=wanted)))
        await _due_now(services, "W-L")
        for _ in range(100):
            if (await services.mongo.db["orders"].find_one({"external_id": "W-L"}))["status"] != "SCHEDULED":
                break
            await asyncio.sleep(0.05)
    assert (await services.mongo.db["orders"].find_one({"external_id": "W-L"}))["status"] == "ALLOCATED"
