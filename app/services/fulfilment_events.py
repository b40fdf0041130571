"""Event builders for fulfilment, following the conventions in docs/ARCHITECTURE.md ("Event flow")."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from app.domain.events import Actor, DomainEvent
from app.domain.ids import new_id
from app.domain.inventory import InventoryLevel, StockChangeCause, stock_level_changed
from app.domain.orders import Order
from app.domain.principals import Principal, actor_of as principal_actor
from app.domain.shipments import Shipment


def actor_of(principal: Principal | None) -> Actor:
    return principal_actor(principal) if principal else Actor.system("fulfilment")


def shipment_event(
    kind: str, shipment: Shipment, actor: Actor, at: datetime, payload: dict[str, Any], *, reason: str | None = None
) -> DomainEvent:
    return DomainEvent(
        id=new_id(),
        type=kind,
        aggregate_type="Shipment",
        aggregate_id=shipment.id,
        at=at,
        actor=actor,
        payload={"shipmentNumber": shipment.number, "status": shipment.status.value, **payload},
        reason=reason,
        order_id=shipment.order_id,
        customer_id=shipment.customer_id,
        channel_id=shipment.channel_id,
        location_id=shipment.location_id,
        shipment_id=shipment.id,
    )


def status_changed(before: Shipment, after: Shipment, actor: Actor, at: datetime, *, reason: str | None = None) -> DomainEvent:
    return shipment_event(
        "ShipmentStatusChanged",
        after,
        actor,
        at,
        {
            "from": before.status.value,
            "to": after.status.value,
            "eta": after.eta.isoformat() if after.eta else None,
            "trackingNumber": after.tracking_number,
        },
        reason=reason,
    )


def stock_changed(
    before: InventoryLevel, after: InventoryLevel, cause: StockChangeCause, actor: Actor, at: datetime, order: Order,
    *, reason: str | None = None,
) -> DomainEvent:
    return stock_level_changed(
        before, after, cause=cause, actor=actor, at=at, reason=reason,
        order_id=order.id, customer_id=order.customer_id, channel_id=order.channel_id,
    )
