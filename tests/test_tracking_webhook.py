"""Carrier webhooks: signed, replay-protected, idempotent per carrier event, never moving backwards."""

from __future__ import annotations

import asyncio
import json
import logging
import time
from datetime import date, timedelta

import httpx
import pytest

from app.domain.carriers import add_business_days
from app.domain.principals import Principal, Role
from app.domain.shipments import ShipmentStatus
from app.services.container import Services
from app.services.fulfilment import PackageInput, PickedLine
from tests.factories import World
from tests.fulfilment_world import DC, FulfilmentWorld, hours_from_now, post_tracking, tracking_event

pytestmark = pytest.mark.usefixtures("reservations_consistent")
PICKER = Principal(subject="picker", role=Role.WAREHOUSE, location_ids=frozenset({DC.id}))
ADMIN = Principal(subject="admin", role=Role.ADMIN)


@pytest.fixture
async def fw(world: World, services: Services) -> FulfilmentWorld:
    w = FulfilmentWorld(world, services)
    await w.setup()
    return w


async def shipped(fw: FulfilmentWorld, services: Services, carrier: str = "usps") -> tuple[str, str]:
    """(order id, tracking number) of a shipped one-line order."""
    order = await fw.order([("SKU-SHOE", 1, DC.id)])
    [shipment] = (await services.shipments.for_orders(ADMIN, [order.id]))[order.id]
    await services.fulfilment.start_picking(PICKER, [shipment.id])
    await services.fulfilment.confirm_pick(PICKER, shipment.id, [PickedLine(shipment.lines[0].allocation_id, 1)])
    await services.fulfilment.pack(PICKER, shipment.id, [PackageInput(800, 34, 24, 14)])
    done = await services.shipping.ship(PICKER, shipment.id, carrier=carrier)
    assert done.tracking_number
    return order.id, done.tracking_number


async def status_of(fw: FulfilmentWorld, tracking_number: str) -> tuple[str, str, int]:
    doc = await fw.mongo.db["shipments"].find_one({"tracking_number": tracking_number})
    assert doc is not None
    return doc["status"], doc["eta"].date().isoformat(), len(doc["tracking"])


REFUSED = {"code": "UNAUTHENTICATED", "message": "The webhook signature could not be verified."}


def refusal_reasons(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.reason for r in caplog.records if r.name == "oms.http" and r.getMessage() == "carrier webhook signature refused"]


async def test_bad_signatures_stale_timestamps_and_replays_are_refused_without_effect(
    fw: FulfilmentWorld, services: Services, http: httpx.AsyncClient, caplog: pytest.LogCaptureFixture
) -> None:
    _, number = await shipped(fw, services)
    event = [tracking_event("e1", number, "IN_TRANSIT", hours_from_now(-1))]
    events_before = await fw.mongo.db["events"].count_documents({})
    caplog.set_level(logging.INFO, logger="oms.http")

    # Every refusal answers the same: the reason is for the operator's log, not for a forger.
    wrong_secret = await post_tracking(http, "usps", event, secret="not-the-secret")
    assert wrong_secret.status_code == 401 and wrong_secret.json() == REFUSED
    stale = await post_tracking(http, "usps", event, timestamp=int(time.time()) - 3600)
    assert stale.status_code == 401 and stale.json() == REFUSED
    unsigned = await http.post("/webhooks/carriers/usps", json={"events": event})
    assert unsigned.status_code == 401 and unsigned.json() == REFUSED
    garbled = await http.post("/webhooks/carriers/usps", json={"events": event}, headers={"X-OMS-Signature": "t=x"})
    assert garbled.status_code == 401 and garbled.json() == REFUSED
    assert refusal_reasons(caplog) == ["mismatch", "stale", "missing", "malformed"]
    assert all(r.levelno == logging.WARNING and r.exc_info is None for r in caplog.records if r.name == "oms.http")
    unknown = await post_tracking(http, "dhl", event)
    assert unknown.status_code == 404
    # A body changed after signing fails, even with the original header.
    body = json.dumps({"events": event}).encode()
    from app.domain.signatures import sign
    from app.settings import DEV_WEBHOOK_SECRET

    header = sign(DEV_WEBHOOK_SECRET, body, timestamp=int(time.time()))
    tampered = await http.post("/webhooks/carriers/usps", content=body.replace(b"IN_TRANSIT", b"DELIVERED"), headers={"X-OMS-Signature": header})
    assert tampered.status_code == 401
    assert (await status_of(fw, number))[::2] == ("SHIPPED", 0)
    assert await fw.mongo.db["events"].count_documents({}) == events_before

    first = await http.post("/webhooks/carriers/usps", content=body, headers={"X-OMS-Signature": header})
    assert first.status_code == 200 and first.json()["results"][0]["outcome"] == "APPLIED"
    count = await fw.mongo.db["events"].count_documents({})
    replay = await http.post("/webhooks/carriers/usps", content=body, headers={"X-OMS-Signature": header})
    assert replay.status_code == 401 and replay.json() == REFUSED
    assert refusal_reasons(caplog)[-2:] == ["mismatch", "replayed"]  # the tampered body, then the replay
    assert await fw.mongo.db["events"].count_documents({}) == count


