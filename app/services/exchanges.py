"""requestExchange: replacement goods for a return, ordered through the normal capture path.

Placing a replacement is two steps, each safe to repeat:
1. `OrderCaptureService.capture` of the replacement on the same channel and customer, under the
   external id `EX-<return number>` (idempotent: a repeat returns the same order), routed by the
   DOM and reserved like any order; the returned goods' value rides on it as an EXCHANGE_CREDIT
   payment;
2. one transaction that links both ways (the exchange names the replacement order, which names the
   return), records the credit against the original order under the refund ceilings
   (`RefundService.record_exchange_credit`), charges a positive price difference (provider call
   last, idempotency key: the exchange id) and appends ExchangeRequested / ExchangePlaced.
EXCHANGE_ON_REQUEST places at once; EXCHANGE_ON_RECEIPT stores the exchange PENDING and places it
when the return arrives (`place_for_return`, called after receiving commits). A replacement whose
step 2 is refused (the credit no longer fits) is cancelled again, so its stock is given back.
"""

from __future__ import annotations

import logging
from dataclasses import replace
from datetime import datetime

from app.domain.clock import utcnow
from app.domain.errors import Conflict, DomainError, Forbidden, NotFound
from app.domain.events import Actor, DomainEvent
from app.domain.exchanges import (
    Charge,
    Exchange,
    ExchangeNotPossible,
    ExchangeRequest,
    ExchangeStatus,
    Settlement,
    check_exchangeable,
    ended_with_return,
    places_now,
    plan_lines,
    replacement_external_id,
    validate_request,
)
from app.domain.ids import new_id
from app.domain.order_capture import CaptureRequest, CustomerDetails, DeliveryRequest, LineRequest, Replacement
from app.domain.orders import IllegalTransition, Order, OrderStatus, bump
from app.domain.payment_providers import PaymentProviders, ProviderRequest
from app.domain.payments import (
    EXCHANGE_CREDIT_PROVIDER,
    MANUAL_PROVIDER,
    Payment,
    PaymentMethod,
    TallyEntry,
    add,
)
from app.domain.principals import SYSTEM, Principal, Role, actor_of
from app.domain.refunds import ceilings
from app.domain.returns import Return
from app.repositories.database import Mongo, Session
from app.repositories.events import EventRepository
from app.repositories.exchanges import ExchangeRepository
from app.repositories.orders import OrderRepository
from app.repositories.products import ProductRepository
from app.repositories.returns import ReturnRepository
from app.services.order_capture import OrderCaptureService
from app.services.order_lifecycle import OrderLifecycleService
from app.services.refunds import RefundService
from app.services.return_policies import ReturnPolicyService
from app.services.return_queries import can_see_return

log = logging.getLogger("oms.exchanges")

# Who may ask for replacement goods: whoever may start a return (store staff at the return's store).
REQUESTERS = (Role.ADMIN, Role.CSR, Role.CUSTOMER, Role.CHANNEL, Role.STORE_STAFF)


