"""Plain HTTP endpoints beside GraphQL: signed document downloads, carrier tracking webhooks, and
bulk import uploads."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from app.access_log import access_var, note_error_code
from app.domain.errors import DomainError, ErrorCode, Forbidden, InvalidInput, ServiceUnavailable, Unauthenticated
from app.domain.imports import FORMAT_BY_MEDIA_TYPE, ImportSummary, RowIssue
from app.domain.principals import Role
from app.domain.signatures import SignatureError
from app.http_guard import BodyTooLarge
from app.services.container import Services, database_unavailable
from app.services.documents import DocumentKind
from app.services.imports import ImportStopped
from graphql_schema.view import credential_from_headers

log = logging.getLogger("oms.http")
T = TypeVar("T")

MAX_WEBHOOK_BYTES = 1_000_000
IMPORTS_PATH = "/imports/"
# An import answers the first rejected rows; the full report is `oms import --rejects FILE`.
IMPORT_REJECTIONS_SHOWN = 100
# Each batch of an import (one transaction, with its retries) must end within this; an import as a
# whole runs as long as its body keeps coming.
IMPORT_BATCH_SECONDS = 60.0
SIGNATURE_HEADER = "x-oms-signature"
WEBHOOK_SIGNATURE_REFUSED = "The webhook signature could not be verified."
_STATUS = {
    ErrorCode.UNAUTHENTICATED: 401,
    ErrorCode.INVALID_CREDENTIAL: 401,
    ErrorCode.CREDENTIAL_EXPIRED: 401,
    ErrorCode.FORBIDDEN: 403,
    ErrorCode.NOT_FOUND: 404,
    ErrorCode.INVALID_INPUT: 400,
    ErrorCode.SERVICE_UNAVAILABLE: 503,
}


def _error(exc: DomainError, **extra: object) -> JSONResponse:
    body: dict[str, object] = {"code": exc.code.value, "message": exc.message}
    if exc.field:
        body["field"] = list(exc.field)
    if isinstance(exc, InvalidInput):
        body["issues"] = [{"code": i.code.value, "message": i.message, "field": list(i.field)} for i in exc.issues]
    note_error_code(exc.code.value)
    headers = {"retry-after": str(exc.retry_after_seconds)} if isinstance(exc, ServiceUnavailable) else None
    return JSONResponse({**body, **extra}, status_code=_STATUS.get(exc.code, 409), headers=headers)


async def _unless_unavailable(work: Awaitable[T]) -> T:
    """The database not answering, as the domain's ServiceUnavailable (503 + Retry-After)."""
    try:
        return await work
    except DomainError:
        raise
    except Exception as exc:
        unavailable = database_unavailable(exc)
        if unavailable is None:
            raise
        raise unavailable from exc


def _import_answer(summary: ImportSummary, shown: list[RowIssue]) -> dict[str, object]:
    return {
        "kind": summary.kind.value,
        "format": summary.format.value,
        "rowsRead": summary.rows_read,
        "written": summary.written,
        "unchanged": summary.unchanged,
        "rejected": summary.rejected,
        "backordersFilled": summary.backorders_filled,
        "bytesRead": summary.bytes_read,
        "seconds": round(summary.seconds, 3),
        "rowsPerSecond": round(summary.rows_per_second, 1),
        "complete": summary.stopped is None,
        "rejections": [
            {"line": issue.line, "field": issue.field or None, "code": issue.code.value, "reason": issue.reason}
            for issue in shown
        ],
        "moreRejections": summary.issues - len(shown),
    }


def _pdf(filename: str, content: bytes) -> Response:
    return Response(
        content,
        media_type="application/pdf",
        headers={"Content-Disposition": f'inline; filename="{filename}"', "Cache-Control": "private, no-store"},
    )


def routes(services: Callable[[], Services], *, db_timeout_seconds: float = 5.0) -> list[Route]:
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

    def signed_pdf(fetch: Callable[[Services], Callable[[str, str], Awaitable[Any]]], param: str) -> Callable[[Request], Awaitable[Response]]:
        """A document found by one path parameter and opened by its signed `token`."""

        async def handler(request: Request) -> Response:
            try:
                document = await fetch(services())(request.path_params[param], request.query_params.get("token", ""))
            except DomainError as exc:
                return _error(exc)
            return _pdf(document.filename, document.content)

        return handler

    pick_list_document = signed_pdf(lambda s: s.documents.pick_list_document, "location_id")
    return_label_document = signed_pdf(lambda s: s.documents.return_label_document, "return_id")
    purchase_order_document = signed_pdf(lambda s: s.documents.purchase_order_document, "po_id")

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

    async def bulk_import(request: Request) -> Response:
        """The body (CSV or JSON Lines, by Content-Type) streamed into the importer; ADMIN only,
        decided before a byte of the body is read."""
        try:
            with services().database_deadline(db_timeout_seconds):
                principal = await _unless_unavailable(services().auth.authenticate(credential_from_headers(request.headers)))
            if principal is None:
                raise Unauthenticated("Authentication required: send an API key or a bearer token.")
            access = access_var.get()
            if access is not None:
                access.principal = principal.subject
            if principal.role is not Role.ADMIN:
                raise Forbidden("Bulk imports are for ADMIN callers.")
            importer = services().imports.importer(request.path_params["kind"])
        except DomainError as exc:
            return _error(exc)
        media_type = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
        fmt = FORMAT_BY_MEDIA_TYPE.get(media_type)
        if fmt is None:
            note_error_code("UNSUPPORTED_MEDIA_TYPE")
            return JSONResponse(
                {"code": "UNSUPPORTED_MEDIA_TYPE", "message": f"Send {' or '.join(FORMAT_BY_MEDIA_TYPE)}."},
                status_code=415,
            )
        shown: list[RowIssue] = []

        def keep(issue: RowIssue) -> None:
            if len(shown) < IMPORT_REJECTIONS_SHOWN:
                shown.append(issue)

        try:
            summary = await services().imports.run(
                principal,
                importer.kind.value,
                request.stream(),
                fmt,
                source=f"upload by {principal.subject}",
                on_rejected=keep,
                batch_deadline_seconds=max(IMPORT_BATCH_SECONDS, db_timeout_seconds),
            )
        except DomainError as exc:
            return _error(exc)
        except ImportStopped as stopped:
            answer = _import_answer(stopped.summary, shown)
            if isinstance(stopped.cause, BodyTooLarge):
                note_error_code("PAYLOAD_TOO_LARGE")
                return JSONResponse({"code": "PAYLOAD_TOO_LARGE", "message": str(stopped.cause), **answer}, status_code=413)
            if isinstance(stopped.cause, ClientDisconnect):
                return JSONResponse({"code": "REQUEST_TIMEOUT", "message": "The upload ended early.", **answer}, status_code=408)
            unavailable = database_unavailable(stopped.cause)
            if unavailable is None:
                raise
            return _error(unavailable, **answer)
        return JSONResponse(_import_answer(summary, shown))

    return [
        Route("/documents/shipments/{shipment_id}/{kind}.pdf", shipment_document, methods=["GET"]),
        Route("/documents/pick-lists/{location_id}.pdf", pick_list_document, methods=["GET"]),
        Route("/documents/returns/{return_id}/label.pdf", return_label_document, methods=["GET"]),
        Route("/documents/purchase-orders/{po_id}.pdf", purchase_order_document, methods=["GET"]),
        Route("/webhooks/carriers/{carrier}", carrier_webhook, methods=["POST"]),
        Route(IMPORTS_PATH + "{kind}", bulk_import, methods=["POST"]),
    ]
