"""captureOrder and routingPreview: validate, match the customer, route, reserve, store, event.

Capture is one multi-document transaction: customer match-or-create, the routing plan (reading stock
in the transaction's snapshot), guarded increments of `reserved`, the order with its allocations and
every event commit together or not at all. Idempotency rests on the unique (channel, external id)
index: a replay finds the stored order and compares input hashes.
"""

from __future__ import annotations

import asyncio
import random
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from app import metrics
from app.domain.channels import BackorderPolicy, Channel
from app.domain.clock import utcnow
from app.domain.customers import CustomerKeyTaken
from app.domain.errors import Conflict, Forbidden, Validator
from app.domain.events import Actor, DomainEvent
from app.domain.geocoding import Geocoded
from app.domain.ids import new_id
from app.domain.inventory import InsufficientStock
from app.domain.locations import Location
from app.domain.order_capture import (
    SELF_SERVICE_KINDS,
    CaptureRequest,
    DeliveryRequest,
    PickupUnavailable,
    Replacement,
    check_located,
    check_references,
    input_hash,
    new_customer,
    new_order,
    needs_geocoding,
    normalized,
    order_lines,
    ship_point,
    validate_shape,
)
from app.domain.orders import (
    Delivery,
    DeliveryMethod,
    DuplicateExternalId,
    ExternalIdTaken,
    Order,
    OrderLine,
    order_event,
    settled_status,
    status_changed,
    with_status,
)
from app.domain.principals import Principal, Role, actor_of
from app.domain.products import Product
from app.repositories.channels import ChannelRepository
from app.repositories.customers import CustomerRepository
from app.repositories.database import Mongo, Session
from app.repositories.locations import LocationRepository
from app.repositories.orders import OrderRepository
from app.repositories.products import ProductRepository
from app.services.contention import KeyedLocks, retry_conflicts
from app.services.fulfilment import ShipmentReferences
from app.services.geocoding import Geocoder
from app.domain.routing.plan import RoutingPlan
from app.services.order_routing import LineNeed, OrderRouting, scheduled_release
from app.services.reservations import OrderChanged, OrderWriter, StockMoved

# Whole-capture retries for races the transaction helper does not retry itself (a plan made stale
# by a concurrent commit, a customer created concurrently). Backoff is jittered so racers spread out.
MAX_ATTEMPTS = 8
_BACKOFF_SECONDS = 0.005


@dataclass(frozen=True, slots=True)
class Captured:
    order: Order
    replayed: bool  # True: this (channel, external id) was captured before with the same input


@dataclass(frozen=True, slots=True)
class _Refs:
    channel: Channel
    products: dict[str, Product]
    pickup: Location | None
    ship_to: Geocoded | None  # SHIP: the point sent, or the one geocoding found; None for pick-up

    @property
    def weights(self) -> dict[str, int]:
        return {sku: product.weight_grams for sku, product in self.products.items()}


