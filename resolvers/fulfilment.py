"""Root resolvers for shipments, pick lists, rates and the warehouse work flow."""

from __future__ import annotations

from collections.abc import Sized
from typing import Annotated

import strawberry
from strawberry import relay

from app.domain.errors import DomainError, Validator
from app.domain.shipments import ShipmentFilter
from app.services.fulfilment import PackageInput as DomainPackage, PickedLine
from graphql_schema.context import Info
from graphql_schema.enums import ShippingPolicy
from graphql_schema.errors import CommonErrors, error_from_domain
from graphql_schema.ids import node_id_of
from graphql_schema.pagination import page_request
from graphql_schema.prefetch import now_or_later
from graphql_schema.types.orders import Order
from graphql_schema.types.picking import PickList
from graphql_schema.types.shipments import Shipment, ShipmentConnection, ShipmentFilterInput, ShippingQuote, ShippingRates

MAX_INPUT_ITEMS = 100


async def shipments(
    info: Info, filter: ShipmentFilterInput | None = None, first: int | None = None, after: str | None = None  # noqa: A002
) -> ShipmentConnection:
    selection = filter.to_domain() if filter else ShipmentFilter()
    page = await info.context.services.shipments.page(info.context.actor, selection, page_request(first, after))
    return ShipmentConnection.from_page(page)


async def shipment(info: Info, id: relay.GlobalID) -> Shipment | None:  # noqa: A002
    found = await info.context.loaders.shipment_by_id.load(node_id_of(id, "Shipment"))
    return Shipment.from_domain(found) if found else None


async def pick_list(
    info: Info, location_id: str, shipment_ids: list[relay.GlobalID] | None = None, first: int = 20
) -> PickList:
    ids = [node_id_of(g, "Shipment", field="shipmentIds") for g in shipment_ids] if shipment_ids is not None else None
    found = await info.context.services.picking.pick_list(info.context.actor, location_id, shipment_ids=ids, first=first)
    return PickList.from_domain(found)


async def shipping_rates(info: Info, shipment_id: relay.GlobalID) -> ShippingRates:
    found, quotes, chosen = await info.context.services.shipping.rates(info.context.actor, node_id_of(shipment_id, "Shipment", field="shipmentId"))
    return ShippingRates(
        shipment=Shipment.from_domain(found),
        quotes=[ShippingQuote.from_domain(q, found.promised_date) for q in quotes],
        policy=found.shipping_policy or "CHEAPEST",
        recommended=ShippingQuote.from_domain(chosen, found.promised_date) if chosen else None,
    )


# --- mutations -------------------------------------------------------------------------------------

Errors = CommonErrors


@strawberry.input(description="Shipments to put on one picking wave.")
class StartPickingInput:
    shipment_ids: list[relay.GlobalID] = strawberry.field(description="1 to 100 released shipments at locations you work at.")


@strawberry.type(description="The shipments are being picked.")
class StartPickingPayload:
    shipments: list[Shipment]
    pick_list: PickList = strawberry.field(description="The wave's pick list, in walking order.")


@strawberry.input(description="What the picker found for one shipment line.")
class PickedLineInput:
    line_id: str = strawberry.field(description="ShipmentLine.id.")
    picked_quantity: int = strawberry.field(description="0 to the line's quantity; less is a short pick.")


@strawberry.input(description="Confirm the pick of one shipment, every line.")
class ConfirmPickInput:
    shipment_id: relay.GlobalID
    lines: list[PickedLineInput]


@strawberry.type(description="Picked. Short lines were written off the location's stock and re-routed or backordered.")
class ConfirmPickPayload:
    shipment: Shipment
    order_ref: strawberry.Private[str]

    @strawberry.field(description="The order, with any new allocation and shipment for the shortfall.")
    def order(self, info: Info) -> Order | None:
        return now_or_later(info.context.loaders.order_by_id, self.order_ref, Order.from_domain)  # type: ignore[return-value]


@strawberry.input(description="One box, as weighed and measured at the pack station.")
class PackageInput:
    weight_grams: int
    length_cm: float
    width_cm: float
    height_cm: float


@strawberry.input(description="Pack a picked shipment. Pick-up shipments may omit packages.")
class PackShipmentInput:
    shipment_id: relay.GlobalID
    packages: list[PackageInput] = strawberry.field(default_factory=list, description="1 to 20 boxes (for carriers).")


@strawberry.type(description="Packed (or, at the pick-up store, ready for pick-up).")
class PackShipmentPayload:
    shipment: Shipment


@strawberry.input(description="Buy a label and hand the shipment to the carrier.")
class ShipShipmentInput:
    shipment_id: relay.GlobalID
    carrier: str | None = strawberry.field(default=None, description="Carrier code (ups, usps, fedex); default: all carriers.")
    service: str | None = strawberry.field(default=None, description="A service code of that carrier; default: by policy.")
    policy: ShippingPolicy | None = strawberry.field(default=None, description="Override the channel's selection policy.")


