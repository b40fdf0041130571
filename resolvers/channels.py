"""Root resolver for changing sales channels."""

from __future__ import annotations

from app.domain.errors import DomainError
from graphql_schema.context import Info
from graphql_schema.errors import error_from_domain
from graphql_schema.types.catalog import Channel
from graphql_schema.types.channels import UpsertChannelInput, UpsertChannelPayload, UpsertChannelResult


async def upsert_channel(info: Info, input: UpsertChannelInput) -> UpsertChannelResult:  # noqa: A002
    try:
        outcome = await info.context.services.channels.upsert(info.context.actor, input.to_domain(), reason=input.reason)
    except DomainError as exc:
        return error_from_domain(exc)
    return UpsertChannelPayload(channel=Channel.from_domain(outcome.channel), created=outcome.created, changed=outcome.changed)