async def test_duplicates_and_out_of_order_events_do_no_harm(fw: FulfilmentWorld, services: Services, http: httpx.AsyncClient) -> None:
    order_id, number = await shipped(fw, services)
    delivered = tracking_event("e3", number, "DELIVERED", hours_from_now(-1))
    in_transit = tracking_event("e1", number, "IN_TRANSIT", hours_from_now(-20))
    out = tracking_event("e2", number, "OUT_FOR_DELIVERY", hours_from_now(-5))

    assert (await post_tracking(http, "usps", [delivered])).json()["results"][0]["status"] == "DELIVERED"
    late = await post_tracking(http, "usps", [in_transit, out])  # arrive after delivery
    assert [r["outcome"] for r in late.json()["results"]] == ["APPLIED", "APPLIED"]
    assert [r["status"] for r in late.json()["results"]] == ["DELIVERED", "DELIVERED"]
    # A carrier retry re-signs the same event: recorded once, nothing changes.
    again = await post_tracking(http, "usps", [delivered], timestamp=int(time.time()) - 7)
    assert again.status_code == 200 and again.json()["results"][0]["outcome"] == "DUPLICATE"
    status, eta, scans = await status_of(fw, number)
    assert (status, scans) == ("DELIVERED", 3) and eta == hours_from_now(-1).date().isoformat()
    assert (await fw.order_doc(order_id))["status"] == "DELIVERED"
    changes = await fw.events(type="ShipmentStatusChanged", **{"payload.to": "DELIVERED"})
    assert len(changes) == 1
    received = await fw.events(type="TrackingEventReceived")
    assert len(received) == 3 and all(e["shipment_id"] and e["order_id"] == order_id and e["customer_id"] and e["channel_id"] == "web" for e in received)
    unknown = await post_tracking(http, "usps", [tracking_event("x", "9400000000000000000000", "IN_TRANSIT", hours_from_now(-1))])
    assert unknown.json()["results"][0]["outcome"] == "UNKNOWN_TRACKING_NUMBER"


async def test_exceptions_push_the_eta_and_the_shipment_recovers(fw: FulfilmentWorld, services: Services, http: httpx.AsyncClient) -> None:
    _, number = await shipped(fw, services, carrier="fedex")
    _, label_eta, _ = await status_of(fw, number)
    await post_tracking(http, "fedex", [tracking_event("p", number, "PICKED_UP", hours_from_now(-30))])
    exception_at = hours_from_now(-2)
    await post_tracking(http, "fedex", [tracking_event("x", number, "EXCEPTION", exception_at, description="Address not found")])
    status, eta, _ = await status_of(fw, number)
    floor = add_business_days(exception_at.date(), 1)
    assert status == "EXCEPTION" and eta == max(date.fromisoformat(label_eta), floor).isoformat()
    # The carrier sends a new estimate with the next scan: the ETA follows it, the status recovers.
    new_eta = add_business_days(exception_at.date(), 3)
    await post_tracking(http, "fedex", [tracking_event("t", number, "IN_TRANSIT", hours_from_now(-1), estimatedDelivery=new_eta.isoformat())])
    status, eta, _ = await status_of(fw, number)
    assert (status, eta) == ("IN_TRANSIT", new_eta.isoformat())
    events = await fw.events(type="ShipmentStatusChanged")
    assert [(e["payload"]["from"], e["payload"]["to"]) for e in events][-3:] == [
        ("SHIPPED", "IN_TRANSIT"), ("IN_TRANSIT", "EXCEPTION"), ("EXCEPTION", "IN_TRANSIT")
    ]


async def test_concurrent_deliveries_of_the_same_event_apply_it_once(fw: FulfilmentWorld, services: Services, http: httpx.AsyncClient) -> None:
    _, number = await shipped(fw, services)
    event = [tracking_event("same", number, "OUT_FOR_DELIVERY", hours_from_now(-1))]
    # Different timestamps, so each delivery is a fresh signature (a carrier retry), not a replay.
    now = int(time.time())
    responses = await asyncio.gather(*[post_tracking(http, "usps", event, timestamp=now - n) for n in range(5)])
    outcomes = sorted(r.json()["results"][0]["outcome"] for r in responses if r.status_code == 200)
    assert outcomes.count("APPLIED") == 1 and all(o == "DUPLICATE" for o in outcomes if o != "APPLIED"), [r.text for r in responses]
    status, _, scans = await status_of(fw, number)
    assert (status, scans) == ("OUT_FOR_DELIVERY", 1)
    assert len(await fw.events(type="TrackingEventReceived")) == 1


def test_status_is_a_function_of_the_event_set() -> None:
    """Any arrival order of the same events gives the same status (the fold is order-independent)."""
    import itertools
    from datetime import datetime, timezone

    from app.domain.shipments import TrackingEvent, TrackingEventKind
    from app.domain.tracking import tracked_status

    t0 = datetime(2026, 1, 12, 8, tzinfo=timezone.utc)
    events = [
        TrackingEvent("a", TrackingEventKind.PICKED_UP, t0, t0),
        TrackingEvent("b", TrackingEventKind.EXCEPTION, t0 + timedelta(hours=5), t0),
        TrackingEvent("c", TrackingEventKind.IN_TRANSIT, t0 + timedelta(hours=9), t0),
        TrackingEvent("d", TrackingEventKind.OUT_FOR_DELIVERY, t0 + timedelta(hours=30), t0),
    ]
    results = {tracked_status(list(p))[0] for p in itertools.permutations(events)}
    assert results == {ShipmentStatus.OUT_FOR_DELIVERY}
    # Progress never goes down as events are added, in any order.
    rank = {ShipmentStatus.SHIPPED: 0, ShipmentStatus.IN_TRANSIT: 1, ShipmentStatus.EXCEPTION: 1, ShipmentStatus.OUT_FOR_DELIVERY: 2}
    for order in itertools.permutations(events):
        seen: list[TrackingEvent] = []
        last = 0
        for event in order:
            seen.append(event)
            status, _ = tracked_status(seen)
            progress = max(rank[status], last) if status is ShipmentStatus.EXCEPTION else rank[status]
            assert progress >= last
            last = progress