class OrderCaptureService:
    def __init__(
        self,
        *,
        mongo: Mongo,
        orders: OrderRepository,
        customers: CustomerRepository,
        channels: ChannelRepository,
        products: ProductRepository,
        locations: LocationRepository,
        routing: OrderRouting,
        writer: OrderWriter,
        queue: KeyedLocks,
        geocoder: Geocoder,
    ):
        self._mongo = mongo
        self._orders = orders
        self._customers = customers
        self._channels = channels
        self._products = products
        self._locations = locations
        self._routing = routing
        self._writer = writer
        self._queue = queue
        self._geocoder = geocoder

    async def capture(self, principal: Principal, request: CaptureRequest, *, replacement: Replacement | None = None) -> Captured:
        """`replacement`: an exchange's new order (app/services/exchanges.py), which has checked the
        caller already and names the customer; otherwise the caller's role and scope decide."""
        request = normalized(request)
        refs = await self._validated(principal, request, replacement=replacement)
        digest = input_hash(request)
        lines = order_lines(request, refs.products)
        for attempt in range(MAX_ATTEMPTS):
            try:
                # In line in this process; across processes, quick retries after a write conflict.
                async with self._queue.hold(line.sku for line in lines):
                    order, replayed = await retry_conflicts(
                        self._mongo, lambda session: self._capture_in(session, principal, request, refs, lines, digest, replacement)
                    )
            except (StockMoved, OrderChanged, CustomerKeyTaken, ExternalIdTaken):
                metrics.CAPTURE_RETRIES.inc()
                await asyncio.sleep(random.uniform(0, _BACKOFF_SECONDS * 2**attempt))  # noqa: S311
                continue
            # A replay shows the stored order, so it must be the caller's to see (a shopper reusing
            # another's external id learns only that the id is taken).
            visible = replacement is not None or principal.can_see_order(
                customer_id=order.customer_id, channel_id=order.channel_id, location_ids=order.location_ids
            )
            if replayed and (order.input_hash != digest or not visible):
                raise DuplicateExternalId(
                    f"{request.channel_id} order {request.external_id} was captured before with different content",
                    field=("externalId",),
                )
            return Captured(order=order, replayed=replayed)
        raise Conflict("the order could not be captured under contention; retry it (it is idempotent)")

    async def preview(self, principal: Principal, request: CaptureRequest) -> RoutingPlan:
        """The plan capture would make for this input right now: same validation, same planner, same
        policy. Reserves and writes nothing (and so ignores idempotency: it plans even a captured id)."""
        request = normalized(request)
        refs = await self._validated(principal, request)
        lines = order_lines(request, refs.products)
        placement = await self._routing.place(
            channel_id=request.channel_id, delivery=_delivery(request, refs), needs=_needs(lines), session=None, weights=refs.weights
        )
        return placement.plan

    async def _capture_in(
        self,
        session: Session,
        principal: Principal,
        request: CaptureRequest,
        refs: _Refs,
        lines: tuple[OrderLine, ...],
        digest: str,
        replacement: Replacement | None = None,
    ) -> tuple[Order, bool]:
        existing = await self._orders.by_external_id(request.channel_id, request.external_id, session=session)
        if existing is not None:
            return existing, True
        at = utcnow()
        actor = actor_of(principal)
        if replacement is not None:
            customer_id, events = replacement.customer_id, []
        else:
            customer_id, events = await self._customer(session, principal, request, actor, at)
        delivery = _delivery(request, refs)
        needs = _needs(lines)
        placement = await self._routing.place(
            channel_id=request.channel_id, delivery=delivery, needs=needs, session=session, weights=refs.weights
        )
        short = placement.short(needs)
        if short and request.delivery.method is DeliveryMethod.PICKUP_IN_STORE:
            raise PickupUnavailable(
                f"{request.delivery.pickup_location_id} cannot hand over everything on this order now",
                placement.pickup_alternatives,
                field=("delivery", "pickupLocation"),
            )
        if short and refs.channel.backorder_policy is BackorderPolicy.REFUSE:
            first = min(short, key=int)
            detail = ", ".join(f"line {line_id}: {units} short" for line_id, units in sorted(short.items(), key=lambda kv: int(kv[0])))
            raise InsufficientStock(
                f"channel {request.channel_id} does not take backorders and stock is short ({detail})",
                field=("lines", str(int(first) - 1), "quantity"),
            )
        created = new_order(
            request,
            order_id=new_id(),
            customer_id=customer_id,
            lines=lines,
            destination=delivery.point,
            point_source=delivery.point_source,
            allocations=placement.allocations,
            routing=placement.explanation,
            release_at=None,
            digest=digest,
            at=at,
            extra_payments=replacement.credit if replacement else (),
            exchange_for_return_id=replacement.return_id if replacement else None,
        )
        created = replace(created, release_at=await scheduled_release(self._locations, created, at, known=placement.locations))
        order = with_status(created, settled_status(created, at), at)
        events.append(order_event(order, "OrderCaptured", actor, at, _captured_payload(order)))
        events += status_changed(created.status, order, actor, at)
        # Stock, locations, products and channel are read once per capture: the writer reserves from
        # the levels routing read and makes the shipments from what validation and routing read.
        known = ShipmentReferences(products=refs.products, channel=refs.channel)
        await self._writer.write(session, None, order, events, actor=actor, at=at, read=placement, known=known)
        return order, False

    async def _validated(self, principal: Principal, request: CaptureRequest, *, replacement: Replacement | None = None) -> _Refs:
        """Role and scope first (nothing about the input is revealed to a caller who may not capture)."""
        if replacement is None:
            _check_role(principal, request)
        check = validate_shape(
            request, today=utcnow().date(), customer_required=replacement is None and principal.role is not Role.CUSTOMER
        )
        # The point found stays out of the request: input_hash, and so a replay's idempotency,
        # covers only what the caller sent.
        located = await self._locate(request.delivery)
        check_located(check, request.delivery, located, "delivery", "address")
        return await self._references(principal, request, check, located, replacement=replacement)

    async def _references(
        self,
        principal: Principal,
        request: CaptureRequest,
        check: Validator,
        located: Geocoded | None,
        *,
        replacement: Replacement | None,
    ) -> _Refs:
        skus = sorted({line.sku for line in request.lines if line.sku})[:100]
        pickup_id = request.delivery.pickup_location_id
        # Independent reads, outside any transaction: issued together.
        channels, found, pickups = await asyncio.gather(
            self._channels.by_ids([request.channel_id]) if request.channel_id else _nothing(),
            self._products.by_skus(skus) if skus else _nothing(),
            self._locations.by_ids([pickup_id]) if pickup_id else _nothing(),
        )
        channel = channels[0] if channels else None
        if replacement is None and principal.role is Role.CUSTOMER and channel is not None and channel.kind not in SELF_SERVICE_KINDS:
            raise Forbidden("customers order for themselves on the web shop or the app", field=("channel",))
        products = {p.sku: p for p in found}
        pickup = pickups[0] if pickups else None
        check_references(check, request, channel=channel, products=products, pickup=pickup)
        check.raise_if_any()
        assert channel is not None
        return _Refs(channel=channel, products=products, pickup=pickup, ship_to=ship_point(request.delivery, located))

    async def _locate(self, delivery: DeliveryRequest) -> Geocoded | None:
        return await self._geocoder.locate_async(delivery.address) if needs_geocoding(delivery) and delivery.address else None

    async def _customer(
        self, session: Session, principal: Principal, request: CaptureRequest, actor: Actor, at: datetime
    ) -> tuple[str, list[DomainEvent]]:
        """The customer's id, matched by channel identity, email or phone, else created (with its event)."""
        if principal.role is Role.CUSTOMER:
            assert principal.customer_id is not None
            # A credential may still name a customer merged into another (a JWT until it is
            # reissued, an API key within its cache window): the order goes to the survivor.
            return await self._customers.live_id(principal.customer_id, session=session), []
        details = request.customer
        found = await self._customers.match(identity=request.identity, email=details.email, phone=details.phone, session=session)
        if found is not None:
            if request.identity is not None and request.identity not in found.identities:
                await self._customers.add_identity(found.id, request.identity, session=session)
            return found.id, []
        customer = new_customer(request, new_id(), at)
        await self._customers.insert(customer, session=session)
        event = DomainEvent(
            id=new_id(),
            type="CustomerCreated",
            aggregate_type="Customer",
            aggregate_id=customer.id,
            at=at,
            actor=actor,
            payload={"email": customer.email, "phone": customer.phone, "viaOrder": request.external_id},
            customer_id=customer.id,
            channel_id=request.channel_id,
        )
        return customer.id, [event]