class ExchangeService:
    def __init__(
        self,
        *,
        mongo: Mongo,
        exchanges: ExchangeRepository,
        returns: ReturnRepository,
        orders: OrderRepository,
        products: ProductRepository,
        policies: ReturnPolicyService,
        capture: OrderCaptureService,
        lifecycle: OrderLifecycleService,
        refunds: RefundService,
        events: EventRepository,
        providers: PaymentProviders,
    ):
        self._mongo = mongo
        self._exchanges = exchanges
        self._returns = returns
        self._orders = orders
        self._products = products
        self._policies = policies
        self._capture = capture
        self._lifecycle = lifecycle
        self._refunds = refunds
        self._events = events
        self._providers = providers

    # --- reads -------------------------------------------------------------------------------------------

    async def by_ids(self, principal: Principal, ids: list[str]) -> list[Exchange]:
        found = await self._exchanges.by_ids(ids)
        visible = await self._visible_returns(principal, [e.return_id for e in found])
        return [e for e in found if e.return_id in visible]

    async def for_returns(self, principal: Principal, return_ids: list[str]) -> dict[str, Exchange]:
        found = await self._exchanges.for_returns(return_ids)
        visible = await self._visible_returns(principal, list(found))
        return {return_id: e for return_id, e in found.items() if return_id in visible}

    async def _visible_returns(self, principal: Principal, return_ids: list[str]) -> set[str]:
        """An exchange is seen by whoever may see its return."""
        if not return_ids:
            return set()
        return {r.id for r in await self._returns.by_ids(return_ids) if can_see_return(principal, r)}

    async def for_replacement_orders(self, principal: Principal, order_ids: list[str]) -> dict[str, Exchange]:
        """The exchange each replacement order came from (the order side of the link)."""
        found = await self._exchanges.by_replacement_orders(order_ids)
        visible = await self._visible_returns(principal, [e.return_id for e in found.values()])
        return {order_id: e for order_id, e in found.items() if e.return_id in visible}

    # --- requestExchange ---------------------------------------------------------------------------------

    async def request(self, principal: Principal, request: ExchangeRequest) -> Exchange:
        validate_request(request).raise_if_any()
        ret = await self._returns.get(request.return_id)
        if ret is None or not can_see_return(principal, ret):
            raise NotFound("no such return", field=("returnId",))
        if principal.role not in REQUESTERS:
            raise Forbidden(f"role {principal.role} may not ask for exchanges", field=("returnId",))
        check_exchangeable(ret)
        order = await self._original(ret)
        products = {p.sku: p for p in await self._products.by_skus(sorted({line.sku.strip() for line in request.lines}))}
        check = validate_request(request)
        lines = plan_lines(check, request, order, ret, products)
        check.raise_if_any()
        existing = await self._exchanges.for_return(ret.id)
        if existing is not None:
            if existing.status is ExchangeStatus.PENDING and places_now(existing.mode, ret):
                # Its placement after the receipt failed (e.g. no stock then): asking again retries it.
                return await self._place(principal, existing, ret, order, new=False)
            raise ExchangeNotPossible(f"return {ret.number} has an exchange already", field=("returnId",))
        mode = (await self._policies.policy_for(ret.channel_id)).policy.exchange_mode
        at = utcnow()
        exchange = Exchange(
            id=new_id(),
            return_id=ret.id,
            order_id=order.id,
            customer_id=order.customer_id,
            channel_id=order.channel_id,
            mode=mode,
            status=ExchangeStatus.PENDING,
            lines=lines,
            created_at=at,
            updated_at=at,
            requested_by=principal.subject,
        )
        # Refused now rather than after a replacement was ordered: the credit must fit what was paid.
        add(order.refund_tally, _credit_entry(exchange), ceilings(order))
        if places_now(mode, ret):
            return await self._place(principal, exchange, ret, order, new=True)

        async def store(session: Session) -> Exchange:
            await self._exchanges.insert(exchange, session=session)
            await self._events.append([_event(exchange, "ExchangeRequested", actor_of(principal), at)], session=session)
            return exchange

        return await self._mongo.transaction(store)

    async def place_for_return(self, principal: Principal, return_id: str) -> Exchange | None:
        """EXCHANGE_ON_RECEIPT: once the return has arrived, its pending exchange is placed (the
        receiving flow calls this after it commits; repeating it is harmless)."""
        exchange = await self._exchanges.for_return(return_id)
        if exchange is None or exchange.status is not ExchangeStatus.PENDING:
            return exchange
        ret = await self._returns.get(return_id)
        if ret is None or not places_now(exchange.mode, ret):
            return exchange
        return await self._place(principal, exchange, ret, await self._original(ret), new=False)

    async def end_with_return(self, session: Session, ret: Return, actor: Actor, at: datetime, reason: str | None) -> list[DomainEvent]:
        """Inside the transaction that cancels or rejects `ret`: its exchange is CANCELLED (guarded on
        its version) and the events returned for that transaction to append. A PENDING exchange held
        no credit. A PLACED one is withdrawn: its replacement order is cancelled in the same
        transaction (refused with ILLEGAL_TRANSITION once it has shipped: the shopper has the goods, so
        the return must come back) and its credit leaves the original order's tally. A difference
        charged for the replacement stays on its payments (a cancellation never moves money)."""
        exchange = await self._exchanges.for_return(ret.id, session=session)
        ended = ended_with_return(exchange, ret, at) if exchange is not None else None
        if exchange is None or ended is None:
            return []
        events: list[DomainEvent] = []
        if exchange.status is ExchangeStatus.PLACED and exchange.replacement_order_id is not None:
            events += await self._withdraw_replacement(session, exchange, exchange.replacement_order_id, ret, actor, at)
        if not await self._exchanges.replace(ended, expected_version=exchange.version, session=session):
            raise Conflict("the exchange changed meanwhile; try again", field=("returnId",))
        event = _event(ended, "ExchangeCancelled", actor, at)
        return [*events, replace(event, reason=reason, payload={**event.payload, "returnStatus": ret.status.value})]

    async def _withdraw_replacement(
        self, session: Session, exchange: Exchange, replacement_id: str, ret: Return, actor: Actor, at: datetime
    ) -> list[DomainEvent]:
        replacement = await self._order_by_id(replacement_id, session=session)
        if replacement.status is not OrderStatus.CANCELLED:
            try:
                await self._lifecycle.cancel_in(session, SYSTEM, replacement.id, f"return {ret.number} withdrawn")
            except IllegalTransition as shipped:
                raise IllegalTransition(
                    f"the replacement order {replacement.external_id} is {replacement.status}: the shopper has the "
                    f"replacement, so return {ret.number} can no longer be withdrawn; receive it instead",
                    field=("returnId",),
                ) from shipped
        reversed_credit = await self._refunds.reverse_exchange_credit(session, exchange, actor=actor, at=at)
        return [reversed_credit] if reversed_credit is not None else []

    # --- placing ---------------------------------------------------------------------------------------

    async def _place(self, principal: Principal, exchange: Exchange, ret: Return, order: Order, *, new: bool) -> Exchange:
        captured = await self._capture.capture(
            principal,
            _replacement_request(exchange, ret, order),
            replacement=Replacement(return_id=ret.id, customer_id=order.customer_id, credit=_credit_payments(exchange, ret)),
        )
        replacement = captured.order
        actor = actor_of(principal)
        try:
            return await self._mongo.transaction(lambda session: self._link_in(session, exchange, ret, replacement, actor, new=new))
        except DomainError:
            await self._undo(replacement, exchange, replayed=captured.replayed)
            raise

    async def _link_in(self, session: Session, exchange: Exchange, ret: Return, replacement: Order, actor: Actor, *, new: bool) -> Exchange:
        at = utcnow()
        if new:
            stored = replace(exchange, replacement_order_id=replacement.id, status=ExchangeStatus.PLACED, placed_at=at, updated_at=at)
            await self._exchanges.insert(stored, session=session)
        else:
            current = await self._exchanges.get(exchange.id, session=session)
            if current is None or current.status is not ExchangeStatus.PENDING:
                raise ExchangeNotPossible("the exchange was placed or cancelled meanwhile", field=("returnId",))
            stored = replace(
                current, replacement_order_id=replacement.id, status=ExchangeStatus.PLACED, placed_at=at, updated_at=at,
                version=current.version + 1,
            )
            if not await self._exchanges.replace(stored, expected_version=current.version, session=session):
                raise Conflict("the exchange changed meanwhile; try again", field=("returnId",))
        await self._refunds.record_exchange_credit(session, stored, ret, actor=actor, at=at)
        if stored.settlement is Settlement.CHARGE:
            stored = await self._charge_in(session, stored, replacement, at)
        events = [_event(exchange, "ExchangeRequested", actor, at)] if new else []
        events.append(_event(stored, "ExchangePlaced", actor, at))
        await self._events.append(events, session=session)
        return stored

    async def _charge_in(self, session: Session, exchange: Exchange, replacement: Order, at: datetime) -> Exchange:
        """The replacement costs more: charge the difference through the original order's first
        payment (MANUAL when it had none), and add it to the replacement order's payments."""
        original = await self._order_by_id(exchange.order_id, session=session)
        payment = next((p for p in original.payments if p.method is not PaymentMethod.EXCHANGE_CREDIT), None)
        provider = payment.provider if payment else MANUAL_PROVIDER
        result = await self._providers.get(provider).charge(
            ProviderRequest(
                provider=provider,
                payment_reference=payment.reference if payment else None,
                amount=exchange.difference,
                idempotency_key=exchange.id,
                reason=f"exchange for return of order {original.external_id}",
            )
        )
        if not result.accepted:
            raise Conflict(f"{provider} refused the charge of the price difference: {result.message or 'no reason given'}")
        charge = Charge(provider, payment.reference if payment else None, exchange.difference, result.provider_reference)
        charged = replace(exchange, charge=charge)
        if not await self._exchanges.replace(charged, expected_version=exchange.version, session=session):
            raise Conflict("the exchange changed meanwhile; try again", field=("returnId",))
        current = await self._order_by_id(replacement.id, session=session)
        paid = Payment(provider=provider, method=payment.method if payment else PaymentMethod.OTHER,
                       reference=result.provider_reference, amount=exchange.difference)
        updated = bump(replace(current, payments=(*current.payments, paid)), at)
        if not await self._orders.replace(updated, expected_version=current.version, session=session):
            raise Conflict("the replacement order changed meanwhile; try again")
        return charged

    async def _undo(self, replacement: Order, exchange: Exchange, *, replayed: bool) -> None:
        """Step 2 was refused: cancel the replacement this call ordered (never one another call linked)."""
        if replayed:
            return
        linked = await self._exchanges.for_return(exchange.return_id)
        if linked is not None and linked.replacement_order_id == replacement.id:
            return
        try:
            await self._lifecycle.cancel(SYSTEM, replacement.id, "exchange refused")
        except DomainError:
            log.warning("could not cancel replacement order %s of refused exchange", replacement.id, exc_info=True)

    async def _original(self, ret: Return) -> Order:
        return await self._order_by_id(ret.order_id)

    async def _order_by_id(self, order_id: str, *, session: Session | None = None) -> Order:
        order = await self._orders.by_id(order_id, session=session)
        if order is None:
            raise NotFound("no such order", field=("orderId",))
        return order


