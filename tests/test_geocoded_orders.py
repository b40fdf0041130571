"""SHIP orders whose address came without coordinates: captured, edited and previewed with a point
found offline (ZIP centre, else city centre), recorded as pointSource; refused only when nothing matches."""

from __future__ import annotations

from typing import Any

import pytest

from app.domain.order_capture import input_hash, normalized
from app.services.container import Services
from tests.conftest import GraphQLClient
from tests.factories import World, level
from tests.order_helpers import ERRORS, capture_input, capture_request, counts, network, reserved

pytestmark = pytest.mark.usefixtures("reservations_consistent")

ORDER = (
    "id status allocations { locationCode quantity status } "
    "delivery { pointSource point { lat lng } } "
    "routing { destinationSource summary decisions { reason } }"
)
CAPTURE = f"""
mutation($input: CaptureOrderInput!) {{
  captureOrder(input: $input) {{ __typename ... on CaptureOrderPayload {{ replayed order {{ {ORDER} }} }} {ERRORS} }}
}}
"""
EDIT = f"""
mutation($input: EditOrderInput!) {{
  editOrder(input: $input) {{ __typename ... on EditOrderPayload {{ order {{ {ORDER} }} }} {ERRORS} }}
}}
"""
PREVIEW = """
query($input: CaptureOrderInput!) {
  routingPreview(input: $input) { allocations { locationCode } explanation { destinationSource summary } }
}
"""
BOSTON_ZIP4 = {"line1": "1 Beacon St", "city": "Boston", "postalCode": "02108-1234", "region": "MA"}
NOWHERE = {"line1": "1 Main St", "city": "Nowhereville", "postalCode": "00000", "region": "NY"}


def ship_to(address: dict[str, Any]) -> dict[str, Any]:
    return {"method": "SHIP", "address": address}


async def _capture(gql: GraphQLClient, given: dict[str, Any]) -> dict[str, Any]:
    return (await gql.data(CAPTURE, {"input": given}))["captureOrder"]


async def test_a_ship_order_without_coordinates_is_routed_from_its_zip_centre(
    world: World, gql: GraphQLClient, services: Services
) -> None:
    await network(world)
    given = capture_input("W-GEO", delivery=ship_to(BOSTON_ZIP4))
    result = await _capture(gql, given)
    assert result["__typename"] == "CaptureOrderPayload", result
    order = result["order"]
    assert order["status"] == "ALLOCATED"
    assert [(a["locationCode"], a["quantity"]) for a in order["allocations"]] == [("ST-BOS", 2)]
    assert order["delivery"] == {"pointSource": "POSTAL_CODE", "point": {"lat": 42.3576, "lng": -71.0684}}
    routing = order["routing"]
    assert routing["destinationSource"] == "POSTAL_CODE"
    assert "km (from the postal code's centre)" in routing["summary"], routing["summary"]
    assert routing["summary"].startswith("Ships from ST-BOS at ~")
    assert "at ~" in routing["decisions"][0]["reason"]
    stored = await services.mongo.db["orders"].find_one({"external_id": "W-GEO"})
    assert stored["delivery"]["point_source"] == "POSTAL_CODE"
    assert stored["delivery"]["point"]["coordinates"] == [-71.0684, 42.3576]

    # The idempotency hash is of what the channel sent, not of the point geocoding found: a replay
    # returns the same order, and the hash is the one computed from the point-less input.
    before = await counts(world)
    again = await _capture(gql, given)
    assert again["replayed"] is True and again["order"] == order
    assert await counts(world) == before
    assert stored["input_hash"] == input_hash(normalized(capture_request(given)))
    assert await reserved(world) == {"SKU-1@ST-BOS": 2}


async def test_a_given_point_is_used_as_is_and_recorded_as_given(world: World, gql: GraphQLClient) -> None:
    await network(world)
    order = (await _capture(gql, capture_input("W-GIVEN")))["order"]
    assert order["delivery"]["pointSource"] == "GIVEN"
    assert order["routing"]["destinationSource"] == "GIVEN"
    assert "~" not in order["routing"]["summary"] and "centre" not in order["routing"]["summary"]


