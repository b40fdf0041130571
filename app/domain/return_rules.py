"""Return rules: what may still be returned, request and receipt validation, and the pure steps that
build a return and record a receipt. The model lives in app.domain.returns."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from app.domain.errors import Validator
from app.domain.inventory import MAX_UNITS
from app.domain.orders import AllocationStatus, Order, OrderStatus
from app.domain.returns import (
    COUNTS_AGAINST_ORDER,
    HANDED_OVER,
    MAX_CLIENT_KEY,
    MAX_NOTE,
    MAX_RETURN_LINES,
    Disposition,
    LineStockEffect,
    NotDelivered,
    ReceivedLine,
    Return,
    ReturnLine,
    ReturnMethod,
    ReturnPolicy,
    ReturnQuantityExceeded,
    ReturnRequest,
    ReturnStatus,
    ReturnWindowClosed,
    default_disposition,
)
from app.domain.shipments import Shipment


def request_hash(request: ReturnRequest) -> str:
    """SHA-256 of the canonical request: a replay under the same client key has the same hash."""
    body: dict[str, Any] = {
        "order_id": request.order_id,
        "client_key": request.client_key,
        "method": request.method.value,
        "location_id": request.location_id,
        "lines": sorted(
            (
                {
                    "order_line_id": line.order_line_id,
                    "quantity": line.quantity,
                    "reason": line.reason.value,
                    "note": line.note,
                    "disposition": line.disposition.value if line.disposition else None,
                    "disposition_note": line.disposition_note,
                }
                for line in request.lines
            ),
            key=lambda item: str(item["order_line_id"]),
        ),
    }
    return hashlib.sha256(json.dumps(body, sort_keys=True, separators=(",", ":")).encode()).hexdigest()



# --- what may still be returned ------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class DeliveredUnits:
    """Units of one order line handed to the shopper by one shipment, and when."""

    order_line_id: str
    quantity: int
    delivered_at: datetime


@dataclass(frozen=True, slots=True)
class Returnable:
    """Per order line: delivered in total, delivered within the window, already returned, still returnable."""

    order_line_id: str
    delivered: int
    delivered_in_window: int
    returned: int

    @property
    def remaining(self) -> int:
        return max(0, self.delivered_in_window - self.returned)




def returned_quantities(returns: list[Return] | tuple[Return, ...]) -> dict[str, int]:
    """Units per order line already taken by live returns (received quantity once known)."""
    counts: dict[str, int] = {}
    for ret in returns:
        if ret.status not in COUNTS_AGAINST_ORDER:
            continue
        for line in ret.lines:
            counts[line.order_line_id] = counts.get(line.order_line_id, 0) + line.counted_quantity
    return counts


def returnable(
    order_line_id: str,
    delivered: list[DeliveredUnits] | tuple[DeliveredUnits, ...],
    returned: int,
    *,
    window_days: int,
    now: datetime,
) -> Returnable:
    """Units delivered within the window minus units already returned (oldest deliveries are returned first,
    so a return never uses up the in-window units of a later delivery before the older ones)."""
    mine = [d for d in delivered if d.order_line_id == order_line_id]
    total = sum(d.quantity for d in mine)
    in_window = sum(d.quantity for d in mine if (now - d.delivered_at).total_seconds() <= window_days * 86_400)
    out_of_window = total - in_window
    # Returns already made count against the out-of-window units first: they were returnable then.
    returned_from_window = max(0, returned - out_of_window)
    return Returnable(order_line_id, total, in_window, returned_from_window)


def delivered_units(order: Order, shipments: list[Shipment] | tuple[Shipment, ...]) -> list[DeliveredUnits]:
    """What the shopper has in hand: lines of delivered or picked-up shipments, with when.

    An order with no shipment documents at all that is DELIVERED or PICKED_UP (history imported from
    another system) counts its FULFILLED allocations as handed over when the order last changed."""
    if not shipments and order.status in (OrderStatus.DELIVERED, OrderStatus.PICKED_UP):
        return [
            DeliveredUnits(order_line_id=a.line_id, quantity=a.quantity, delivered_at=order.updated_at)
            for a in order.allocations
            if a.status is AllocationStatus.FULFILLED
        ]
    found: list[DeliveredUnits] = []
    for shipment in shipments:
        if shipment.status not in HANDED_OVER:
            continue
        at = shipment.extra.get("delivered_at") or shipment.extra.get("picked_up_at") or shipment.status_at or shipment.updated_at
        for line in shipment.lines:
            quantity = line.picked_quantity if line.picked_quantity is not None else line.quantity
            if quantity > 0:
                found.append(DeliveredUnits(order_line_id=line.line_id, quantity=quantity, delivered_at=at))
    return found


# --- validation ----------------------------------------------------------------------------------


def _text_ok(check: Validator, value: str | None, limit: int, *field_path: str | int) -> None:
    if value is not None:
        check.check(len(value) <= limit, f"at most {limit} characters", *field_path)


def validate_request(request: ReturnRequest) -> Validator:
    """Shape only (no database): the caller adds reference problems and raises."""
    check = Validator()
    key = request.client_key.strip()
    check.check(0 < len(key) <= MAX_CLIENT_KEY, f"clientKey must be 1 to {MAX_CLIENT_KEY} characters", "clientKey")
    if not check.check(0 < len(request.lines) <= MAX_RETURN_LINES, f"give 1 to {MAX_RETURN_LINES} lines", "lines"):
        return check
    seen: set[str] = set()
    for i, line in enumerate(request.lines):
        check.check(line.order_line_id not in seen, f"order line {line.order_line_id} is listed twice", "lines", i, "orderLineId")
        seen.add(line.order_line_id)
        check.check(0 < line.quantity <= MAX_UNITS, f"quantity must be between 1 and {MAX_UNITS}", "lines", i, "quantity")
        _text_ok(check, line.note, MAX_NOTE, "lines", i, "note")
        _text_ok(check, line.disposition_note, MAX_NOTE, "lines", i, "dispositionNote")
        if line.disposition is not None or line.disposition_note is not None:
            check.check(
                request.method is ReturnMethod.IN_STORE,
                "a disposition is given where the goods are inspected: at a store counter, or on receipt",
                "lines", i, "disposition",
            )
        if line.disposition is Disposition.DAMAGED:
            check.check(bool((line.disposition_note or "").strip()), "a damaged line needs the write-off reason", "lines", i, "dispositionNote")
    return check


def validate_receipt(ret: Return, received: list[ReceivedLine] | tuple[ReceivedLine, ...], policy: ReturnPolicy) -> Validator:
    """Every line of the return exactly once, quantities within what was authorized, dispositions where the
    policy wants someone to decide, and a reason for every write-off."""
    check = Validator()
    if not check.check(0 < len(received) <= MAX_RETURN_LINES, f"give 1 to {MAX_RETURN_LINES} lines", "lines"):
        return check
    seen: set[str] = set()
    for i, item in enumerate(received):
        line = ret.line(item.return_line_id)
        if not check.check(line is not None, f"return {ret.number} has no line {item.return_line_id}", "lines", i, "returnLineId"):
            continue
        assert line is not None
        check.check(item.return_line_id not in seen, f"line {item.return_line_id} is listed twice", "lines", i, "returnLineId")
        seen.add(item.return_line_id)
        check.check(
            0 <= item.quantity <= line.quantity,
            f"received quantity must be between 0 and the {line.quantity} authorized",
            "lines", i, "quantity",
        )
        _text_ok(check, item.note, MAX_NOTE, "lines", i, "note")
        disposition = item.disposition or default_disposition(line, policy)
        if item.quantity > 0:
            check.check(
                disposition is not None,
                f"{line.reason} returns need a disposition from whoever inspects them",
                "lines", i, "disposition",
            )
        if disposition is Disposition.DAMAGED and item.quantity > 0:
            check.check(bool((item.note or "").strip()), "a damaged line needs the write-off reason", "lines", i, "note")
    missing = [line.id for line in ret.lines if line.id not in seen]
    check.check(not missing, f"every line must be accounted for (missing: {', '.join(missing)}); give 0 for what did not arrive", "lines")
    return check


def check_returnable(
    order: Order,
    request: ReturnRequest,
    delivered: list[DeliveredUnits],
    existing: list[Return] | tuple[Return, ...],
    policy: ReturnPolicy,
    now: datetime,
) -> None:
    """The per-line rules, in the order a shopper would want to hear them. Raises the first refusal."""
    returned = returned_quantities(existing)
    check = Validator()
    for i, item in enumerate(request.lines):
        check.check(order.line(item.order_line_id) is not None, f"order {order.external_id} has no line {item.order_line_id}", "lines", i, "orderLineId")
    check.raise_if_any()
    for i, item in enumerate(request.lines):
        where = ("lines", str(i), "quantity")
        state = returnable(item.order_line_id, delivered, returned.get(item.order_line_id, 0), window_days=policy.window_days, now=now)
        if state.delivered == 0:
            raise NotDelivered(f"line {item.order_line_id} of order {order.external_id} has not been delivered yet", field=where)
        if state.delivered_in_window == 0:
            raise ReturnWindowClosed(
                f"line {item.order_line_id} was delivered more than {policy.window_days} days ago (the {order.channel_id} return window)",
                field=where,
            )
        if item.quantity > state.remaining:
            raise ReturnQuantityExceeded(
                f"line {item.order_line_id}: {item.quantity} asked, {state.remaining} returnable "
                f"({state.delivered_in_window} delivered within the window, {state.returned} already returned)",
                field=where,
            )


def new_return(
    request: ReturnRequest,
    order: Order,
    *,
    return_id: str,
    sequence: int,
    requested_by: str,
    digest: str,
    at: datetime,
) -> Return:
    """The return as asked for (REQUESTED), lines priced at what the shopper paid."""
    lines = []
    for n, item in enumerate(request.lines, start=1):
        ordered = order.line(item.order_line_id)
        assert ordered is not None
        lines.append(
            ReturnLine(
                id=str(n),
                order_line_id=ordered.id,
                sku=ordered.sku,
                name=ordered.name,
                quantity=item.quantity,
                reason=item.reason,
                unit_price=ordered.unit_price,
                note=(item.note or "").strip() or None,
            )
        )
    return Return(
        id=return_id,
        number=f"R-{order.external_id}-{sequence}",
        order_id=order.id,
        customer_id=order.customer_id,
        channel_id=order.channel_id,
        client_key=request.client_key.strip(),
        sequence=sequence,
        method=request.method,
        status=ReturnStatus.REQUESTED,
        lines=tuple(lines),
        created_at=at,
        updated_at=at,
        requested_by=requested_by,
        input_hash=digest,
    )


def receive_lines(
    ret: Return, received: list[ReceivedLine] | tuple[ReceivedLine, ...], policy: ReturnPolicy
) -> tuple[Return, list[LineStockEffect]]:
    """The return with what arrived and its dispositions (status untouched), and the stock effects."""
    by_line = {item.return_line_id: item for item in received}
    lines = []
    effects: list[LineStockEffect] = []
    for line in ret.lines:
        item = by_line[line.id]
        disposition = (item.disposition or default_disposition(line, policy)) if item.quantity > 0 else None
        note = (item.note or "").strip() or None
        lines.append(replace(line, received_quantity=item.quantity, disposition=disposition, disposition_note=note))
        if disposition is not None and item.quantity > 0:
            effects.append(LineStockEffect(sku=line.sku, quantity=item.quantity, disposition=disposition, note=note, line_id=line.id))
    return replace(ret, lines=tuple(lines)), effects


