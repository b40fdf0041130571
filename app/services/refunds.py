"""refundPreview and issueRefund: what a return gives back, appeasements, and exchange credit.

One transaction per refund, in this order: re-read the return and the order; compute; add the
refund to the order's tally under the ceilings of what was paid (`app.domain.payments.add`) and
store it under the order's version; move the return INSPECTED → REFUNDED (ReturnService, guarded
on its version); then the provider refunds each payment share (idempotency key: the refund id,
the same on every retry of the transaction); then the refund document (unique per return) and its
events. Two refunds of one return, or of one order, write the same order document: MongoDB lets
one commit and makes the other retry, which then re-reads, finds the return REFUNDED (or the
ceiling reached) and is refused with a typed error. The loser never reaches the provider, because
the provider is called only after the contended writes.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable
from dataclasses import replace
from datetime import datetime

from app.domain.clock import utcnow
from app.domain.errors import Conflict, Forbidden, NotFound
from app.domain.events import Actor, DomainEvent
from app.domain.exchanges import Exchange
from app.domain.ids import new_id
from app.domain.money import Money
from app.domain.orders import Order
from app.domain.payment_providers import PaymentProviders, ProviderRequest
from app.domain.payments import MANUAL_PROVIDER, TallyEntry, add, split_over_payments
from app.domain.principals import Principal, Role, actor_of
from app.domain.refunds import (
    DEFAULT_APPEASEMENT_LIMITS,
    AppeasementLimits,
    NotRefundable,
    PaymentSplit,
    Refund,
    RefundComputation,
    RefundKind,
    RefundRequest,
    RefundStatus,
    appeasement,
    ceilings,
    check_appeasement_limit,
    check_partial,
    check_refundable,
    check_request,
    partial,
    return_refund,
)
from app.domain.returns import Return
from app.repositories.database import Mongo, Session
from app.repositories.events import EventRepository
from app.repositories.exchanges import ExchangeRepository
from app.repositories.orders import OrderRepository
from app.repositories.refunds import RefundRepository
from app.repositories.returns import ReturnRepository
from app.services.return_policies import ReturnPolicyService
from app.services.return_queries import can_see_return
from app.services.returns import ReturnService

MAX_ATTEMPTS = 8
_BACKOFF_SECONDS = 0.005
# Who refunds a return: customer service anywhere, store staff at the counter that received it.
RETURN_REFUNDERS = (Role.ADMIN, Role.CSR, Role.STORE_STAFF)

_Work = Callable[[Session, str], Awaitable[Refund]]  # (session, refund id) → the refund, inside one transaction


class _OrderMoved(Exception):
    """The order's version moved between the read and the tally write: compute again."""


