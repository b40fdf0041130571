"""Shared pieces of the order tests: a small network, capture inputs, GraphQL documents."""

from __future__ import annotations

from datetime import date
from typing import Any

from app.domain.geo import GeoPoint
from app.domain.locations import Address, LocationKind
from app.domain.order_capture import CaptureRequest, CustomerDetails, DeliveryRequest, LineRequest
from app.domain.orders import DeliveryMethod
from tests.factories import BOSTON, CAMBRIDGE, CHICAGO, NEW_YORK, World, level, location, product

ERRORS = "... on Error { __typename code message field } ... on InvalidInputError { issues { code field message } }"
PICKUP_ERROR = "... on PickupUnavailableError { nearbyStores { locationCode name distanceKm } }"
ORDER_FIELDS = (
    "id externalId status channelCode releaseAt version "
    "lines { id sku quantity openQuantity allocatedQuantity backorderedQuantity unitPrice { cents } } "
    "allocations { lineId sku locationCode quantity status } "
    "customer { id email } totals { subtotal { cents } total { cents } } hold { reason previousStatus }"
)
CAPTURE = f"""
mutation($input: CaptureOrderInput!) {{
  captureOrder(input: $input) {{
    __typename
    ... on CaptureOrderPayload {{ replayed order {{ {ORDER_FIELDS} }} }}
    {ERRORS} {PICKUP_ERROR}
  }}
}}
"""


async def network(world: World) -> None:
    """Boston store (ships, pick-up), Cambridge store (pick-up only), New York store, Chicago DC."""
    await world.add_locations(
        location("ST-BOS", BOSTON),
        location("ST-CAM", CAMBRIDGE, ships=False),
        location("ST-NYC", NEW_YORK),
        location("DC-CHI", CHICAGO, LocationKind.DISTRIBUTION_CENTER, offers_pickup=False),
    )
    await world.add_products(product("SKU-1", 1000), product("SKU-2", 2500), product("SKU-3", 400), product("SKU-HOT", 9900))
    await world.add_stock(
        level("SKU-1", "ST-BOS", 5),
        level("SKU-1", "DC-CHI", 100),
        level("SKU-2", "ST-BOS", 2),
        level("SKU-2", "ST-CAM", 6),
        level("SKU-3", "DC-CHI", 40),
        level("SKU-HOT", "DC-CHI", 10),
    )


def capture_input(external_id: str = "W-1", **overrides: Any) -> dict[str, Any]:
    value: dict[str, Any] = {
        "channel": "web",
        "externalId": external_id,
        "customer": {"email": "ada@example.com", "firstName": "Ada", "lastName": "Lovelace"},
        "lines": [{"sku": "SKU-1", "quantity": 2, "unitPriceCents": 1000}],
        "delivery": {
            "method": "SHIP",
            "address": {"line1": "1 Beacon St", "city": "Boston", "postalCode": "02108", "region": "MA"},
            "point": {"lat": BOSTON.lat, "lng": BOSTON.lng},
        },
    }
    value.update(overrides)
    return value


def pickup(store: str) -> dict[str, Any]:
    return {"method": "PICKUP_IN_STORE", "pickupLocation": store}


async def counts(world: World) -> dict[str, int]:
    db = world.mongo.db
    return {name: await db[name].count_documents({}) for name in ("orders", "customers", "events", "customer_keys")}


async def reserved(world: World) -> dict[str, int]:
    return {doc["_id"]: doc["reserved"] async for doc in world.mongo.db["inventory"].find({"reserved": {"$ne": 0}})}


def capture_request(given: dict[str, Any]) -> CaptureRequest:
    """The domain request for a GraphQL-shaped capture input (for tests that call services directly)."""
    details = given.get("customer") or {}
    delivery = given["delivery"]
    address = delivery.get("address")
    point = delivery.get("point")
    return CaptureRequest(
        channel_id=given["channel"],
        external_id=given["externalId"],
        customer=CustomerDetails(
            email=details.get("email"),
            phone=details.get("phone"),
            first_name=details.get("firstName"),
            last_name=details.get("lastName"),
            channel_customer_id=details.get("channelCustomerId"),
        ),
        lines=tuple(LineRequest(line["sku"], line["quantity"], line.get("unitPriceCents")) for line in given["lines"]),
        delivery=DeliveryRequest(
            method=DeliveryMethod(delivery["method"]),
            address=Address(line1=address["line1"], city=address["city"], postal_code=address["postalCode"], region=address.get("region"))
            if address
            else None,
            point=GeoPoint(point["lat"], point["lng"]) if point else None,
            pickup_location_id=delivery.get("pickupLocation"),
        ),
        requested_date=date.fromisoformat(given["requestedDeliveryDate"]) if given.get("requestedDeliveryDate") else None,
        notes=given.get("notes"),
    )
