"""Delivered orders to return: the fulfilment world's DC and stores (all take returns), orders whose
shipments were delivered (or picked up) some days ago, and the GraphQL documents the returns tests share."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta, timezone
from typing import Any

from app.domain.ids import new_id
from app.domain.money import Money
from app.domain.orders import Allocation, AllocationStatus, Delivery, DeliveryMethod, Order, OrderLine, OrderStatus, order_totals
from app.domain.shipments import FulfilmentMethod, Shipment, ShipmentLine, ShipmentStatus
from app.repositories.shipments import ShipmentRepository
from tests.factories import customer
from tests.fulfilment_world import PRODUCTS, SHOPPER_ADDRESS, SHOPPER_POINT, FulfilmentWorld

ERRORS = "... on Error { __typename code message field } ... on InvalidInputError { issues { code field message } }"
RETURN_FIELDS = """
  id number status method clientKey channelCode locationCode itemCount receivedCount trackingNumber labelUrl labelPaidBy
  statusReason requestedBy
  lines { id orderLineId sku quantity reason note unitPrice { cents } receivedQuantity shortfall disposition dispositionNote }
  routing { rule locationCode summary distanceKm candidates { locationCode distanceKm outcome } }
  label { carrier service trackingNumber zone cost { cents } }
  trackingEvents { id kind }
"""
REQUEST = f"""
mutation($input: RequestReturnInput!) {{
  requestReturn(input: $input) {{ __typename ... on RequestReturnPayload {{ replayed return {{ {RETURN_FIELDS} }} }} {ERRORS} }}
}}
"""
RECEIVE = f"""
mutation($input: ReceiveReturnInput!) {{
  receiveReturn(input: $input) {{
    __typename ... on ReceiveReturnPayload {{ return {{ {RETURN_FIELDS} }} backordersFilled {{ externalId status }} }} {ERRORS}
  }}
}}
"""
GET = f"query($id: ID!) {{ return(id: $id) {{ {RETURN_FIELDS} }} }}"


def decision(name: str, input_type: str) -> str:
    payload = name[0].upper() + name[1:] + "Payload"
    return f"""
mutation($input: {input_type}!) {{
  {name}(input: $input) {{ __typename ... on {payload} {{ return {{ {RETURN_FIELDS} }} }} {ERRORS} }}
}}
"""


def gid(type_name: str, node_id: str) -> str:
    import base64

    return base64.b64encode(f"{type_name}:{node_id}".encode()).decode()


def line(order_line_id: str, quantity: int, reason: str = "NO_LONGER_NEEDED", **extra: Any) -> dict[str, Any]:
    return {"orderLineId": order_line_id, "quantity": quantity, "reason": reason, **extra}


def request_input(order: Order, lines: list[dict[str, Any]], *, method: str = "MAIL", key: str | None = None, **extra: Any) -> dict[str, Any]:
    return {"input": {"orderId": gid("Order", order.id), "clientKey": key or f"rk-{new_id()}", "method": method, "lines": lines, **extra}}


async def delivered_order(
    fw: FulfilmentWorld,
    lines: list[tuple[str, int, str]],
    *,
    days_ago: float = 2,
    channel_id: str = "web",
    customer_id: str | None = None,
    pickup_at: str | None = None,
    external_id: str | None = None,
    status: ShipmentStatus | None = None,
    unit_price_cents: int = 2500,
) -> Order:
    """An order whose lines (sku, quantity, location) were handed over `days_ago` days ago: allocations
    FULFILLED (stock already left: nothing reserved), one DELIVERED (PICKED_UP for a pick-up) shipment per
    location. `status` puts the shipments elsewhere (e.g. IN_TRANSIT: shipped, not delivered)."""
    if customer_id is None:
        shopper = customer("Ada", "Lovelace", email=f"ada.{new_id()}@example.com")
        await fw.world.add_customers(shopper)
        customer_id = shopper.id
    handed = datetime.now(timezone.utc).replace(microsecond=0) - timedelta(days=days_ago)
    order_lines = tuple(
        OrderLine(id=str(n), sku=sku, name=next(p.name for p in PRODUCTS if p.sku == sku), quantity=qty, unit_price=Money(unit_price_cents))
        for n, (sku, qty, _) in enumerate(lines, start=1)
    )
    allocations = tuple(
        Allocation(id=f"{n}-1", line_id=str(n), sku=sku, location_id=loc, quantity=qty, status=AllocationStatus.FULFILLED)
        for n, (sku, qty, loc) in enumerate(lines, start=1)
    )
    delivery = (
        Delivery(method=DeliveryMethod.PICKUP_IN_STORE, pickup_location_id=pickup_at)
        if pickup_at
        else Delivery(method=DeliveryMethod.SHIP, address=SHOPPER_ADDRESS, point=SHOPPER_POINT)
    )
    final = status or (ShipmentStatus.PICKED_UP if pickup_at else ShipmentStatus.DELIVERED)
    order_status = {ShipmentStatus.PICKED_UP: OrderStatus.PICKED_UP, ShipmentStatus.DELIVERED: OrderStatus.DELIVERED}.get(final, OrderStatus.SHIPPED)
    order = Order(
        id=new_id(), channel_id=channel_id, external_id=external_id or f"W-{new_id()[-6:]}", customer_id=customer_id,
        status=order_status, lines=order_lines, delivery=delivery,
        totals=order_totals(order_lines, Money(0 if pickup_at else 599)),
        created_at=handed - timedelta(days=3), updated_at=handed, allocations=allocations,
    )
    await fw.world.add_orders(order)
    shipments = []
    for n, location_id in enumerate(dict.fromkeys(loc for _, _, loc in lines), start=1):
        mine = [a for a in allocations if a.location_id == location_id]
        shipments.append(
            Shipment(
                id=new_id(), number=f"{order.external_id}-{n}", order_id=order.id, customer_id=customer_id, channel_id=channel_id,
                location_id=location_id, method=FulfilmentMethod.PICKUP if pickup_at else FulfilmentMethod.SHIP, status=final,
                lines=tuple(ShipmentLine(a.id, a.line_id, a.sku, a.sku, a.quantity, picked_quantity=a.quantity) for a in mine),
                created_at=order.created_at, updated_at=handed, status_at=handed,
                destination=None if pickup_at else SHOPPER_ADDRESS, destination_point=None if pickup_at else SHOPPER_POINT,
                extra={"delivered_at": handed} if final is ShipmentStatus.DELIVERED else ({"picked_up_at": handed} if pickup_at else {}),
            )
        )
    await ShipmentRepository(fw.mongo.db).insert_many(shipments, session=None)
    return order


def with_customer(order: Order, customer_id: str) -> Order:
    return replace(order, customer_id=customer_id)
