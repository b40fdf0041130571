"""Documents served over HTTP at signed, expiring URLs.

A URL carries a token that names the document and the principal it was issued to. Opening it checks
the signature and expiry, then checks that principal's scope again against the current data, exactly
as GraphQL would: a URL cannot show what its holder's credential could not.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from enum import StrEnum
from urllib.parse import quote

from app.domain.errors import NotFound
from app.domain.principals import Principal, Role
from app.domain.signed_tokens import BadToken, make_token, read_token
from app.repositories.locations import LocationRepository
from app.domain.locations import Address
from app.domain.orders import Order
from app.repositories.orders import OrderRepository
from app.repositories.purchase_orders import PurchaseOrderRepository
from app.repositories.suppliers import SupplierRepository
from app.repositories.returns import ReturnRepository
from app.repositories.shipments import ShipmentRepository
from app.services import pdf_documents
from app.services.picking import PickingService
from app.services.return_queries import can_see_return
from app.services.shipments import can_see_shipment

DEFAULT_TTL_SECONDS = 15 * 60


class DocumentKind(StrEnum):
    PACKING_SLIP = "packing-slip"
    LABEL = "label"
    PICK_LIST = "pick-list"
    RETURN_LABEL = "return-label"
    PURCHASE_ORDER = "purchase-order"


@dataclass(frozen=True, slots=True)
class Document:
    filename: str
    content: bytes
    media_type: str = "application/pdf"


def _principal_claims(principal: Principal) -> dict[str, object]:
    return {
        "sub": principal.subject,
        "role": principal.role.value,
        "loc": sorted(principal.location_ids),
        "cus": principal.customer_id,
        "chn": principal.channel_id,
    }


def _principal_from(claims: dict[str, object]) -> Principal:
    raw = claims.get("p")
    if not isinstance(raw, dict):
        raise BadToken("token has no principal")
    return Principal(
        subject=str(raw["sub"]),
        role=Role(str(raw["role"])),
        location_ids=frozenset(str(x) for x in raw.get("loc") or []),
        customer_id=raw.get("cus") if isinstance(raw.get("cus"), str) else None,
        channel_id=raw.get("chn") if isinstance(raw.get("chn"), str) else None,
    )


class DocumentService:
    def __init__(
        self,
        *,
        signing_key: str,
        shipments: ShipmentRepository,
        orders: OrderRepository,
        locations: LocationRepository,
        picking: PickingService,
        returns: ReturnRepository | None = None,
        purchase_orders: PurchaseOrderRepository | None = None,
        suppliers: SupplierRepository | None = None,
        ttl_seconds: int = DEFAULT_TTL_SECONDS,
    ):
        self._returns = returns
        self._purchase_orders = purchase_orders
        self._suppliers = suppliers
        self._key = signing_key
        self._shipments = shipments
        self._orders = orders
        self._locations = locations
        self._picking = picking
        self._ttl = ttl_seconds

    def _token(self, principal: Principal, kind: DocumentKind, subject: str, **extra: object) -> str:
        claims = {"k": kind.value, "id": subject, "exp": int(time.time()) + self._ttl, "p": _principal_claims(principal), **extra}
        return make_token(self._key, claims)

    def shipment_url(self, principal: Principal, shipment_id: str, kind: DocumentKind) -> str:
        token = self._token(principal, kind, shipment_id)
        return f"/documents/shipments/{quote(shipment_id)}/{kind.value}.pdf?token={token}"

    def pick_list_url(self, principal: Principal, location_id: str, shipment_ids: list[str]) -> str:
        token = self._token(principal, DocumentKind.PICK_LIST, location_id, ids=shipment_ids)
        return f"/documents/pick-lists/{quote(location_id)}.pdf?token={token}"

    def return_label_url(self, principal: Principal, return_id: str) -> str:
        token = self._token(principal, DocumentKind.RETURN_LABEL, return_id)
        return f"/documents/returns/{quote(return_id)}/label.pdf?token={token}"

    def purchase_order_url(self, principal: Principal, po_id: str) -> str:
        token = self._token(principal, DocumentKind.PURCHASE_ORDER, po_id)
        return f"/documents/purchase-orders/{quote(po_id)}.pdf?token={token}"

    async def purchase_order_document(self, po_id: str, token: str) -> Document:
        """Admins, and staff of the receiving location (checked again now, as GraphQL would)."""
        principal, _ = self._verify(token, DocumentKind.PURCHASE_ORDER, po_id)
        po = await self._purchase_orders.get(po_id) if self._purchase_orders is not None else None
        if po is None or not (principal.role is Role.ADMIN or principal.can_work_location(po.location_id)):
            raise NotFound("no such document")
        suppliers = await self._suppliers.by_codes([po.supplier_code]) if self._suppliers is not None else []
        receiving = await self._locations.by_ids([po.location_id])
        if not suppliers or not receiving:
            raise NotFound("no such document")
        return Document(f"{po.number}.pdf", pdf_documents.purchase_order_pdf(po, suppliers[0], receiving[0]))

    def _verify(self, token: str, kind: DocumentKind, subject: str) -> tuple[Principal, dict[str, object]]:
        claims = read_token(self._key, token, now=time.time())
        if claims.get("k") != kind.value or claims.get("id") != subject:
            raise BadToken("token is for another document")
        return _principal_from(claims), claims

    async def shipment_document(self, shipment_id: str, kind: DocumentKind, token: str) -> Document:
        principal, _ = self._verify(token, kind, shipment_id)
        shipment = await self._shipments.get(shipment_id)
        if shipment is None or not can_see_shipment(principal, shipment):
            raise NotFound("no such document")
        orders = await self._orders.by_ids([shipment.order_id])
        origins = await self._locations.by_ids([shipment.location_id])
        if not orders or not origins:
            raise NotFound("no such document")
        if kind is DocumentKind.PACKING_SLIP:
            return Document(f"packing-slip-{shipment.number}.pdf", pdf_documents.packing_slip_pdf(shipment, orders[0], origins[0]))
        if shipment.label is None:
            raise NotFound(f"shipment {shipment.number} has no label yet")
        content = pdf_documents.label_pdf(shipment, origins[0], shipment.label.service_name or shipment.label.service)
        return Document(f"label-{shipment.label.tracking_number}.pdf", content)

    async def pick_list_document(self, location_id: str, token: str) -> Document:
        principal, claims = self._verify(token, DocumentKind.PICK_LIST, location_id)
        ids = claims.get("ids")
        shipment_ids = [str(x) for x in ids] if isinstance(ids, list) else None
        pick_list = await self._picking.pick_list(principal, location_id, shipment_ids=shipment_ids)
        return Document(f"pick-list-{location_id}.pdf", pdf_documents.pick_list_pdf(pick_list))

    async def return_label_document(self, return_id: str, token: str) -> Document:
        principal, _ = self._verify(token, DocumentKind.RETURN_LABEL, return_id)
        ret = await self._returns.get(return_id) if self._returns is not None else None
        if ret is None or not can_see_return(principal, ret) or ret.label is None or ret.location_id is None:
            raise NotFound("no such document")
        orders = await self._orders.by_ids([ret.order_id])
        destinations = await self._locations.by_ids([ret.location_id])
        if not orders or not destinations:
            raise NotFound("no such document")
        sender = await self._sender(orders[0])
        content = pdf_documents.return_label_pdf(ret, sender, destinations[0])
        return Document(f"return-label-{ret.label.tracking_number}.pdf", content)

    async def _sender(self, order: Order) -> Address:
        """The shopper's address the label was priced from (a pick-up order's: its store's)."""
        if order.delivery.address is not None:
            return order.delivery.address
        found = await self._locations.by_ids([order.delivery.pickup_location_id or ""])
        if not found:
            raise NotFound("no such document")
        return found[0].address