class RefundService:
    def __init__(
        self,
        *,
        mongo: Mongo,
        refunds: RefundRepository,
        orders: OrderRepository,
        returns: ReturnRepository,
        exchanges: ExchangeRepository,
        return_service: ReturnService,
        policies: ReturnPolicyService,
        events: EventRepository,
        providers: PaymentProviders,
        limits: AppeasementLimits = DEFAULT_APPEASEMENT_LIMITS,
    ):
        self._mongo = mongo
        self._refunds = refunds
        self._orders = orders
        self._returns = returns
        self._exchanges = exchanges
        self._return_service = return_service
        self._policies = policies
        self._events = events
        self._providers = providers
        self.limits = limits

    # --- reads ---------------------------------------------------------------------------------------

    async def preview(self, principal: Principal, return_id: str) -> RefundComputation:
        """What issueRefund would give back for this return now (an estimate until it is inspected)."""
        ret = await self._visible_return(principal, return_id)
        order = await self._order(ret.order_id)
        exchange = await self._exchanges.for_return(ret.id)
        return await self._compute(order, ret, exchange)

    async def by_ids(self, principal: Principal, ids: list[str]) -> list[Refund]:
        return [r for r in await self._refunds.by_ids(ids) if self._can_see(principal, r)]

    async def for_orders(self, principal: Principal, order_ids: list[str]) -> dict[str, list[Refund]]:
        """Refunds of orders the caller may see the money of: staff of a location only see refunds
        of returns received there (they may have issued them)."""
        found = await self._refunds.for_orders(order_ids)
        return {order_id: [r for r in refunds if self._can_see(principal, r)] for order_id, refunds in found.items()}

    async def for_returns(self, principal: Principal, return_ids: list[str]) -> dict[str, Refund]:
        found = await self._refunds.for_returns(return_ids)
        return {return_id: r for return_id, r in found.items() if self._can_see(principal, r)}

    @staticmethod
    def _can_see(principal: Principal, refund: Refund) -> bool:
        if principal.role in (Role.STORE_STAFF, Role.WAREHOUSE):
            return refund.location_id is not None and refund.location_id in principal.location_ids
        return principal.can_see_order(customer_id=refund.customer_id, channel_id=refund.channel_id, location_ids=frozenset())

    # --- issueRefund -----------------------------------------------------------------------------------

    async def issue(self, principal: Principal, request: RefundRequest) -> Refund:
        check_request(request).raise_if_any()
        if request.return_id is not None:
            ret = await self._visible_return(principal, request.return_id)
            if principal.role not in RETURN_REFUNDERS:
                raise Forbidden(f"role {principal.role} may not refund returns", field=("returnId",))
            if principal.role is Role.STORE_STAFF and not (ret.location_id and principal.can_work_location(ret.location_id)):
                raise Forbidden("store staff refund returns received at their store", field=("returnId",))
            check_refundable(ret)
            return await self._retrying(lambda session, refund_id: self._return_refund_in(session, principal, request, ret.id, refund_id))
        if principal.role not in (Role.ADMIN, Role.CSR):
            raise Forbidden("appeasements are granted by customer service", field=("orderId",))
        assert request.order_id is not None and request.amount_cents is not None
        check_appeasement_limit(principal.role.value, request.amount_cents, self.limits)
        await self._order(request.order_id)
        return await self._retrying(lambda session, refund_id: self._appeasement_in(session, principal, request, refund_id))

    async def _retrying(self, work: _Work) -> Refund:
        refund_id = new_id()  # the provider's idempotency key: the same on every retry
        for attempt in range(MAX_ATTEMPTS):
            try:
                return await self._mongo.transaction(lambda session: work(session, refund_id))
            except _OrderMoved:
                await asyncio.sleep(random.uniform(0, _BACKOFF_SECONDS * 2**attempt))  # noqa: S311
        raise Conflict("the refund could not be recorded under contention; try again")

    async def _return_refund_in(self, session: Session, principal: Principal, request: RefundRequest, return_id: str, refund_id: str) -> Refund:
        at = utcnow()
        actor = actor_of(principal)
        ret = await self._returns.get(return_id, session=session)
        if ret is None:
            raise NotFound("no such return", field=("returnId",))
        check_refundable(ret)
        order = await self._order(ret.order_id, session=session)
        exchange = await self._exchanges.for_return(ret.id, session=session)
        computed = await self._compute(order, ret, exchange, session=session)
        check_partial(computed, request)
        if request.amount_cents is not None:
            computed = partial(computed, request.amount_cents)
        if computed.total.cents <= 0:
            raise NotRefundable(f"return {ret.number} gives nothing back; close it instead", field=("returnId",))
        splits = await self._take(session, order, computed.entry, at)
        await self._return_service.mark_refunded(session, ret.id, refund_id=refund_id, actor=actor, at=at)
        refund = Refund(
            id=refund_id,
            order_id=order.id,
            customer_id=order.customer_id,
            channel_id=order.channel_id,
            kind=RefundKind.RETURN,
            amount=computed.total,
            lines=computed.lines,
            splits=await self._pay_back(order, splits, refund_id, request.reason),
            status=RefundStatus.ISSUED,
            created_at=at,
            created_by=principal.subject,
            created_by_role=principal.role.value,
            return_id=ret.id,
            exchange_id=exchange.id if exchange and exchange.active else None,
            reason=(request.reason or "").strip() or None,
            location_id=ret.location_id,
        )
        await self._store(session, refund, actor, extra={"returnNumber": ret.number})
        return refund

    async def _appeasement_in(self, session: Session, principal: Principal, request: RefundRequest, refund_id: str) -> Refund:
        assert request.order_id is not None and request.amount_cents is not None
        at = utcnow()
        actor = actor_of(principal)
        order = await self._order(request.order_id, session=session)
        reason = (request.reason or "").strip()
        computed = appeasement(order, request.amount_cents, reason)
        splits = await self._take(session, order, computed.entry, at)
        refund = Refund(
            id=refund_id,
            order_id=order.id,
            customer_id=order.customer_id,
            channel_id=order.channel_id,
            kind=RefundKind.APPEASEMENT,
            amount=computed.total,
            lines=computed.lines,
            splits=await self._pay_back(order, splits, refund_id, reason),
            status=RefundStatus.ISSUED,
            created_at=at,
            created_by=principal.subject,
            created_by_role=principal.role.value,
            reason=reason,
        )
        await self._store(session, refund, actor, extra={"limitCents": self.limits.for_role(principal.role.value)})
        return refund

    # --- exchange credit (app/services/exchanges.py) --------------------------------------------------------

    async def record_exchange_credit(self, session: Session, exchange: Exchange, ret: Return, *, actor: Actor, at: datetime) -> Refund:
        """The returned goods' value applied to the replacement, recorded against the original order
        under the same ceilings as a refund, inside the exchange's transaction. No money moves."""
        order = await self._order(exchange.order_id, session=session)
        by_line = exchange.credit_by_order_line()
        entry = TallyEntry(total_cents=sum(by_line.values()), lines=tuple(sorted(by_line.items())), credit=True)
        tally = add(order.refund_tally, entry, ceilings(order))
        if not await self._refunds.record_tally(order.id, tally, expected_version=order.version, at=at, session=session):
            raise Conflict(f"order {order.external_id} changed meanwhile; try again", field=("returnId",))
        refund = Refund(
            id=new_id(),
            order_id=order.id,
            customer_id=order.customer_id,
            channel_id=order.channel_id,
            kind=RefundKind.EXCHANGE_CREDIT,
            amount=Money(entry.total_cents, exchange.currency),
            lines=(),
            splits=(),
            status=RefundStatus.ISSUED,
            created_at=at,
            created_by=actor.subject,
            created_by_role=actor.role,
            exchange_id=exchange.id,
            reason=f"exchange for return {ret.number}",
            location_id=ret.location_id,
        )
        # Not `return_id`: the return's own refund (the difference, or the rest) may still follow.
        await self._store(session, refund, actor, extra={"returnId": ret.id, "replacementOrderId": exchange.replacement_order_id})
        return refund

    # --- helpers -------------------------------------------------------------------------------------------

    async def _compute(self, order: Order, ret: Return, exchange: Exchange | None, *, session: Session | None = None) -> RefundComputation:
        policy = (await self._policies.policy_for(ret.channel_id, session=session)).policy
        exchange = exchange if exchange is not None and exchange.active else None  # a cancelled one replaces nothing
        return return_refund(
            order,
            ret,
            policy,
            exchanged=exchange.exchanged_units() if exchange else None,
            exchange_difference=exchange.refund_by_return_line() if exchange else None,
        )

    async def _take(self, session: Session, order: Order, entry: TallyEntry, at: datetime) -> tuple[tuple[int, int], ...]:
        """Adds the refund to the order's tally (RefundExceedsPaid past a ceiling) and stores it under
        the order's version; returns how it splits over the order's payments."""
        splits = split_over_payments(order.payments, order.refund_tally, entry.total_cents)
        tally = add(order.refund_tally, replace(entry, payments=splits), ceilings(order))
        if not await self._refunds.record_tally(order.id, tally, expected_version=order.version, at=at, session=session):
            raise _OrderMoved(order.id)
        return splits

    async def _pay_back(
        self, order: Order, splits: tuple[tuple[int, int], ...], refund_id: str, reason: str | None
    ) -> tuple[PaymentSplit, ...]:
        """Each share back through its payment's provider (MANUAL when the order has no payments)."""
        currency = order.totals.total.currency
        done: list[PaymentSplit] = []
        for index, cents in splits:
            payment = order.payments[index] if index >= 0 else None
            provider = payment.provider if payment else MANUAL_PROVIDER
            reference = payment.reference if payment else None
            result = await self._providers.get(provider).refund(
                ProviderRequest(
                    provider=provider,
                    payment_reference=reference,
                    amount=Money(cents, currency),
                    idempotency_key=f"{refund_id}-{index if index >= 0 else 'manual'}",
                    reason=reason,
                )
            )
            if not result.accepted:
                raise Conflict(f"{provider} refused the refund: {result.message or 'no reason given'}", field=("amountCents",))
            done.append(PaymentSplit(index, provider, reference, Money(cents, currency), result.provider_reference))
        return tuple(done)

    async def _store(self, session: Session, refund: Refund, actor: Actor, *, extra: dict[str, object]) -> None:
        await self._refunds.insert(refund, session=session)
        event = DomainEvent(
            id=new_id(),
            type="RefundIssued",
            aggregate_type="Refund",
            aggregate_id=refund.id,
            at=refund.created_at,
            actor=actor,
            # `refundStatus`, not `status`: order subscriptions read `status` as the order's status.
            payload={
                "kind": refund.kind.value,
                "amountCents": refund.amount.cents,
                "currency": refund.amount.currency,
                "refundStatus": refund.status.value,
                "returnId": refund.return_id,
                "exchangeId": refund.exchange_id,
                "splits": [
                    {"provider": s.provider, "amountCents": s.amount.cents, "providerRefundId": s.provider_refund_id}
                    for s in refund.splits
                ],
                **extra,
            },
            reason=refund.reason,
            order_id=refund.order_id,
            customer_id=refund.customer_id,
            channel_id=refund.channel_id,
        )
        await self._events.append([event], session=session)

    async def _visible_return(self, principal: Principal, return_id: str) -> Return:
        ret = await self._returns.get(return_id)
        if ret is None or not can_see_return(principal, ret):
            raise NotFound("no such return", field=("returnId",))
        return ret

    async def _order(self, order_id: str, *, session: Session | None = None) -> Order:
        order = await self._orders.by_id(order_id, session=session)
        if order is None:
            raise NotFound("no such order", field=("orderId",))
        return order
