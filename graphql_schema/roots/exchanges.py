"""Root fields: exchanges (requestExchange)."""

from __future__ import annotations

import strawberry

from graphql_schema.permissions import IsAuthenticated
from graphql_schema.types.exchanges import RequestExchangeResult
from resolvers import exchanges


@strawberry.type
class ExchangeMutations:
    request_exchange: RequestExchangeResult = strawberry.mutation(
        resolver=exchanges.request_exchange,
        permission_classes=[IsAuthenticated],
        description=(
            "Ask for replacement goods for a return: captured as a new order of the same customer and channel (routed "
            "by the DOM), linked both ways, reserved now or when the return arrives per the channel's policy; the price "
            "difference is charged or refunded with the return. Admins, CSRs, the order's customer and channel, store "
            "staff at the return's store."
        ),
    )
