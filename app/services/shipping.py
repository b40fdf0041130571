"""Delivery: rate shopping, buying labels (shipShipment) and carrier tracking webhooks."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from app.domain.carriers import (
    CarrierRegistry,
    PurchasedLabel,
    Quote,
    RateRequest,
    ShippingPolicy,
    choose_quote,
)
from app.domain.clock import utcnow
from app.domain.errors import Conflict, ErrorCode, FieldIssue, InvalidInput, NotFound
from app.domain.events import Actor
from app.domain.fulfilment import label_of, rate_request, ship_date
from app.domain.principals import Principal
from app.domain.shipments import (
    SHIPPED_STATES,
    FulfilmentMethod,
    IllegalShipmentTransition,
    Shipment,
    ShipmentStatus,
    TrackingEvent,
    TrackingEventKind,
    transition,
)
from app.domain.signatures import SignatureError
from app.domain.tracking import tracked_eta, tracked_status
from app.repositories.database import Session
from app.services import fulfilment_events as ev
from app.services.fulfilment_unit import FulfilmentRepos, Unit
from app.services.return_tracking import ReturnTracking
from app.services.shipments import can_see_shipment
from app.services.signatures import SignatureService


@dataclass(frozen=True, slots=True)
class TrackingResult:
    event_id: str
    tracking_number: str
    outcome: str  # APPLIED | DUPLICATE | UNKNOWN_TRACKING_NUMBER
    status: str | None = None


class ShippingService:
    def __init__(
        self,
        *,
        repos: FulfilmentRepos,
        carriers: CarrierRegistry,
        signatures: SignatureService,
        webhook_secrets: Mapping[str, Sequence[str]],
        returns: ReturnTracking | None = None,
    ):
        """`returns`: scans of return labels go there (tracking numbers no shipment has)."""
        self._returns = returns
        self._repos = repos
        self._carriers = carriers
        self._signatures = signatures
        self._secrets = {code.lower(): tuple(secrets) for code, secrets in webhook_secrets.items()}

    # --- rates -------------------------------------------------------------------------------------

    async def _request(self, shipment: Shipment, session: Session | None = None) -> RateRequest:
        if shipment.method is not FulfilmentMethod.SHIP or shipment.destination is None or shipment.destination_point is None:
            raise Conflict(f"shipment {shipment.number} is picked up in store; it has no carrier", field=("shipmentId",))
        origin = (await self._repos.locations.by_ids([shipment.location_id], session=session) or [None])[0]
        if origin is None:
            raise NotFound(f"location {shipment.location_id} does not exist")
        products = {}
        if not shipment.packages:  # before packing: one parcel is estimated from the catalog
            products = {p.sku: p for p in await self._repos.products.by_skus(sorted({ln.sku for ln in shipment.lines}), session=session)}
        return rate_request(shipment, origin, products, ship_date(utcnow()))

    async def _quotes(self, request: RateRequest, carrier: str | None = None) -> list[Quote]:
        carriers = [self._carriers.get(carrier)] if carrier else self._carriers.all()
        quotes: list[Quote] = []
        for adapter in carriers:
            quotes.extend(await adapter.rates(request))
        return sorted(quotes, key=lambda q: (q.amount.cents, q.estimated_delivery, q.carrier, q.service))

    async def rates(self, principal: Principal, shipment_id: str) -> tuple[Shipment, list[Quote], Quote | None]:
        """Every carrier's quotes, cheapest first, and the one the shipment's policy would choose."""
        shipment = await self._repos.shipments.get(shipment_id)
        if shipment is None or not can_see_shipment(principal, shipment):
            raise NotFound(f"no shipment {shipment_id}", field=("shipmentId",))
        quotes = await self._quotes(await self._request(shipment))
        policy = ShippingPolicy(shipment.shipping_policy or ShippingPolicy.CHEAPEST)
        chosen = choose_quote(quotes, policy, promised=shipment.promised_date) if quotes else None
        return shipment, quotes, chosen

    # --- ship --------------------------------------------------------------------------------------

    async def ship(
        self,
        principal: Principal,
        shipment_id: str,
        *,
        carrier: str | None = None,
        service: str | None = None,
        policy: ShippingPolicy | None = None,
    ) -> Shipment:
        """Buys the label outside the transaction (a remote call must not run inside one, which may
        retry), then consumes stock and records the label in one transaction; voids the label if that fails."""
        shipment = await self._repos.shipments.get(shipment_id)
        if shipment is None or not can_see_shipment(principal, shipment):  # no existence leak, as in fulfilment
            raise NotFound(f"no shipment {shipment_id}", field=("shipmentId",))
        principal.require_location(shipment.location_id)
        if shipment.held:
            raise IllegalShipmentTransition(f"shipment {shipment.number} belongs to an order that is on hold", field=("shipmentId",))
        transition(shipment.status, ShipmentStatus.SHIPPED)
        if service and not carrier:
            raise InvalidInput([FieldIssue(ErrorCode.INVALID_INPUT, "give the carrier of the service", ("carrier",))])
        request = await self._request(shipment)
        quotes = await self._quotes(request, carrier)
        if service:
            quote = next((q for q in quotes if q.service == service), None)
            if quote is None:
                raise InvalidInput([FieldIssue(ErrorCode.INVALID_INPUT, f"{carrier} does not offer {service} here", ("service",))])
        else:
            chosen_policy = policy or ShippingPolicy(shipment.shipping_policy or ShippingPolicy.CHEAPEST)
            quote = choose_quote(quotes, chosen_policy, promised=shipment.promised_date)
        adapter = self._carriers.get(quote.carrier)
        purchased = await adapter.buy_label(request, quote.service, idempotency_key=shipment.id)
        try:
            return await self._repos.mongo.transaction(lambda session: self._record_ship(session, principal, shipment, purchased))
        except Exception:
            await adapter.void_label(purchased.tracking_number)
            raise

    async def _record_ship(self, session: Session, principal: Principal, read: Shipment, purchased: PurchasedLabel) -> Shipment:
        unit = Unit(self._repos, session, ev.actor_of(principal), utcnow())
        before = await self._repos.shipments.get(read.id, session=session)
        if before is None or before.version != read.version:
            raise Conflict(f"shipment {read.number} changed while its label was bought; try again")
        label = label_of(purchased, unit.now)
        after = dataclasses.replace(
            before,
            status=transition(before.status, ShipmentStatus.SHIPPED),
            label=label,
            eta=label.estimated_delivery,
            status_at=unit.now,
            updated_at=unit.now,
            version=before.version + 1,
            extra={**before.extra, "shipped_at": unit.now},
        )
        await unit.hand_over(before, after, f"shipment {after.number} shipped")
        return after

    # --- tracking webhook --------------------------------------------------------------------------

    async def receive_tracking(self, carrier_code: str, body: bytes, signature: str | None) -> list[TrackingResult]:
        """Verifies the signature (HMAC, timestamp window, nonce never seen: app.services.signatures),
        then applies each event idempotently (by carrier event id) in one transaction: all or nothing."""
        adapter = self._carriers.get(carrier_code)
        secrets = self._secrets.get(adapter.code, ())
        if not secrets:
            raise SignatureError("missing")  # no secret configured: nothing can be verified
        await self._signatures.verify(f"carrier:{adapter.code}", secrets, signature, body)
        try:
            payload = json.loads(body)
        except (ValueError, UnicodeDecodeError) as exc:
            raise InvalidInput([FieldIssue(ErrorCode.INVALID_INPUT, "body is not JSON", ("body",))]) from exc
        if not isinstance(payload, dict):
            raise InvalidInput([FieldIssue(ErrorCode.INVALID_INPUT, "body must be a JSON object", ("body",))])
        updates = adapter.tracking_updates(payload)
        for n, update in enumerate(updates):
            if update.kind not in TrackingEventKind.__members__:
                raise InvalidInput([FieldIssue(ErrorCode.INVALID_INPUT, f"unknown event type {update.kind!r}", ("events", str(n), "type"))])

        async def work(session: Session) -> tuple[list[TrackingResult], list[str]]:
            now = utcnow()
            unit = Unit(self._repos, session, Actor(subject=f"carrier:{adapter.code}", role="CARRIER"), now)
            results = []
            arrived: list[str] = []  # returns this delivery moved to RECEIVED (fresh on every retry)
            for update in updates:
                event = TrackingEvent(
                    id=update.event_id,
                    kind=TrackingEventKind(update.kind),
                    occurred_at=update.occurred_at,
                    received_at=now,
                    description=update.description,
                    location=update.location,
                    estimated_delivery=update.estimated_delivery,
                )
                results.append(await self._apply(unit, update.tracking_number, event, arrived))
            await unit.commit()
            return results, arrived

        results, arrived = await self._repos.mongo.transaction(work)
        if arrived and self._returns is not None:
            await self._returns.after_commit(arrived)
        return results

    async def _apply(self, unit: Unit, tracking_number: str, event: TrackingEvent, arrived: list[str]) -> TrackingResult:
        shipments = self._repos.shipments
        updated = await shipments.add_tracking_event(tracking_number, event, session=unit.session)
        if updated is None:
            known = await shipments.by_tracking_number(tracking_number, session=unit.session)
            if known is None and self._returns is not None:
                # Not a shipment's: perhaps a return label's (return_tracking.py).
                scan = await self._returns.apply(unit.session, tracking_number, event, unit.actor, unit.now, unit.events)
                if scan is not None:
                    if scan.arrived_return_id is not None:
                        arrived.append(scan.arrived_return_id)
                    return TrackingResult(event.id, tracking_number, scan.outcome, scan.status)
            outcome = "DUPLICATE" if known else "UNKNOWN_TRACKING_NUMBER"
            return TrackingResult(event.id, tracking_number, outcome, known.status.value if known else None)
        unit.events.append(
            ev.shipment_event(
                "TrackingEventReceived",
                updated,
                unit.actor,
                unit.now,
                {"carrierEventId": event.id, "kind": event.kind.value, "occurredAt": event.occurred_at.isoformat(),
                 "trackingNumber": tracking_number, "location": event.location, "description": event.description},
            )
        )
        if updated.status not in SHIPPED_STATES:
            return TrackingResult(event.id, tracking_number, "APPLIED", updated.status.value)
        status, status_at = tracked_status(updated.tracking)
        eta = tracked_eta(updated.label.estimated_delivery if updated.label else updated.eta, updated.tracking, status)
        if status is updated.status and eta == updated.eta:
            return TrackingResult(event.id, tracking_number, "APPLIED", status.value)
        milestones = dict(updated.extra)
        if status is ShipmentStatus.DELIVERED and status_at:
            milestones["delivered_at"] = status_at
        after = dataclasses.replace(
            updated, status=status, status_at=status_at or updated.status_at, eta=eta,
            updated_at=unit.now, version=updated.version + 1, extra=milestones,
        )
        await unit.save_shipment(updated, after)
        if after.status is updated.status:  # only the ETA moved: tell subscribers anyway
            unit.events.append(ev.shipment_event("ShipmentEtaChanged", after, unit.actor, unit.now,
                                                 {"from": updated.eta.isoformat() if updated.eta else None, "to": eta.isoformat() if eta else None}))
        order = await unit.order(after.order_id)
        await unit.save_order(order, order)
        return TrackingResult(event.id, tracking_number, "APPLIED", status.value)
