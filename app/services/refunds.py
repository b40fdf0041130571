"""refundPreview and issueRefund: what a return gives back, appeasements, and exchange credit.

A refund takes three steps, so money that went back is never unrecorded:
1. One transaction re-reads the return and the order, computes, adds the refund to the order's
   tally under the ceilings of what was paid (`app.domain.payments.add`) under the order's version,
   and stores the refund PENDING (unique per return). Two refunds of one return, or of one order,
   write the same order document: MongoDB lets one commit and makes the other retry, which then
   re-reads and is refused (the return's PENDING refund collides on the unique index, or the
   ceiling is reached). The loser never reaches the provider.
2. After the commit, the provider refunds each payment share, with the refund id (and share) as
   its idempotency key.
3. A second short transaction settles it once (guarded on PENDING): ISSUED, with the return moved
   INSPECTED → REFUNDED and RefundIssued; or, if the provider refused, FAILED, with its amount
   released from the tally and RefundFailed (the return stays INSPECTED and may be refunded again).
If the process dies, or the settling fails, between 2 and 3, the refund stays PENDING: the
scheduler's tick (`complete_pending`) asks the provider again with the same key and settles it.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Awaitable, Callable
from dataclasses import replace
from datetime import datetime, timedelta

from app.domain.clock import utcnow
from app.domain.errors import Conflict, Forbidden, NotFound
from app.domain.events import Actor, DomainEvent
from app.domain.exchanges import Exchange
from app.domain.ids import new_id
from app.domain.money import Money
from app.domain.orders import Order
from app.domain.payment_providers import PaymentProviders, ProviderRequest
from app.domain.payments import MANUAL_PROVIDER, TallyEntry, add, refused_part, release, split_over_payments
from app.domain.principals import Principal, Role, actor_of
from app.domain.refunds import (
    DEFAULT_APPEASEMENT_LIMITS,
    AlreadyRefunded,
    AppeasementLimits,
    NotRefundable,
    PaymentFailed,
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
from app.services.case_actions import CaseActions
from app.services.return_policies import ReturnPolicyService
from app.services.return_queries import can_see_return
from app.services.returns import ReturnService

log = logging.getLogger("oms.refunds")

MAX_ATTEMPTS = 8
# A PENDING refund older than this was left behind (the issuing request settles it in well under it).
PENDING_GRACE = timedelta(minutes=1)
_BACKOFF_SECONDS = 0.005
# Who refunds a return: customer service anywhere, store staff at the counter that received it.
RETURN_REFUNDERS = (Role.ADMIN, Role.CSR, Role.STORE_STAFF)

_Work = Callable[[Session, str], Awaitable[Refund]]  # (session, refund id) → the PENDING refund, inside one transaction


class _OrderMoved(Exception):
    """The order's (or the return's) version moved between the read and the write: compute again."""


class _Refused(Exception):
    """The provider refused a share; the shares it accepted before it (if any) stay refunded."""

    def __init__(self, message: str, accepted: tuple[PaymentSplit, ...]):
        super().__init__(message)
        self.message = message
        self.accepted = accepted


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
        # Set by the container: records refunds issued from a customer service case (app/services/case_actions.py).
        self.case_actions: CaseActions | None = None

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

    async def issue(self, principal: Principal, request: RefundRequest, *, case_id: str | None = None) -> Refund:
        check_request(request).raise_if_any()
        if request.return_id is not None:
            ret = await self._visible_return(principal, request.return_id)
            if principal.role not in RETURN_REFUNDERS:
                raise Forbidden(f"role {principal.role} may not refund returns", field=("returnId",))
            if principal.role is Role.STORE_STAFF and not (ret.location_id and principal.can_work_location(ret.location_id)):
                raise Forbidden("store staff refund returns received at their store", field=("returnId",))
            check_refundable(ret)
            pending = await self._retrying(
                lambda session, refund_id: self._return_refund_in(session, principal, request, ret.id, refund_id, case_id=case_id)
            )
            return await self._complete_issued(pending, actor_of(principal))
        if principal.role not in (Role.ADMIN, Role.CSR):
            raise Forbidden("appeasements are granted by customer service", field=("orderId",))
        assert request.order_id is not None and request.amount_cents is not None
        check_appeasement_limit(principal.role.value, request.amount_cents, self.limits)
        await self._order(request.order_id)
        pending = await self._retrying(lambda session, refund_id: self._appeasement_in(session, principal, request, refund_id, case_id=case_id))
        return await self._complete_issued(pending, actor_of(principal))

    async def _complete_issued(self, pending: Refund, actor: Actor) -> Refund:
        """Steps 2 and 3 for the issuing request: the ISSUED refund, or PaymentFailed."""
        try:
            settled = await self._complete(pending, actor)
        except Exception:  # noqa: BLE001 - the provider may have paid: never a new refund id; the sweep completes it
            log.exception("completing a refund failed; the scheduler completes it", extra={"refund_id": pending.id})
            return pending
        if settled.status is RefundStatus.FAILED:
            raise PaymentFailed("the payment provider refused the refund; nothing was given back", field=("amountCents",))
        return settled

    async def complete_pending(self, refund_id: str, *, actor: Actor) -> Refund | None:
        """The scheduler's sweep: completes a PENDING refund left behind, with the same idempotency keys."""
        refund = await self._refunds.get(refund_id)
        if refund is None or refund.status is not RefundStatus.PENDING:
            return None
        return await self._complete(refund, actor)

    async def _complete(self, pending: Refund, actor: Actor) -> Refund:
        """Asks the provider (step 2), then settles the refund once (step 3). Whoever settles first
        wins; a second completer (the request and the sweep at once) gets the settled refund."""
        try:
            splits = await self._pay_back(pending)
        except _Refused as refused:
            message = refused.message
            if refused.accepted:  # money went back through those payments: it stays refunded
                paid = sum(split.amount.cents for split in refused.accepted)
                currency = pending.amount.currency
                partly = replace(
                    pending,
                    status=RefundStatus.PARTIALLY_ISSUED,
                    splits=refused.accepted,
                    amount=Money(paid, currency),
                    refused=Money(pending.amount.cents - paid, currency),
                )
                return await self._mongo.transaction(lambda session: self._settle_issued(session, partly, actor, message))
            failed = replace(pending, status=RefundStatus.FAILED)
            return await self._mongo.transaction(lambda session: self._settle_failed(session, failed, actor, message))
        issued = replace(pending, status=RefundStatus.ISSUED, splits=splits)
        return await self._mongo.transaction(lambda session: self._settle_issued(session, issued, actor))

    async def _settle_issued(self, session: Session, refund: Refund, actor: Actor, refused_message: str | None = None) -> Refund:
        """ISSUED, or PARTIALLY_ISSUED with the refused part released from the order's tally. Either
        way money went back, so the return is REFUNDED (the rest is settled another way, if at all)."""
        at = utcnow()
        current = await self._refunds.get(refund.id, session=session)
        if current is None or current.status is not RefundStatus.PENDING:
            return current or refund
        extra: dict[str, object]
        if refund.return_id is not None:
            ret = await self._return_service.mark_refunded(session, refund.return_id, refund_id=refund.id, actor=actor, at=at)
            extra = {"returnNumber": ret.number}
        else:
            extra = {"limitCents": self.limits.for_role(refund.created_by_role)}
        if refund.status is RefundStatus.PARTIALLY_ISSUED and refund.tally_entry is not None and refund.refused is not None:
            accepted = frozenset(split.payment_index for split in refund.splits)
            await self._release(session, refund.order_id, refused_part(refund.tally_entry, accepted), at, whole=False)
            extra |= {"refusedCents": refund.refused.cents, "message": refused_message or ""}
        if not await self._refunds.settle(refund, at=at, session=session):
            raise Conflict("the refund was settled meanwhile; try again")
        event = "RefundPartiallyIssued" if refund.status is RefundStatus.PARTIALLY_ISSUED else "RefundIssued"
        await self._events.append([_refund_event(event, refund, actor, at, extra)], session=session)
        return refund

    async def _release(self, session: Session, order_id: str, entry: TallyEntry, at: datetime, *, whole: bool) -> None:
        order = await self._order(order_id, session=session)
        tally = release(order.refund_tally, entry, whole=whole)
        if not await self._refunds.record_tally(order.id, tally, expected_version=order.version, at=at, session=session):
            raise Conflict(f"order {order.external_id} changed meanwhile; try again")

    async def _settle_failed(self, session: Session, refund: Refund, actor: Actor, message: str) -> Refund:
        at = utcnow()
        current = await self._refunds.get(refund.id, session=session)
        if current is None or current.status is not RefundStatus.PENDING:
            return current or refund
        if refund.tally_entry is not None:
            await self._release(session, refund.order_id, refund.tally_entry, at, whole=True)
        if not await self._refunds.settle(refund, at=at, session=session):
            raise Conflict("the refund was settled meanwhile; try again")
        await self._events.append([_refund_event("RefundFailed", refund, actor, at, {"message": message})], session=session)
        return refund

    async def _retrying(self, work: _Work) -> Refund:
        refund_id = new_id()  # the provider's idempotency key: the same on every retry
        for attempt in range(MAX_ATTEMPTS):
            try:
                return await self._mongo.transaction(lambda session: work(session, refund_id))
            except _OrderMoved:
                await asyncio.sleep(random.uniform(0, _BACKOFF_SECONDS * 2**attempt))  # noqa: S311
        raise Conflict("the refund could not be recorded under contention; try again")

    async def _return_refund_in(
        self, session: Session, principal: Principal, request: RefundRequest, return_id: str, refund_id: str, *, case_id: str | None = None
    ) -> Refund:
        at = utcnow()
        ret = await self._returns.get(return_id, session=session)
        if ret is None:
            raise NotFound("no such return", field=("returnId",))
        check_refundable(ret)
        if await self._refunds.refunded_return(ret.id, session=session):  # PENDING: the return moves once it is ISSUED
            raise AlreadyRefunded(f"return {ret.number} was refunded already", field=("returnId",))
        order = await self._order(ret.order_id, session=session)
        exchange = await self._exchanges.for_return(ret.id, session=session)
        computed = await self._compute(order, ret, exchange, session=session)
        check_partial(computed, request)
        if request.amount_cents is not None:
            computed = partial(computed, request.amount_cents)
        if computed.total.cents <= 0:
            raise NotRefundable(f"return {ret.number} gives nothing back; close it instead", field=("returnId",))
        entry = await self._take(session, order, computed.entry, at)
        refund = Refund(
            id=refund_id,
            order_id=order.id,
            customer_id=order.customer_id,
            channel_id=order.channel_id,
            kind=RefundKind.RETURN,
            amount=computed.total,
            lines=computed.lines,
            splits=_planned(order, entry),
            status=RefundStatus.PENDING,
            created_at=at,
            created_by=principal.subject,
            created_by_role=principal.role.value,
            return_id=ret.id,
            exchange_id=exchange.id if exchange and exchange.active else None,
            reason=(request.reason or "").strip() or None,
            location_id=ret.location_id,
            tally_entry=entry,
        )
        await self._refunds.insert(refund, session=session)
        if not await self._return_service.hold_for_refund(session, ret, at):
            raise _OrderMoved(ret.id)
        await self._record_case(session, principal, case_id, order, refund, at, return_id=ret.id)
        return refund

    async def _appeasement_in(
        self, session: Session, principal: Principal, request: RefundRequest, refund_id: str, *, case_id: str | None = None
    ) -> Refund:
        assert request.order_id is not None and request.amount_cents is not None
        at = utcnow()
        order = await self._order(request.order_id, session=session)
        reason = (request.reason or "").strip()
        computed = appeasement(order, request.amount_cents, reason)
        entry = await self._take(session, order, computed.entry, at)
        refund = Refund(
            id=refund_id,
            order_id=order.id,
            customer_id=order.customer_id,
            channel_id=order.channel_id,
            kind=RefundKind.APPEASEMENT,
            amount=computed.total,
            lines=computed.lines,
            splits=_planned(order, entry),
            status=RefundStatus.PENDING,
            created_at=at,
            created_by=principal.subject,
            created_by_role=principal.role.value,
            reason=reason,
            tally_entry=entry,
        )
        await self._refunds.insert(refund, session=session)
        await self._record_case(session, principal, case_id, order, refund, at)
        return refund

    async def _record_case(
        self, session: Session, principal: Principal, case_id: str | None, order: Order, refund: Refund, at: datetime,
        *, return_id: str | None = None,
    ) -> None:
        """A refund issued from a customer service case: its record on the case and the order's timeline."""
        if case_id is None or self.case_actions is None:
            return
        summary = f"issueRefund: {refund.kind.value} {refund.amount.cents / 100:.2f} {refund.amount.currency}"
        events = await self.case_actions.record(session, principal, case_id, order, action="issueRefund", summary=summary, at=at, return_id=return_id)
        await self._events.append(events, session=session)

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
            tally_entry=entry,
        )
        # Not `return_id`: the return's own refund (the difference, or the rest) may still follow.
        await self._store(session, refund, actor, extra={"returnId": ret.id, "replacementOrderId": exchange.replacement_order_id})
        return refund

    async def reverse_exchange_credit(self, session: Session, exchange: Exchange, *, actor: Actor, at: datetime) -> DomainEvent | None:
        """Inside the transaction that withdraws a placed exchange: its credit leaves the original
        order's tally (it may be refunded again) and its record is REVERSED. The event, or None."""
        credit = await self._refunds.exchange_credit(exchange.id, session=session)
        if credit is None:
            return None
        by_line = exchange.credit_by_order_line()
        entry = credit.tally_entry or TallyEntry(total_cents=credit.amount.cents, lines=tuple(sorted(by_line.items())), credit=True)
        await self._release(session, credit.order_id, replace(entry, credit=True), at, whole=True)
        if not await self._refunds.reverse(credit.id, at=at, session=session):
            raise Conflict("the exchange credit changed meanwhile; try again")
        return _refund_event("ExchangeCreditReversed", replace(credit, status=RefundStatus.REVERSED), actor, at, {"exchangeId": exchange.id})

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

    async def _take(self, session: Session, order: Order, entry: TallyEntry, at: datetime) -> TallyEntry:
        """Adds the refund to the order's tally (RefundExceedsPaid past a ceiling) and stores it under
        the order's version; returns the entry with how it splits over the order's payments."""
        splits = split_over_payments(order.payments, order.refund_tally, entry.total_cents)
        entry = replace(entry, payments=splits)
        tally = add(order.refund_tally, entry, ceilings(order))
        if not await self._refunds.record_tally(order.id, tally, expected_version=order.version, at=at, session=session):
            raise _OrderMoved(order.id)
        return entry

    async def _pay_back(self, refund: Refund) -> tuple[PaymentSplit, ...]:
        """Each share back through its payment's provider; the keys are the same on every attempt."""
        done: list[PaymentSplit] = []
        for split in refund.splits:
            result = await self._providers.get(split.provider).refund(
                ProviderRequest(
                    provider=split.provider,
                    payment_reference=split.reference,
                    amount=split.amount,
                    idempotency_key=f"{refund.id}-{split.payment_index if split.payment_index >= 0 else 'manual'}",
                    reason=refund.reason,
                )
            )
            if not result.accepted:
                raise _Refused(f"{split.provider} refused the refund: {result.message or 'no reason given'}", tuple(done))
            done.append(replace(split, provider_refund_id=result.provider_reference))
        return tuple(done)

    async def _store(self, session: Session, refund: Refund, actor: Actor, *, extra: dict[str, object]) -> None:
        await self._refunds.insert(refund, session=session)
        await self._events.append([_refund_event("RefundIssued", refund, actor, refund.created_at, extra)], session=session)

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


def _planned(order: Order, entry: TallyEntry) -> tuple[PaymentSplit, ...]:
    """The shares a refund will pay back, before the provider has them (MANUAL without payments)."""
    currency = order.totals.total.currency
    planned: list[PaymentSplit] = []
    for index, cents in entry.payments:
        payment = order.payments[index] if index >= 0 else None
        provider = payment.provider if payment else MANUAL_PROVIDER
        planned.append(PaymentSplit(index, provider, payment.reference if payment else None, Money(cents, currency)))
    return tuple(planned)


def _refund_event(kind: str, refund: Refund, actor: Actor, at: datetime, extra: dict[str, object]) -> DomainEvent:
    return DomainEvent(
        id=new_id(),
        type=kind,
        aggregate_type="Refund",
        aggregate_id=refund.id,
        at=at,
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