def _credit_entry(exchange: Exchange) -> TallyEntry:
    by_line = exchange.credit_by_order_line()
    return TallyEntry(total_cents=sum(by_line.values()), lines=tuple(sorted(by_line.items())), credit=True)


def _credit_payments(exchange: Exchange, ret: Return) -> tuple[Payment, ...]:
    applied = exchange.credit_applied
    if applied.cents <= 0:
        return ()
    return (Payment(provider=EXCHANGE_CREDIT_PROVIDER, method=PaymentMethod.EXCHANGE_CREDIT, reference=ret.number, amount=applied),)


def _replacement_request(exchange: Exchange, ret: Return, order: Order) -> CaptureRequest:
    """Same channel, customer and delivery as the original; the prices agreed when it was asked for;
    no shipping or tax (the returned goods' value covers what they covered)."""
    quantities: dict[str, tuple[int, int]] = {}
    for line in exchange.lines:
        held, price = quantities.get(line.sku, (0, line.unit_price.cents))
        quantities[line.sku] = (held + line.quantity, price)
    delivery = order.delivery
    return CaptureRequest(
        channel_id=order.channel_id,
        external_id=replacement_external_id(ret),
        customer=CustomerDetails(),
        lines=tuple(LineRequest(sku, quantity, price) for sku, (quantity, price) in quantities.items()),
        delivery=DeliveryRequest(
            method=delivery.method,
            address=delivery.address,
            point=delivery.point if delivery.pickup_location_id is None else None,
            pickup_location_id=delivery.pickup_location_id,
        ),
        notes=f"Exchange for return {ret.number}",
        currency=order.totals.total.currency,
    )


def _event(exchange: Exchange, kind: str, actor: Actor, at: datetime) -> DomainEvent:
    return DomainEvent(
        id=new_id(),
        type=kind,
        aggregate_type="Exchange",
        aggregate_id=exchange.id,
        at=at,
        actor=actor,
        payload={
            "returnId": exchange.return_id,
            "mode": exchange.mode.value,
            "exchangeStatus": exchange.status.value,
            "replacementOrderId": exchange.replacement_order_id,
            "settlement": exchange.settlement.value,
            "differenceCents": exchange.difference.cents,
            "creditCents": exchange.credit_applied.cents,
            "lines": [
                {"returnLineId": line.return_line_id, "returnedSku": line.returned_sku, "sku": line.sku, "quantity": line.quantity}
                for line in exchange.lines
            ],
        },
        order_id=exchange.order_id,
        customer_id=exchange.customer_id,
        channel_id=exchange.channel_id,
    )
