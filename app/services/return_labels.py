"""MAIL returns: where the parcel goes (return routing) and the carrier label that takes it there.

The label is bought outside any transaction (a remote call must not run inside one that may retry),
with an idempotency key derived from the order and the client key: a retried request gets the same
label, never a second charge. The carrier and service are chosen from the same rate cards and by the
same rule (`choose_quote`, the channel's shipping policy) as outbound shipments.
"""

from __future__ import annotations

from dataclasses import dataclass

from app.domain.carriers import CarrierRegistry, Parcel, RateRequest, ShippingPolicy, choose_quote, estimated_parcels
from app.domain.clock import utcnow
from app.domain.errors import ErrorCode, FieldIssue, InvalidInput
from app.domain.fulfilment import ship_date
from app.domain.geo import GeoPoint
from app.domain.locations import Address, Location
from app.domain.orders import Order
from app.domain.return_routing import choose_return_location
from app.domain.returns import ReturnPolicy, ReturnRouting
from app.domain.shipments import Label
from app.repositories.channels import ChannelRepository
from app.repositories.locations import LocationRepository
from app.repositories.products import ProductRepository


@dataclass(frozen=True, slots=True)
class PreparedLabel:
    """Routing decided and label bought, not yet stored on a return."""

    routing: ReturnRouting
    label: Label


def label_key(order_id: str, client_key: str) -> str:
    """The carrier idempotency key of a return's label (also seeds its tracking number)."""
    return f"return:{order_id}:{client_key}"


class ReturnLabels:
    def __init__(
        self, *, carriers: CarrierRegistry, locations: LocationRepository, products: ProductRepository, channels: ChannelRepository
    ):
        self._carriers = carriers
        self._locations = locations
        self._products = products
        self._channels = channels

    async def prepare(self, order: Order, lines: list[tuple[str, int]], policy: ReturnPolicy, *, key: str) -> PreparedLabel:
        """Routes the return (lines: (sku, quantity)) and buys its label. Nothing is written."""
        origin, point, note = await self._origin(order)
        candidates = await self._locations.list(accepts_returns=True)
        centre_id = policy.returns_centre_location_id
        if centre_id and all(loc.id != centre_id for loc in candidates):
            candidates += await self._locations.by_ids([centre_id])  # to explain why it was passed over
        routing = choose_return_location(point, candidates, policy, channel_id=order.channel_id, origin_note=note)
        destination = next(loc for loc in candidates if loc.id == routing.location_id)
        products = {p.sku: p for p in await self._products.by_skus(sorted({sku for sku, _ in lines}))}
        parcels = estimated_parcels(lines, products) or (Parcel(weight_grams=500, length_cm=20, width_cm=15, height_cm=10),)
        request = RateRequest(
            origin=origin,
            origin_point=point,
            destination=destination.address,
            destination_point=destination.point,
            parcels=parcels,
            ship_date=ship_date(utcnow()),
        )
        quotes = []
        for carrier in self._carriers.all():
            quotes.extend(await carrier.rates(request))
        channels = await self._channels.by_ids([order.channel_id])
        policy_name = channels[0].shipping_policy if channels else ShippingPolicy.CHEAPEST
        quote = choose_quote(quotes, ShippingPolicy(policy_name))
        purchased = await self._carriers.get(quote.carrier).buy_label(request, quote.service, idempotency_key=key)
        label = Label(
            carrier=quote.carrier,
            service=quote.service,
            tracking_number=purchased.tracking_number,
            cost=quote.amount,
            billable_weight_grams=quote.billable_weight_grams,
            zone=quote.zone,
            estimated_delivery=quote.estimated_delivery,
            purchased_at=utcnow(),
            service_name=quote.service_name,
        )
        return PreparedLabel(routing=routing, label=label)

    async def void(self, label: Label) -> None:
        await self._carriers.get(label.carrier).void_label(label.tracking_number)

    async def receiving_location(self, location_id: str) -> Location | None:
        found = await self._locations.by_ids([location_id])
        return found[0] if found else None

    async def _origin(self, order: Order) -> tuple[Address, GeoPoint, str]:
        """Where the parcel leaves from: the order's shipping address, else (a pick-up order) the store it
        was collected at, which is the best point the OMS has for the shopper."""
        delivery = order.delivery
        if delivery.address is not None and delivery.point is not None:
            return delivery.address, delivery.point, "the shopper's address"
        if delivery.pickup_location_id:
            found = await self._locations.by_ids([delivery.pickup_location_id])
            if found:
                store = found[0]
                return store.address, store.point, f"{store.id}, where the order was picked up"
        raise InvalidInput(
            [FieldIssue(ErrorCode.INVALID_INPUT, "the order has no address to send a return label from; return it IN_STORE", ("method",))]
        )
