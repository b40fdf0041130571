"""A MAIL return end to end: routed with its reason, a real label PDF with a Code 128 barcode, carrier
scans through the signed tracking webhook moving it to IN_TRANSIT and RECEIVED, then the receipt."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from app.domain.principals import Role
from app.services.container import Services
from tests.conftest import GraphQLClient
from tests.factories import World, customer
from tests.fulfilment_world import BOS, DC, FulfilmentWorld, hours_from_now, post_tracking, tracking_event
from tests.returns_world import GET, RECEIVE, REQUEST, decision, delivered_order, line, request_input
from tests.test_fulfilment_documents import decode_code128, text_of

pytestmark = pytest.mark.usefixtures("reservations_consistent")


@pytest.fixture
async def fw(world: World, services: Services) -> FulfilmentWorld:
    w = FulfilmentWorld(world, services)
    await w.setup()
    return w


async def mail_return(fw: FulfilmentWorld, gql: GraphQLClient, **kw: Any) -> dict[str, Any]:
    order = await delivered_order(fw, [("SKU-SHOE", 2, DC.id)], **kw)
    result = (await gql.data(REQUEST, request_input(order, [line("1", 2, "SIZE_FIT")])))["requestReturn"]
    assert result["__typename"] == "RequestReturnPayload", result
    return result["return"]


async def test_the_return_label_is_a_pdf_with_the_tracking_number_as_code_128(
    fw: FulfilmentWorld, gql: GraphQLClient, http: httpx.AsyncClient, services: Services
) -> None:
    ret = await mail_return(fw, gql)

    response = await http.get(ret["labelUrl"])

    assert response.status_code == 200 and response.headers["content-type"] == "application/pdf"
    assert decode_code128(response.content) == ret["trackingNumber"]
    text = text_of(response.content)
    assert "RETURNS - Boston Store #1" in text and "Ada Lovelace" in text and ret["number"] in text
    assert "POSTAGE PAID" in text
    # A URL works only for those who may see the return, checked again when it is opened.
    assert (await http.get(ret["labelUrl"].replace("token=", "token=x"))).status_code == 401
    stranger = customer("Eve", "Else", email="eve.else@example.com")
    await fw.world.add_customers(stranger)
    eve = GraphQLClient(http, (await services.auth.create_api_key(name="eve", role=Role.CUSTOMER, customer_id=stranger.id))[1])
    assert (await eve.data(GET, {"id": ret["id"]}))["return"] is None


async def test_carrier_scans_move_the_return_in_transit_then_received_at_the_dock(
    fw: FulfilmentWorld, gql: GraphQLClient, http: httpx.AsyncClient, services: Services
) -> None:
    ret = await mail_return(fw, gql)
    number, carrier = ret["trackingNumber"], ret["label"]["carrier"]

    scanned = await post_tracking(http, carrier, [tracking_event("r-1", number, "PICKED_UP", hours_from_now(-5), location="Cambridge, MA")])
    repeat = await post_tracking(http, carrier, [tracking_event("r-1", number, "PICKED_UP", hours_from_now(-5))])
    in_transit = (await gql.data(GET, {"id": ret["id"]}))["return"]
    delivered = await post_tracking(http, carrier, [tracking_event("r-2", number, "DELIVERED", hours_from_now(-1), location="Boston, MA")])
    at_dock = (await gql.data(GET, {"id": ret["id"]}))["return"]

    assert scanned.json()["results"] == [{"eventId": "r-1", "trackingNumber": number, "outcome": "APPLIED", "status": "IN_TRANSIT"}]
    assert repeat.json()["results"][0]["outcome"] == "DUPLICATE"
    assert in_transit["status"] == "IN_TRANSIT" and [e["id"] for e in in_transit["trackingEvents"]] == ["r-1"]
    assert delivered.json()["results"][0] == {"eventId": "r-2", "trackingNumber": number, "outcome": "APPLIED", "status": "RECEIVED"}
    assert at_dock["status"] == "RECEIVED" and at_dock["lines"][0]["receivedQuantity"] is None
    changes = [(e["payload"]["from"], e["payload"]["to"]) for e in await fw.events(type="ReturnStatusChanged")]
    assert changes == [("REQUESTED", "AUTHORIZED"), ("AUTHORIZED", "IN_TRANSIT"), ("IN_TRANSIT", "RECEIVED")]
    scans = await fw.events(type="ReturnTrackingEventReceived")
    assert [s["payload"]["carrierEventId"] for s in scans] == ["r-1", "r-2"] and scans[0]["actor"]["role"] == "CARRIER"

    # The receiving store inspects what the carrier brought: one shoe of two arrived.
    clerk = gql.as_((await services.auth.create_api_key(name="bos", role=Role.STORE_STAFF, location_ids=frozenset({BOS.id})))[1])
    shelf = (await fw.level("SKU-SHOE", BOS.id))["on_hand"]
    done = (await clerk.data(RECEIVE, {"input": {"returnId": ret["id"], "lines": [{"returnLineId": "1", "quantity": 1}]}}))["receiveReturn"]
    assert done["return"]["status"] == "INSPECTED" and done["return"]["lines"][0]["shortfall"] == 1
    assert (await fw.level("SKU-SHOE", BOS.id))["on_hand"] == shelf + 1
    assert [e["payload"]["to"] for e in await fw.events(type="ReturnStatusChanged")][-1] == "INSPECTED"


async def test_a_delivery_scan_arriving_first_still_passes_through_in_transit(
    fw: FulfilmentWorld, gql: GraphQLClient, http: httpx.AsyncClient
) -> None:
    ret = await mail_return(fw, gql)
    number, carrier = ret["trackingNumber"], ret["label"]["carrier"]

    await post_tracking(http, carrier, [tracking_event("d-2", number, "DELIVERED", hours_from_now(-1))])
    late = await post_tracking(http, carrier, [tracking_event("d-1", number, "IN_TRANSIT", hours_from_now(-20))])

    assert late.json()["results"][0] == {"eventId": "d-1", "trackingNumber": number, "outcome": "APPLIED", "status": "RECEIVED"}
    changes = [(e["payload"]["from"], e["payload"]["to"]) for e in await fw.events(type="ReturnStatusChanged")]
    assert changes == [("REQUESTED", "AUTHORIZED"), ("AUTHORIZED", "IN_TRANSIT"), ("IN_TRANSIT", "RECEIVED")]


async def test_scans_of_a_cancelled_return_are_kept_but_move_nothing(fw: FulfilmentWorld, gql: GraphQLClient, http: httpx.AsyncClient) -> None:
    ret = await mail_return(fw, gql)
    await gql.data(decision("cancelReturn", "CancelReturnInput"), {"input": {"returnId": ret["id"]}})

    answer = await post_tracking(http, ret["label"]["carrier"], [tracking_event("c-1", ret["trackingNumber"], "IN_TRANSIT", hours_from_now(-1))])

    assert answer.json()["results"][0]["status"] == "CANCELLED"
    assert (await gql.data(GET, {"id": ret["id"]}))["return"]["status"] == "CANCELLED"
