"""CSR edits of an order that has not started fulfilment: address, quantities, lines."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from app.domain.errors import ErrorCode, Validator
from app.domain.geo import GeoPoint
from app.domain.geocoding import Geocoded, PointSource, unlocated
from app.domain.locations import Address
from app.domain.money import Money
from app.domain.addresses import check_address
from app.domain.order_capture import MAX_LINES, MAX_QUANTITY, MAX_UNIT_PRICE_CENTS, LineRequest
from app.domain.orders import (
    EDITABLE_STATUSES,
    Allocation,
    AllocationStatus,
    DeliveryMethod,
    IllegalTransition,
    Order,
    OrderLine,
    OrderTotals,
)
from app.domain.products import Product


@dataclass(frozen=True, slots=True)
class LineQuantity:
    line_id: str
    quantity: int  # the new ordered quantity


@dataclass(frozen=True, slots=True)
class OrderEdit:
    reason: str
    address: Address | None = None
    point: GeoPoint | None = None
    quantities: tuple[LineQuantity, ...] = ()
    add_lines: tuple[LineRequest, ...] = ()
    cancel_line_ids: tuple[str, ...] = ()
    remove_line_ids: tuple[str, ...] = ()

    @property
    def changes_address(self) -> bool:
        return self.address is not None or self.point is not None

    @property
    def needs_geocoding(self) -> bool:
        """A new address that came without coordinates: the service finds a point for it."""
        return self.address is not None and self.point is None

    @property
    def changes_lines(self) -> bool:
        return bool(self.quantities or self.add_lines or self.cancel_line_ids or self.remove_line_ids)


def check_editable(order: Order) -> None:
    if order.status not in EDITABLE_STATUSES:
        raise IllegalTransition(f"an order that is {order.status} can no longer be edited", field=("orderId",))


def validate_edit(order: Order, edit: OrderEdit, products: dict[str, Product], located: Geocoded | None = None) -> Validator:
    """Every problem with the edit against this order; the caller raises them all at once.
    `located`: where geocoding put a new address that came without coordinates."""
    check = Validator()
    check.check(edit.changes_address or edit.changes_lines, "nothing to change", "orderId")
    if edit.changes_address:
        if check.check(order.delivery.method is DeliveryMethod.SHIP, "only shipped orders have an address to change", "shippingAddress"):
            if check.check(edit.address is not None, "give the new address (with its coordinates if known)", "shippingAddress"):
                assert edit.address is not None
                start = len(check.issues)
                check_address(check, edit.address, "shippingAddress")
                if edit.point is not None:
                    check.check(edit.point.is_valid(), "lat must be within ±90 and lng within ±180", "point")
                elif located is None and len(check.issues) == start:
                    a = edit.address
                    name, message = unlocated(a.country, a.city, a.postal_code, a.region)
                    check.add(message, "shippingAddress", name)
    lines = {line.id: line for line in order.lines}
    touched: set[str] = set()
    for name, ids in (("cancelLines", edit.cancel_line_ids), ("removeLines", edit.remove_line_ids)):
        for index, line_id in enumerate(ids):
            _check_line_id(check, lines, touched, line_id, name, index)
    for index, change in enumerate(edit.quantities):
        if _check_line_id(check, lines, touched, change.line_id, "lines", index, "lineId"):
            fulfilled = _fulfilled(order, change.line_id)
            check.check(
                max(1, fulfilled) <= change.quantity <= MAX_QUANTITY,
                f"quantity must be between {max(1, fulfilled)} and {MAX_QUANTITY}",
                "lines",
                index,
                "quantity",
            )
    for line_id in edit.remove_line_ids:
        if line_id in lines and _fulfilled(order, line_id):
            check.add(f"line {line_id} is partly fulfilled; cancel it instead", "removeLines")
    open_skus = {line.sku for line in order.lines if line.open_quantity > 0 and line.id not in edit.cancel_line_ids + edit.remove_line_ids}
    for index, add in enumerate(edit.add_lines):
        sku = add.sku.strip()
        if sku not in products or not products[sku].active:
            check.add(f"unknown SKU {sku!r}", "addLines", index, "sku", code=ErrorCode.UNKNOWN_SKU)
        elif sku in open_skus:
            check.add(f"SKU {sku} is already on the order; change that line's quantity", "addLines", index, "sku")
        open_skus.add(sku)
        check.check(0 < add.quantity <= MAX_QUANTITY, f"quantity must be between 1 and {MAX_QUANTITY}", "addLines", index, "quantity")
        if add.unit_price_cents is not None:
            check.check(0 <= add.unit_price_cents <= MAX_UNIT_PRICE_CENTS, "unit price out of range", "addLines", index, "unitPriceCents")
    kept = len(order.lines) - len(set(edit.remove_line_ids) & set(lines))
    check.check(kept + len(edit.add_lines) <= MAX_LINES, f"an order has at most {MAX_LINES} lines", "addLines")
    return check


def edited_ship_point(edit: OrderEdit, located: Geocoded | None) -> Geocoded | None:
    """Where the edited order goes: the point sent with the new address (GIVEN), else the geocoded one."""
    return Geocoded(edit.point, PointSource.GIVEN) if edit.point is not None else located


def _check_line_id(check: Validator, lines: dict[str, OrderLine], touched: set[str], line_id: str, *path: str | int) -> bool:
    if not check.check(line_id in lines, f"no line {line_id!r} on this order", *path):
        return False
    if not check.check(line_id not in touched, f"line {line_id} is changed twice in one edit", *path):
        return False
    touched.add(line_id)
    return True


def _fulfilled(order: Order, line_id: str) -> int:
    return sum(a.quantity for a in order.allocations if a.line_id == line_id and a.status is AllocationStatus.FULFILLED)


def edited_lines(order: Order, edit: OrderEdit, products: dict[str, Product]) -> tuple[OrderLine, ...]:
    """The order's lines after the edit; new lines get the next free ids."""
    quantities = {q.line_id: q.quantity for q in edit.quantities}
    currency = order.totals.subtotal.currency
    lines: list[OrderLine] = []
    for line in order.lines:
        if line.id in edit.remove_line_ids:
            continue
        if line.id in edit.cancel_line_ids:
            line = replace(line, cancelled_quantity=line.quantity - _fulfilled(order, line.id))
        elif line.id in quantities:
            line = replace(line, quantity=quantities[line.id], cancelled_quantity=0)
        lines.append(line)
    next_id = max((int(line.id) for line in order.lines if line.id.isdigit()), default=0) + 1
    for offset, add in enumerate(edit.add_lines):
        product = products[add.sku.strip()]
        price = product.price.cents if add.unit_price_cents is None else add.unit_price_cents
        lines.append(OrderLine(id=str(next_id + offset), sku=product.sku, name=product.name, quantity=add.quantity, unit_price=Money(price, currency)))
    return tuple(lines)


