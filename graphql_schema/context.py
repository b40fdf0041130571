"""The per-request context: who is asking, the services, and fresh DataLoaders."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import strawberry

from app.domain.errors import Unauthenticated
from app.domain.principals import NOBODY, Principal
from app.services.rate_limits import ClientBudgets
from app.settings import ApiLimits
from app.services.container import Services
from graphql_schema.dataloaders import Loaders

if TYPE_CHECKING:
    from subscriptions.backlog import SendBacklog
    from subscriptions.realtime import Realtime


@dataclass
class Context:
    services: Services
    principal: Principal | None
    loaders: Loaders
    request_id: str
    # The process's live-event machinery; None where the app runs without it.
    realtime: Realtime | None = None
    # The WebSocket's connection_init payload (Strawberry sets it).
    connection_params: dict[str, Any] | None = None
    # Over WebSocket: what the connection has not sent yet (subscriptions stop at a byte limit).
    send_backlog: SendBacklog | None = None
    # Filled by the cost limiter and reported in `extensions`.
    cost: int = 0
    extras: dict[str, object] = field(default_factory=dict)
    # Security (graphql_schema/limits.py): this deployment's limits, the process's budgets, the
    # caller's budget key, and the HTTP response being built (None on WebSocket).
    limits: ApiLimits = field(default_factory=ApiLimits)
    budget: ClientBudgets | None = None
    client: str = "unknown"
    response: Any = None
    # Set when a credential came and was refused: the guard answers with its code (an invalid or
    # expired credential) rather than "authentication required", and never falls back to anonymous.
    credential_error: Unauthenticated | None = None
    # The OpenTelemetry tracer when tracing is on (app/tracing.py), else None: root fields get spans.
    tracer: Any = None

    @property
    def actor(self) -> Principal:
        """The principal, for resolvers behind IsAuthenticated (which guarantees it is set)."""
        assert self.principal is not None, "resolver reached without authentication"
        return self.principal


def build_context(
    services: Services, principal: Principal | None, request_id: str, *, realtime: Realtime | None = None
) -> Context:
    return Context(
        services=services,
        principal=principal,
        loaders=Loaders(services, principal or NOBODY),
        request_id=request_id,
        realtime=realtime,
    )


Info = strawberry.Info[Context, None]
