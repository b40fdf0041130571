"""Reading stock: per location and network totals; stores with stock near a point."""

from __future__ import annotations

from app.domain.locations import LocationKind
from tests.conftest import GraphQLClient
from tests.factories import BOSTON, CAMBRIDGE, CHICAGO, NEW_YORK, PROVIDENCE, World, level, location, product


async def _network(world: World) -> None:
    await world.add_locations(
        location("ST-BOS", BOSTON),
        location("ST-CAM", CAMBRIDGE),
        location("ST-PVD", PROVIDENCE),
        location("ST-NYC", NEW_YORK),
        location("DC-CHI", CHICAGO, LocationKind.DISTRIBUTION_CENTER),
    )
    await world.add_products(product("SKU-1"), product("SKU-2"))
    await world.add_stock(
        level("SKU-1", "ST-BOS", 0),  # none on hand
        level("SKU-1", "ST-CAM", 5, reserved=5),  # all promised
        level("SKU-1", "ST-PVD", 4, reserved=1, safety_stock=1),  # 2 available
        level("SKU-1", "ST-NYC", 9),
        level("SKU-1", "DC-CHI", 100, reserved=10, safety_stock=5),  # not a store
        level("SKU-2", "ST-PVD", 3),
        level("SKU-2", "ST-CAM", 1),
    )


async def test_inventory_per_location_and_network_totals(world: World, gql: GraphQLClient) -> None:
    await _network(world)
    data = await gql.data(
        '{ inventory(sku: "SKU-1") { sku product { name } totals { onHand reserved safetyStock available locationCount } '
        "levels { locationCode onHand reserved safetyStock available bin { code } location { kind } } } }"
    )
    inventory = data["inventory"]
    assert inventory["totals"] == {"onHand": 118, "reserved": 16, "safetyStock": 6, "available": 2 + 9 + 85, "locationCount": 5}
    by_location = {lvl["locationCode"]: lvl for lvl in inventory["levels"]}
    assert by_location["ST-PVD"]["available"] == 2
    assert by_location["ST-CAM"]["available"] == 0
    assert by_location["DC-CHI"]["location"] == {"kind": "DISTRIBUTION_CENTER"}
    assert by_location["ST-BOS"]["bin"] == {"code": "A-01-1-01"}
    assert (await gql.data('{ inventory(sku: "NOPE") { sku } }')) == {"inventory": None}


STORES = """
query($skus: [String!]!, $lat: Float!, $lng: Float!, $radius: Float!, $all: Boolean! = true) {
  storeAvailability(skus: $skus, near: {lat: $lat, lng: $lng}, radiusKm: $radius, first: 10, requireAll: $all) {
    locationCode distanceKm hasAllItems items { sku available } location { name }
  }
}
"""


async def test_store_availability_lists_stores_with_stock_nearest_first(world: World, gql: GraphQLClient) -> None:
    await _network(world)
    near_boston = {"lat": BOSTON.lat, "lng": BOSTON.lng}

    data = await gql.data(STORES, {"skus": ["SKU-1"], **near_boston, "radius": 400})
    stores = data["storeAvailability"]
    # Boston has none, Cambridge is all reserved, Chicago is a DC: Providence (~66 km), then New York (~306 km).
    assert [s["locationCode"] for s in stores] == ["ST-PVD", "ST-NYC"]
    assert stores[0]["items"] == [{"sku": "SKU-1", "available": 2}]
    assert 60 < stores[0]["distanceKm"] < 70
    assert 300 < stores[1]["distanceKm"] < 310

    within_100 = await gql.data(STORES, {"skus": ["SKU-1"], **near_boston, "radius": 100})
    assert [s["locationCode"] for s in within_100["storeAvailability"]] == ["ST-PVD"]

    both = await gql.data(STORES, {"skus": ["SKU-1", "SKU-2"], **near_boston, "radius": 400})
    assert [(s["locationCode"], s["hasAllItems"]) for s in both["storeAvailability"]] == [("ST-PVD", True)]

    either = await gql.data(STORES, {"skus": ["SKU-1", "SKU-2"], **near_boston, "radius": 400, "all": False})
    assert [(s["locationCode"], s["hasAllItems"]) for s in either["storeAvailability"]] == [
        ("ST-CAM", False),
        ("ST-PVD", True),
        ("ST-NYC", False),
    ]


async def test_store_availability_refuses_bad_input_with_field_paths(world: World, gql: GraphQLClient) -> None:
    body = await gql(STORES, {"skus": [], "lat": 95.0, "lng": 0.0, "radius": -1})
    issues = body["errors"][0]["extensions"]["issues"]
    assert {tuple(i["field"]) for i in issues} == {("skus",), ("near",), ("radiusKm",)}