def _check_role(principal: Principal, request: CaptureRequest) -> None:
    if principal.role is Role.CHANNEL and principal.channel_id != request.channel_id:
        raise Forbidden("a channel integration may only capture orders for its own channel", field=("channel",))
    if principal.role is Role.CUSTOMER and principal.customer_id is None:
        raise Forbidden("not allowed to place orders")
    if principal.role not in (Role.ADMIN, Role.CSR, Role.CHANNEL, Role.CUSTOMER):
        raise Forbidden(f"role {principal.role} may not capture orders")


def _delivery(request: CaptureRequest, refs: _Refs) -> Delivery:
    """The order's delivery; a pick-up's destination point is the store's."""
    if refs.pickup is not None:
        point, source = refs.pickup.point, None
    else:
        point, source = (refs.ship_to.point, refs.ship_to.source) if refs.ship_to else (request.delivery.point, None)
    return Delivery(
        method=request.delivery.method,
        address=request.delivery.address,
        point=point,
        pickup_location_id=request.delivery.pickup_location_id,
        requested_date=request.requested_date,
        point_source=source,
    )


async def _nothing() -> list[Any]:
    return []


def _needs(lines: tuple[OrderLine, ...]) -> list[LineNeed]:
    return [LineNeed(line_id=line.id, sku=line.sku, quantity=line.open_quantity) for line in lines]


def _captured_payload(order: Order) -> dict[str, object]:
    return {
        "externalId": order.external_id,
        "status": order.status.value,
        "lines": [{"lineId": line.id, "sku": line.sku, "quantity": line.quantity} for line in order.lines],
        "totalCents": order.totals.total.cents,
        "currency": order.totals.total.currency,
        "delivery": order.delivery.method.value,
        "releaseAt": order.release_at.isoformat() if order.release_at else None,
        "paidCents": sum(p.amount.cents for p in order.payments),
        **({"exchangeForReturnId": order.exchange_for_return_id} if order.exchange_for_return_id else {}),
    }
