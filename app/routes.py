"""Plain HTTP endpoints beside GraphQL: signed document downloads and carrier tracking webhooks."""

from __future__ import annotations

import logging
from collections.abc import Callable

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from app.domain.errors import DomainError, ErrorCode, InvalidInput
from app.domain.signatures import SignatureError
from app.services.container import Services
from app.services.documents import DocumentKind

log = logging.getLogger("oms.http")

MAX_WEBHOOK_BYTES = 1_000_000
SIGNATURE_HEADER = "x-oms-signature"
WEBHOOK_SIGNATURE_REFUSED = "The webhook signature could not be verified."
_STATUS = {
    ErrorCode.UNAUTHENTICATED: 401,
    ErrorCode.INVALID_CREDENTIAL: 401,
    ErrorCode.CREDENTIAL_EXPIRED: 401,
    ErrorCode.FORBIDDEN: 403,
    ErrorCode.NOT_FOUND: 404,
    ErrorCode.INVALID_INPUT: 400,
}


def _error(exc: DomainError) -> JSONResponse:
    body: dict[str, object] = {"code": exc.code.value, "message": exc.message}
    if exc.field:
        body["field"] = list(exc.field)
    if isinstance(exc, InvalidInput):
        body["issues"] = [{"code": i.code.value, "message": i.message, "field": list(i.field)} for i in exc.issues]
    return JSONResponse(body, status_code=_STATUS.get(exc.code, 409))


def _pdf(filename: str, content: bytes) -> Response:
    return Response(
        content,
        media_type="application/pdf",
        headers={"Content-Disposition": f'inline; filename="{filename}"', "Cache-Control": "private, no-store"},
    )


def routes(services: Callable[[], Services]) -> list[Route]:
    """`services` is read per request: the lifespan creates them after the routes exist."""

    async def shipment_document(request: Request) -> Response:
        kind_name = request.path_params["kind"]
        if kind_name not in (DocumentKind.PACKING_SLIP.value, DocumentKind.LABEL.value):
            return JSONResponse({"code": "NOT_FOUND", "message": "no such document"}, status_code=404)
        try:
            document = await services().documents.shipment_document(
                request.path_params["shipment_id"], DocumentKind(kind_name), request.query_params.get("token", "")
            )
        except DomainError as exc:
            return _error(exc)
        return _pdf(document.filename, document.content)

    async def pick_list_document(request: Request) -> Response:
        try:
            document = await services().documents.pick_list_document(
                request.path_params["location_id"], request.query_params.get("token", "")
            )
        except DomainError as exc:
            return _error(exc)
        return _pdf(document.filename, document.content)

    async def carrier_webhook(request: Request) -> Response:
        body = await request.body()
        if len(body) > MAX_WEBHOOK_BYTES:
            return JSONResponse({"code": "INVALID_INPUT", "message": "body too large"}, status_code=413)
        carrier = request.path_params["carrier"]
        try:
            results = await services().shipping.receive_tracking(carrier, body, request.headers.get(SIGNATURE_HEADER))
        except SignatureError as exc:
            # One answer whatever the reason: telling a forger "stale" or "mismatch" would guide them.
            log.warning("carrier webhook signature refused", extra={"carrier": carrier, "reason": exc.reason})
            return JSONResponse(
                {"code": ErrorCode.UNAUTHENTICATED.value, "message": WEBHOOK_SIGNATURE_REFUSED}, status_code=401
            )
        except DomainError as exc:
            log.info("carrier webhook refused", extra={"carrier": carrier, "code": exc.code.value, "reason": exc.message})
            return _error(exc)
        return JSONResponse(
            {
                "results": [
                    {"eventId": r.event_id, "trackingNumber": r.tracking_number, "outcome": r.outcome, "status": r.status}
                    for r in results
                ]
            }
        )

    return [
        Route("/documents/shipments/{shipment_id}/{kind}.pdf", shipment_document, methods=["GET"]),
        Route("/documents/pick-lists/{location_id}.pdf", pick_list_document, methods=["GET"]),
        Route("/webhooks/carriers/{carrier}", carrier_webhook, methods=["POST"]),
    ]
