"""Order actions taken from a case (editOrder, cancelOrder, holdOrder, requestReturn, issueRefund with a `caseId`): recorded on the
case's thread and on the order's timeline, inside the action's own transaction, so either both
the action and its record commit or neither does.

The record is one ACTION entry on the case (naming the order) and one `CaseActionRecorded` event
whose `order_id` is the order: it shows in the order's timeline and in the case's stream, each
pointing at the other. A case that the caller cannot see, that is closed, or that is about another
customer refuses the action (and nothing is written).
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime

from app.domain.cases import MAX_LINKS, CaseStatus, EntryKind, bump, case_event, new_entry, with_entry
from app.domain.errors import Conflict, NotFound
from app.domain.events import DomainEvent
from app.domain.orders import Order
from app.domain.principals import Principal, actor_of
from app.repositories.cases import CaseRepository
from app.repositories.database import Session
from app.services.case_access import can_see_case
from app.services.case_sla import CaseSla


class CaseActions:
    def __init__(self, *, cases: CaseRepository, sla: CaseSla):
        self._cases = cases
        self._sla = sla

    async def record(
        self, session: Session, principal: Principal, case_id: str, order: Order, *, action: str, summary: str, at: datetime,
        return_id: str | None = None,
    ) -> list[DomainEvent]:
        """Appends the ACTION entry (linking the order to the case if it was not) and returns the event
        to append with the action's own events."""
        case = await self._cases.get(case_id, session=session)
        if case is None or not can_see_case(principal, case):
            raise NotFound("no such case", field=("caseId",))
        if case.customer_id != order.customer_id:
            raise Conflict("the case is about another customer", field=("caseId",))
        if case.status is CaseStatus.CLOSED:
            raise Conflict("the case is closed; open a new one", field=("caseId",))
        actor = actor_of(principal)
        entry = new_entry(EntryKind.ACTION, summary, actor, at, from_customer=False, order_id=order.id, action=action)
        targets = await self._sla.targets(case.contact_channel, case.priority, session=session)
        after, _ = with_entry(case, entry, targets)
        links = after.links
        if order.id not in links.order_ids and len(links.order_ids) < MAX_LINKS:
            links = replace(links, order_ids=(*links.order_ids, order.id))
        if return_id is not None and return_id not in links.return_ids and len(links.return_ids) < MAX_LINKS:
            links = replace(links, return_ids=(*links.return_ids, return_id))
        after = replace(after, links=links)
        after = bump(after, at)
        if not await self._cases.append_entry(after, expected_version=case.version, session=session):
            raise Conflict(f"case {case.number} changed meanwhile; try again", field=("caseId",))
        payload = {"entryId": entry.id, "kind": EntryKind.ACTION.value, "action": action, "orderId": order.id,
                   "summary": summary, "internal": True}
        if return_id is not None:
            payload["returnId"] = return_id
        return [replace(case_event(after, "CaseActionRecorded", actor, at, payload), order_id=order.id, channel_id=order.channel_id)]