def fit_allocations(allocations: tuple[Allocation, ...], lines: tuple[OrderLine, ...]) -> tuple[Allocation, ...]:
    """Gives back OPEN allocations beyond each line's open quantity, newest first.

    A partly kept allocation shrinks; one not needed at all becomes RELEASED.
    """
    open_quantity = {line.id: line.open_quantity for line in lines}
    result = list(allocations)
    for line_id in {a.line_id for a in allocations}:
        held = sum(a.quantity for a in allocations if a.line_id == line_id and a.status is not AllocationStatus.RELEASED)
        excess = held - open_quantity.get(line_id, 0)
        for index in reversed(range(len(result))):
            a = result[index]
            if excess <= 0:
                break
            if a.line_id != line_id or a.status is not AllocationStatus.OPEN:
                continue
            if a.quantity <= excess:
                result[index] = replace(a, status=AllocationStatus.RELEASED)
                excess -= a.quantity
            else:
                result[index] = replace(a, quantity=a.quantity - excess)
                excess = 0
    return tuple(result)


def retotal(order: Order, lines: tuple[OrderLine, ...]) -> OrderTotals:
    subtotal = Money.zero(order.totals.subtotal.currency)
    for line in lines:
        subtotal = subtotal + line.total
    return replace(order.totals, subtotal=subtotal)


def edit_summary(before: Order, after: Order, edit: OrderEdit) -> dict[str, Any]:
    """What changed, for the OrderEdited event: the audit trail a CSR's manager reads."""
    old = {line.id: line for line in before.lines}
    new = {line.id: line for line in after.lines}
    summary: dict[str, Any] = {
        "lines": [
            {"lineId": line_id, "sku": (new.get(line_id) or old[line_id]).sku,
             "from": old[line_id].open_quantity if line_id in old else 0,
             "to": new[line_id].open_quantity if line_id in new else 0}
            for line_id in sorted(set(old) | set(new), key=lambda i: (len(i), i))
            if (old[line_id].open_quantity if line_id in old else 0) != (new[line_id].open_quantity if line_id in new else 0)
        ],
        "removedLines": sorted(set(edit.remove_line_ids)),
        "totalCents": {"from": before.totals.total.cents, "to": after.totals.total.cents},
    }
    if edit.changes_address and edit.address is not None:
        summary["address"] = {"from": before.delivery.address and before.delivery.address.city, "to": edit.address.city}
        if after.delivery.point_source is not None:
            summary["address"]["pointSource"] = after.delivery.point_source.value
        summary["rerouted"] = before.location_ids != after.location_ids
    return summary
