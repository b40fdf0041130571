"""Who sees which case, and which of its entries: one home for the rules every case service applies."""

from __future__ import annotations

import dataclasses

from app.domain.cases import Case, CaseFilter
from app.domain.errors import Forbidden
from app.domain.principals import Principal, Role

# Roles that work cases: they see internal notes and order actions.
STAFF = (Role.ADMIN, Role.CSR, Role.STORE_STAFF)
QUEUE_WORKERS = (Role.ADMIN, Role.CSR)


def can_see_case(principal: Principal, case: Case) -> bool:
    """CSRs and admins see every case; store staff those opened at their stores; a customer their own;
    a channel integration those on its channel."""
    match principal.role:
        case Role.ADMIN | Role.CSR:
            return True
        case Role.STORE_STAFF:
            return case.location_id is not None and case.location_id in principal.location_ids
        case Role.CUSTOMER:
            return principal.customer_id is not None and case.customer_id == principal.customer_id
        case Role.CHANNEL:
            return principal.channel_id is not None and case.channel_id == principal.channel_id
    return False


def sees_internal(principal: Principal) -> bool:
    return principal.role in STAFF


def scoped_filter(principal: Principal, selection: CaseFilter) -> CaseFilter:
    """AND the caller's scope into a filter: it can only narrow a selection."""
    match principal.role:
        case Role.ADMIN | Role.CSR:
            return selection
        case Role.STORE_STAFF:
            wanted = set(selection.location_ids) or set(principal.location_ids)
            if not principal.location_ids or not wanted <= principal.location_ids:
                raise Forbidden("store staff only list cases opened at their stores", field=("filter", "locations"))
            return dataclasses.replace(selection, location_ids=tuple(sorted(wanted)))
        case Role.CUSTOMER:
            if principal.customer_id is None or selection.customer_id not in (None, principal.customer_id):
                raise Forbidden("customers may only list their own cases", field=("filter", "customerId"))
            return dataclasses.replace(selection, customer_id=principal.customer_id, visible_text_only=True)
        case Role.CHANNEL:
            if principal.channel_id is None or (selection.channel_ids and set(selection.channel_ids) != {principal.channel_id}):
                raise Forbidden("a channel may only list its own cases", field=("filter", "channels"))
            return dataclasses.replace(selection, channel_ids=(principal.channel_id,), visible_text_only=True)
    raise Forbidden("not allowed to list cases")


def for_caller(principal: Principal, case: Case) -> Case:
    """The case as this caller may read it: CUSTOMER and CHANNEL callers get customer-visible entries only."""
    if sees_internal(principal):
        return case
    return dataclasses.replace(case, entries=case.visible_entries(internal=False))
