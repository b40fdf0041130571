"""receivePurchaseOrder: what arrived per line, in one transaction with the stock it becomes.

The PO (version-guarded), on hand (good units, through the inventory path `receiveStock` uses,
movement cause PO_RECEIPT naming the PO), incoming (down by what the PO no longer expects, never by
more: an accepted over-receipt is extra stock, not negative incoming), the backorders the stock
fills (oldest first) and the PO's event commit together or not at all.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

from app.domain.clock import utcnow
from app.domain.errors import NotFound
from app.domain.principals import Principal, actor_of
from app.domain.purchase_orders import LineReceipt, PurchaseOrder, line_payload, purchase_order_event, receive
from app.repositories.database import Mongo, Session
from app.repositories.locations import LocationRepository
from app.repositories.purchase_orders import PurchaseOrderRepository
from app.repositories.replenishment import ReplenishmentPolicyRepository
from app.services.contention import KeyedLocks
from app.services.inventory_changes import InventoryChangeService, PurchaseOrderUnits
from app.services.purchase_orders import PurchaseOrderService


@dataclass(frozen=True, slots=True)
class PurchaseOrderReceipt:
    purchase_order: PurchaseOrder
    filled_order_ids: tuple[str, ...]


class PurchaseOrderReceiving:
    def __init__(
        self,
        *,
        mongo: Mongo,
        purchase_orders: PurchaseOrderRepository,
        service: PurchaseOrderService,
        policies: ReplenishmentPolicyRepository,
        locations: LocationRepository,
        inventory_changes: InventoryChangeService,
        queue: KeyedLocks,
    ):
        self._mongo = mongo
        self._pos = purchase_orders
        self._service = service
        self._policies = policies
        self._locations = locations
        self._inventory_changes = inventory_changes
        self._queue = queue

    async def receive(self, principal: Principal, po_id: str, receipts: list[LineReceipt]) -> PurchaseOrderReceipt:
        """Staff at the PO's receiving location, and admins."""
        found = await self._pos.get(po_id)
        if found is None:
            raise NotFound(f"no purchase order {po_id}", field=("purchaseOrderId",))
        principal.require_location(found.location_id)
        policy = await self._policies.get(found.location_id)
        location = (await self._locations.by_ids([found.location_id]))[0]
        actor = actor_of(principal)

        async def work(session: Session) -> PurchaseOrderReceipt:
            at = utcnow()
            po = await self._pos.get(po_id, session=session)
            assert po is not None
            after = receive(po, receipts, at, allow_over_receipt=policy.allow_over_receipt)
            by_id = {line.id: line for line in po.lines}
            units: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0])
            for receipt in receipts:
                line = by_id[receipt.line_id]
                per_sku = units[line.sku]
                per_sku[0] += receipt.received
                per_sku[1] += receipt.damaged
                per_sku[2] -= min(line.open_quantity, receipt.received + receipt.damaged)
            details = {"purchaseOrderId": po.id, "purchaseOrderNumber": po.number}
            change = await self._inventory_changes.record_po_receipt(
                session,
                location,
                [PurchaseOrderUnits(sku=sku, good=g, damaged=d, incoming_delta=i) for sku, (g, d, i) in sorted(units.items())],
                actor=actor,
                at=at,
                details=details,
            )
            payload = {
                "received": [{"lineId": r.line_id, "received": r.received, "damaged": r.damaged} for r in receipts],
                "lines": [line_payload(line) for line in after.lines],
                "filledOrderIds": list(change.filled_order_ids),
            }
            event = purchase_order_event(after, "PurchaseOrderReceived", actor, at, payload)
            stored = await self._service.store(session, po, after, [event])
            return PurchaseOrderReceipt(purchase_order=stored, filled_order_ids=change.filled_order_ids)

        async with self._queue.hold(sorted({line.sku for line in found.lines})):
            return await self._mongo.transaction(work)