@strawberry.type(description="Shipped: label bought, stock consumed, tracking number recorded.")
class ShipShipmentPayload:
    shipment: Shipment


@strawberry.input(description="The shopper collected a pick-up shipment.")
class ConfirmPickupInput:
    shipment_id: relay.GlobalID


@strawberry.type(description="Handed over: stock consumed, order picked up.")
class ConfirmPickupPayload:
    shipment: Shipment


StartPickingResult = Annotated[StartPickingPayload | Errors, strawberry.union("StartPickingResult", description="startPicking's result: the wave, or why not.")]
ConfirmPickResult = Annotated[ConfirmPickPayload | Errors, strawberry.union("ConfirmPickResult", description="confirmPick's result: the picked shipment, or why not.")]
PackShipmentResult = Annotated[PackShipmentPayload | Errors, strawberry.union("PackShipmentResult", description="packShipment's result: the packed shipment, or why not.")]
ShipShipmentResult = Annotated[ShipShipmentPayload | Errors, strawberry.union("ShipShipmentResult", description="shipShipment's result: the shipped shipment, or why not.")]
ConfirmPickupResult = Annotated[ConfirmPickupPayload | Errors, strawberry.union("ConfirmPickupResult", description="confirmPickup's result: the handed-over shipment, or why not.")]


def _too_many(name: str, items: Sized) -> None:
    check = Validator()
    check.check(len(items) <= MAX_INPUT_ITEMS, f"at most {MAX_INPUT_ITEMS} items", name)
    check.raise_if_any()


async def start_picking(info: Info, input: StartPickingInput) -> StartPickingResult:  # noqa: A002
    try:
        _too_many("shipmentIds", input.shipment_ids)
        ids = [node_id_of(g, "Shipment", field="shipmentIds") for g in input.shipment_ids]
        started = await info.context.services.fulfilment.start_picking(info.context.actor, ids)
        location_id = started[0].location_id
        wave = await info.context.services.picking.pick_list(
            info.context.actor, location_id, shipment_ids=[s.id for s in started if s.location_id == location_id]
        )
    except DomainError as exc:
        return error_from_domain(exc)
    for done in started:  # the wave's lines name these shipments: no need to read them again
        info.context.loaders.shipment_by_id.prime(done.id, done)
    return StartPickingPayload(shipments=[Shipment.from_domain(s) for s in started], pick_list=PickList.from_domain(wave))


async def confirm_pick(info: Info, input: ConfirmPickInput) -> ConfirmPickResult:  # noqa: A002
    try:
        _too_many("lines", input.lines)
        picked = [PickedLine(line_id=line.line_id, picked_quantity=line.picked_quantity) for line in input.lines]
        done = await info.context.services.fulfilment.confirm_pick(
            info.context.actor, node_id_of(input.shipment_id, "Shipment", field="shipmentId"), picked
        )
    except DomainError as exc:
        return error_from_domain(exc)
    return ConfirmPickPayload(shipment=Shipment.from_domain(done), order_ref=done.order_id)


async def pack_shipment(info: Info, input: PackShipmentInput) -> PackShipmentResult:  # noqa: A002
    try:
        _too_many("packages", input.packages)
        packages = [DomainPackage(p.weight_grams, p.length_cm, p.width_cm, p.height_cm) for p in input.packages]
        done = await info.context.services.fulfilment.pack(
            info.context.actor, node_id_of(input.shipment_id, "Shipment", field="shipmentId"), packages
        )
    except DomainError as exc:
        return error_from_domain(exc)
    return PackShipmentPayload(shipment=Shipment.from_domain(done))


async def ship_shipment(info: Info, input: ShipShipmentInput) -> ShipShipmentResult:  # noqa: A002
    try:
        done = await info.context.services.shipping.ship(
            info.context.actor,
            node_id_of(input.shipment_id, "Shipment", field="shipmentId"),
            carrier=input.carrier,
            service=input.service,
            policy=input.policy,
        )
    except DomainError as exc:
        return error_from_domain(exc)
    return ShipShipmentPayload(shipment=Shipment.from_domain(done))


async def confirm_pickup(info: Info, input: ConfirmPickupInput) -> ConfirmPickupResult:  # noqa: A002
    try:
        done = await info.context.services.fulfilment.confirm_pickup(
            info.context.actor, node_id_of(input.shipment_id, "Shipment", field="shipmentId")
        )
    except DomainError as exc:
        return error_from_domain(exc)
    return ConfirmPickupPayload(shipment=Shipment.from_domain(done))
