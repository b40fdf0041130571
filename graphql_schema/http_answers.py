"""GraphQL over HTTP (https://graphql.github.io/graphql-over-http/): which media type an answer
uses, which status a failed request gets, and how a malformed request is answered.

- A request that is not a well-formed GraphQL request (empty body, invalid JSON, not an object,
  `query` not a string, a batch, a subscription over HTTP) answers 400; a mutation over GET, or a
  method other than GET/POST, 405 with `Allow`. The body is always a JSON GraphQL error with
  `extensions.code` (the codes: docs/SECURITY.md, "Errors a client can act on").
- `Accept: application/graphql-response+json` gets that media type: a result without data because
  the request failed before execution (syntax, validation, variables, operation not found, a
  refusal) has no `data` key and a 4xx status (401 for authentication, 403, 429, else 400); an
  executed operation answers 200 with `data`, field errors or not.
- Otherwise (`application/json`, or no Accept header): 200 with `data` for every GraphQL result.
"""

from __future__ import annotations

import functools

from cross_web import HTTPException
from graphql import GraphQLError
from strawberry.types import ExecutionResult

from app.domain.errors import AUTHENTICATION_CODES, ErrorCode

JSON = "application/json"
GRAPHQL_RESPONSE_JSON = "application/graphql-response+json"
CONTENT_TYPE = {JSON: "application/json", GRAPHQL_RESPONSE_JSON: "application/graphql-response+json; charset=utf-8"}

_REQUEST_ERROR_STATUS = {
    **{code.value: 401 for code in AUTHENTICATION_CODES},
    ErrorCode.FORBIDDEN.value: 403,
    "RATE_LIMITED": 429,
    "INTERNAL": 500,
}
_CODE_BY_STATUS = {400: "BAD_REQUEST", 404: "NOT_FOUND", 405: "METHOD_NOT_ALLOWED"}


class RequestError(HTTPException):
    """Not a well-formed GraphQL-over-HTTP request, or not one this method may make: a 4xx with a
    JSON GraphQL error carrying `code`, whatever the Accept header."""

    def __init__(self, status_code: int, code: str, message: str, *, allow: str | None = None):
        super().__init__(status_code, message)
        self.code = code
        self.allow = allow


def request_error_code(exc: HTTPException) -> str:
    """Ours carry their code; Strawberry's own (GET parameters that do not parse, a GraphiQL page
    that is off) get one by their status."""
    return exc.code if isinstance(exc, RequestError) else _CODE_BY_STATUS.get(exc.status_code, "BAD_REQUEST")


def request_error_status(code: object) -> int:
    """The status of a GraphQL request error answered as application/graphql-response+json."""
    return _REQUEST_ERROR_STATUS.get(code, 400) if isinstance(code, str) else 400


def error_body(code: str, message: str) -> dict[str, object]:
    return {"errors": [{"message": message, "extensions": {"code": code}}]}


def code_of(error: GraphQLError) -> str | None:
    code = (error.extensions or {}).get("code")
    return code if isinstance(code, str) else None


def failed_before_execution(result: ExecutionResult) -> bool:
    """No data, and no error tied to a field: parsing, validation, variables, the operation's
    selection or a refusal stopped it (a GraphQL request error, not a field error)."""
    return result.data is None and bool(result.errors) and all(error.path is None for error in result.errors or ())


@functools.lru_cache(maxsize=64)
def response_media_type(accept: str | None) -> str:
    """The media type the client prefers among those served, by q-value then order (RFC 9110).
    No Accept header, or none that is served: application/json (the spec allows that or a 406;
    stock clients that send odd Accept headers keep working)."""
    if not accept or "graphql-response" not in accept:
        return JSON
    best, best_q = JSON, 0.0
    for item in accept.split(","):
        media, _, params = item.partition(";")
        media = media.strip().lower()
        if media not in (GRAPHQL_RESPONSE_JSON, JSON, "application/*", "*/*"):
            continue
        q = 1.0
        for param in params.split(";"):
            name, _, value = param.partition("=")
            if name.strip().lower() == "q":
                try:
                    q = float(value)
                except ValueError:
                    q = 0.0
        if q > best_q:
            best, best_q = (GRAPHQL_RESPONSE_JSON if media == GRAPHQL_RESPONSE_JSON else JSON), q
    return best
