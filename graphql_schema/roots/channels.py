"""Root fields: changing sales channels (`channels` itself is read with the other reference data)."""

from __future__ import annotations

import strawberry

from graphql_schema.permissions import IsAuthenticated
from graphql_schema.types.channels import UpsertChannelResult
from resolvers import channels as resolve


@strawberry.type
class ChannelMutations:
    upsert_channel: UpsertChannelResult = strawberry.mutation(
        resolver=resolve.upsert_channel,
        permission_classes=[IsAuthenticated],
        description="Create or replace a sales channel by code (ADMIN only; audited as ChannelCreated / "
        "ChannelUpdated). Re-sending the same input changes nothing.",
    )
