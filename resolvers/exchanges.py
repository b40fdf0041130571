"""Root resolvers for exchanges: requestExchange."""

from __future__ import annotations

from app.domain.errors import DomainError
from graphql_schema.context import Info
from graphql_schema.errors import error_from_domain
from graphql_schema.types.exchanges import Exchange, RequestExchangeInput, RequestExchangePayload, RequestExchangeResult


async def request_exchange(info: Info, input: RequestExchangeInput) -> RequestExchangeResult:  # noqa: A002
    try:
        exchange = await info.context.services.exchanges.request(info.context.actor, input.to_domain())
    except DomainError as exc:
        return error_from_domain(exc)
    return RequestExchangePayload(exchange=Exchange.from_domain(exchange))