async def test_without_a_known_zip_the_city_centre_is_used(world: World, gql: GraphQLClient) -> None:
    await network(world)
    by_city = capture_input("W-CITY", delivery=ship_to({"line1": "1 Main St", "city": "New York", "postalCode": "0", "region": "NY"}))
    await world.add_stock(level("SKU-1", "ST-NYC", 5))
    order = (await _capture(gql, by_city))["order"]
    assert order["delivery"]["pointSource"] == "CITY"
    assert [a["locationCode"] for a in order["allocations"]] == ["ST-NYC"]
    assert "(from the city's centre)" in order["routing"]["summary"]


async def test_an_address_nothing_matches_is_refused_naming_the_field(world: World, gql: GraphQLClient) -> None:
    await network(world)
    before = await counts(world)
    us = await _capture(gql, capture_input("W-NOWHERE", delivery=ship_to(NOWHERE)))
    assert us["__typename"] == "InvalidInputError", us
    assert [(i["code"], i["field"]) for i in us["issues"]] == [("INVALID_INPUT", ["delivery", "address", "postalCode"])]
    assert "'00000'" in us["message"] and "coordinates" in us["message"]
    abroad = await _capture(gql, capture_input("W-ATLANTIS", delivery=ship_to(NOWHERE | {"city": "Atlantis", "country": "GB", "region": None})))
    assert [i["field"] for i in abroad["issues"]] == [["delivery", "address", "city"]]
    # A blank city is reported as blank, not as a city nobody knows.
    blank = await _capture(gql, capture_input("W-BLANK", delivery=ship_to(NOWHERE | {"city": " "})))
    assert [(i["field"], i["message"]) for i in blank["issues"]] == [(["delivery", "address", "city"], "is required")]
    assert await counts(world) == before
    assert await reserved(world) == {}


async def test_routing_preview_geocodes_like_capture(world: World, gql: GraphQLClient) -> None:
    await network(world)
    plan = (await gql.data(PREVIEW, {"input": capture_input("W-PRE", delivery=ship_to(BOSTON_ZIP4))}))["routingPreview"]
    assert [a["locationCode"] for a in plan["allocations"]] == ["ST-BOS"]
    assert plan["explanation"]["destinationSource"] == "POSTAL_CODE"


async def test_an_edited_address_without_coordinates_is_geocoded_and_reroutes(
    world: World, gql: GraphQLClient, services: Services
) -> None:
    await network(world)
    order = (await _capture(gql, capture_input("W-MOVE")))["order"]
    await world.add_stock(level("SKU-1", "ST-NYC", 3))
    nyc = {"line1": "350 5th Ave", "city": "New York", "postalCode": "10118", "region": "NY"}

    def edit(address: dict[str, Any]) -> dict[str, Any]:
        return {"input": {"orderId": order["id"], "reason": "customer moved", "shippingAddress": address}}

    before = await counts(world), await reserved(world)
    refused = (await gql.data(EDIT, edit(NOWHERE)))["editOrder"]
    assert [i["field"] for i in refused["issues"]] == [["shippingAddress", "postalCode"]]
    assert (await counts(world), await reserved(world)) == before

    moved = (await gql.data(EDIT, edit(nyc)))["editOrder"]
    assert moved["__typename"] == "EditOrderPayload", moved
    after = moved["order"]
    assert after["delivery"]["pointSource"] == "POSTAL_CODE"
    assert [(a["locationCode"], a["status"]) for a in after["allocations"]] == [("ST-BOS", "RELEASED"), ("ST-NYC", "OPEN")]
    assert after["routing"]["destinationSource"] == "POSTAL_CODE"
    assert "(from the postal code's centre)" in after["routing"]["summary"]
    edited = await services.mongo.db["events"].find_one({"type": "OrderEdited"})
    assert edited["payload"]["address"] == {"from": "Boston", "to": "New York", "pointSource": "POSTAL_CODE"}
    assert await reserved(world) == {"SKU-1@ST-NYC": 2}
